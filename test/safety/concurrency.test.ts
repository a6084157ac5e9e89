import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LeaseStore } from '../../functions/adapters/lease-table';
import type { IntakeDeps } from '../../functions/app/deps';
import { checkDrift, DriftCheckError } from '../../functions/app/drift';
import { onTimer, SweepError, sweep } from '../../functions/app/expiry';
import type { HandleResult } from '../../functions/app/handle-request';
import { takeRequest } from '../../functions/app/intake';
import type { HeldLock } from '../../functions/app/ports';
import { isRetryable } from '../../functions/core/errors';
import type { AccessScope, Subject } from '../../functions/core/model';
import { mulberry32 } from '../../infra/local/random';
import { localSenderId } from '../support/callers';
import {
  checkDrained,
  checkForeignUntouched,
  checkNoEarlyLoss,
  type TrackedLease,
  type Violation,
} from '../support/invariants';
import { type SafetyWorld, startSafetyWorld } from '../support/safety-world';
import { type SeededSubjects, seedSafetySubjects } from '../support/subjects';

/**
 * Many invocations at once on the same few subjects: grants, revokes, extensions, expiry timers, sweeps and
 * drift checks started together, each redelivered after a retryable error as SQS would. The subject lock must
 * serialize them: invariants 1-3 are checked after every round ("during") and once everything has drained.
 * CI size: 8 rounds of 30 parallel invocations, with one lease expiring in the middle of each round.
 */
const ROUNDS = Number(process.env.SAFETY_CONCURRENCY_ROUNDS ?? 8);
const PARALLEL = 30;
const SEED = Number(process.env.SAFETY_SEED ?? Date.now() % 2_147_483_647);
const SCOPES: readonly AccessScope[] = [
  { type: 'cluster' },
  { type: 'namespace', namespaces: ['a'] },
  { type: 'namespace', namespaces: ['b'] },
  { type: 'namespace', namespaces: ['a', 'b'] },
  { type: 'namespace', namespaces: ['ops'] },
];

let world: SafetyWorld;

/**
 * The deps with the subject lock watched: every critical section records itself while it runs, and one that
 * starts while another holds the same subject is counted. In-process, so the count is exact.
 */
function watchedLocks(
  deps: IntakeDeps,
  table: LeaseStore,
): { deps: IntakeDeps; sections: () => number; overlaps: string[] } {
  // A lock is held from withLock handing it over until it is let go: by release(), by the save that frees it
  // (saveLease's `unlock`, from the moment that save is sent: it commits before its answer arrives), or when
  // withLock's work ends, whichever comes first.
  const holding = new Map<string, Set<HeldLock>>();
  const letGo = new WeakSet<HeldLock>();
  const overlaps: string[] = [];
  let sections = 0;
  const store = new Proxy<LeaseStore>(table, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property === 'saveLease') {
        return (...args: unknown[]) => {
          const unlock = (args[3] as { unlock?: HeldLock } | undefined)?.unlock;
          if (unlock) letGo.add(unlock);
          return Reflect.apply(value, receiver, args);
        };
      }
      if (property !== 'withLock') return value;
      return (
        subject: Subject,
        owner: string,
        now: () => number,
        fn: (lock: HeldLock) => Promise<unknown>,
        ...rest: unknown[]
      ) =>
        Reflect.apply(value, receiver, [
          subject,
          owner,
          now,
          async (lock: HeldLock) => {
            const key = `${subject.clusterName}|${subject.principalArn}`;
            const held = holding.get(key) ?? new Set<HeldLock>();
            holding.set(key, held);
            for (const other of held) if (!other.held || letGo.has(other)) held.delete(other);
            if (held.size > 0) overlaps.push(`${key}: ${lock.owner} while ${[...held][0]?.owner} held it`);
            held.add(lock);
            sections++;
            try {
              return await fn(lock);
            } finally {
              held.delete(lock);
            }
          },
          ...rest,
        ]);
    },
  });
  return { deps: { ...deps, store, locks: store }, sections: () => sections, overlaps };
}

beforeAll(async () => {
  world = await startSafetyWorld({ lockWaitMs: 2_000 });
});

afterAll(async () => {
  await world?.close();
});

/** SQS: a delivery that failed for a retryable reason comes back (here after a short jittered pause). */
async function untilSettled<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      // A drift run finishes every subject it can, then reports those that failed, each retryable or not.
      const retryable =
        error instanceof DriftCheckError ? error.failures.every(isRetryable) : isRetryable(error);
      if (!retryable || attempt >= 40) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 10 * Math.min(attempt, 10)));
    }
  }
}

function body(detailType: string, detail: Record<string, unknown>): string {
  return JSON.stringify({ source: 'com.example.ticketing', 'detail-type': detailType, detail });
}

class Swarm {
  readonly grants: string[] = [];
  readonly results = new Map<string, number>();
  sweepErrors = 0;
  private readonly random: () => number;

  constructor(
    private readonly seeded: SeededSubjects,
    private readonly id: string,
    seed: number,
    private readonly deps: IntakeDeps,
  ) {
    this.random = mulberry32(seed);
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }

  private async deliver(sqsBody: string): Promise<void> {
    const result: HandleResult = await untilSettled(() =>
      takeRequest(this.deps, { sqsBody, senderId: localSenderId() }),
    );
    const key = result.status === 'rejected' ? `rejected ${result.rejection.code}` : result.status;
    this.results.set(key, (this.results.get(key) ?? 0) + 1);
  }

  /** One invocation, chosen at random; `racing` is a lease expiring right now that some of them aim at. */
  task(racing: string | undefined): Promise<void> {
    const roll = this.random();
    const target = () => (racing && this.random() < 0.5 ? racing : this.pick(this.grants));
    if (roll < 0.4 || this.grants.length === 0) {
      const requestId = `RACE-${this.id}-${this.grants.length}`;
      this.grants.push(requestId);
      return this.deliver(
        body('Access Grant Requested', {
          requestId,
          clusterName: 'demo',
          principalArn: this.pick(this.seeded.principals.slice(0, 4)),
          policyArn: this.pick(['AmazonEKSViewPolicy', 'AmazonEKSEditPolicy']),
          accessScope: this.pick(SCOPES),
          durationSeconds: this.pick([30, 60, 120, 300]),
          requestedBy: 'alice@example.com',
          reason: 'concurrency',
        }),
      );
    }
    if (roll < 0.55) {
      return this.deliver(
        body('Access Revoke Requested', {
          requestId: target(),
          requestedBy: 'bob@example.com',
          reason: 'done',
        }),
      );
    }
    if (roll < 0.75) {
      return this.deliver(
        body('Access Extend Requested', {
          requestId: target(),
          durationSeconds: this.pick([30, 60, 120]),
          requestedBy: 'bob@example.com',
          reason: `more time ${Math.floor(this.random() * 3)}`,
        }),
      );
    }
    if (roll < 0.85) {
      const armed = this.pick(world.armed);
      return armed
        ? untilSettled(() => onTimer(this.deps, armed.timer)).then(() => undefined)
        : Promise.resolve();
    }
    if (roll < 0.95) {
      return sweep(this.deps, { intervalSeconds: 60 }).then(
        () => undefined,
        (error: unknown) => {
          // A scheduled run: what it could not finish is left for the next one.
          if (!(error instanceof SweepError)) throw error;
          this.sweepErrors++;
        },
      );
    }
    return untilSettled(() => checkDrift(this.deps)).then(() => undefined);
  }

  async track(): Promise<TrackedLease[]> {
    const found = await Promise.all(
      this.grants.map(async (requestId) => {
        const lease = await world.deps.store.findLease(requestId);
        return lease ? [{ lease, history: await world.store.history(requestId) }] : [];
      }),
    );
    return found.flat();
  }

  async live(): Promise<TrackedLease['lease'][]> {
    return (
      await Promise.all(
        this.seeded.subjects.map((s) => world.deps.store.readSubject(s).then((read) => read.leases)),
      )
    ).flat();
  }
}

describe('concurrency on the same subjects', () => {
  it('serializes parallel grants, revokes, extensions, timers and sweeps: invariants 1-3 hold during and after', async () => {
    const eks = world.local.edge.eks;
    eks.reset();
    const id = `${process.pid}-c`;
    const seeded = seedSafetySubjects(eks, id);
    const watched = watchedLocks(world.deps, world.store);
    const swarm = new Swarm(seeded, id, SEED, watched.deps);
    const violations: Violation[] = [];
    const during = async () => {
      const tracked = await swarm.track();
      violations.push(
        ...checkNoEarlyLoss(eks.mutations(), tracked),
        ...checkForeignUntouched(
          eks.mutations(),
          seeded.subjects.flatMap((s) => (s.baseline ? [s.baseline] : [])),
          seeded.fromSeq,
        ),
      );
    };

    for (let round = 0; round < ROUNDS; round++) {
      // Put the clock just before the expiry of one active lease, so that the round races it.
      const active = (await swarm.live()).filter((l) => l.status === 'active' && l.endReason === undefined);
      const racing = active[round % Math.max(1, active.length)];
      if (racing && racing.expiresAt * 1000 > world.clock.peek()) {
        world.clock.advanceTo(racing.expiresAt * 1000 - 20);
      }
      await Promise.all(Array.from({ length: PARALLEL }, () => swarm.task(racing?.requestId)));
      await during();
      world.clock.advance(20 + Math.floor(Math.random() * 90));
    }

    // Drain: every lease due is swept (a busy subject is left for the next run, so run until none is due).
    for (let i = 0; i < 20; i++) {
      const now = world.clock.seconds();
      if (!(await swarm.live()).some((l) => l.endReason !== undefined || l.expiresAt <= now)) break;
      await sweep(world.deps, { intervalSeconds: 60 }).catch(() => undefined);
      world.clock.advance(60);
    }
    const drained = await swarm.track();
    violations.push(...checkDrained(eks.snapshot(), seeded.subjects, drained, world.clock.seconds()));
    world.clock.advance(3600);
    for (let i = 0; i < 5 && (await swarm.live()).length > 0; i++) {
      await sweep(world.deps, { intervalSeconds: 60 }).catch(() => undefined);
    }
    violations.push(
      ...checkDrained(eks.snapshot(), seeded.subjects, await swarm.track(), world.clock.seconds()),
    );
    await during();

    const failedAttempts = drained
      .filter(({ lease }) => lease.revokeAttempts !== undefined)
      .map(({ lease }) => `${lease.requestId}: ${lease.lastError}`);
    console.log(
      `revocation attempts that failed (retried): ${JSON.stringify(failedAttempts)}\nconcurrency (seed ${SEED}): ${swarm.grants.length} grants, results ${JSON.stringify(Object.fromEntries(swarm.results))}, ${eks.mutations().length} EKS mutations, sweep runs with errors: ${swarm.sweepErrors}`,
    );
    expect([...new Set(violations.map((v) => `invariant ${v.invariant}: ${v.message}`))]).toEqual([]);
    expect(swarm.results.get('granted') ?? 0).toBeGreaterThan(0);
    // No two invocations ever held one subject's lock at once, over many sections under the lock.
    expect(watched.overlaps).toEqual([]);
    expect(watched.sections()).toBeGreaterThan(PARALLEL);
  }, 300_000);
});

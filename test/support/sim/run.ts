import { createHash } from 'node:crypto';
import type { AccessRules } from '../../../functions/core/rules';
import type { Violation } from '../invariants';
import { DURATIONS, EXTENSIONS, POLICIES, SCOPES } from '../request-shapes';
import { type Chain, Checks, INTRUDER } from './checks';
import type { FaultRates } from './invocation';
import { Rng, seedOf } from './random';
import { SimStats, type StatsData } from './stats';
import { type Intrusion, planRun, type SimOp, SUBJECTS } from './workload';
import { SENDERS, SimWorld, START_MS } from './world';

const SOURCE = 'com.example.ticketing';
const ACCOUNT = '111122223333';
const OTHER_ACCOUNT = '444455556666';
/** How long the drain and the retirement may run before the run is declared stuck (simulated ms). */
const DRAIN_LIMIT_MS = 6 * 3_600_000;

export interface RunOptions {
  /** The run's seed: everything in the run follows from it. */
  readonly seed: number;
  /** Operations the run plans (before SIM_KEEP leaves some out). */
  readonly ops: number;
  /** Only these operations (a shrunk replay); all when absent. */
  readonly keep?: ReadonlySet<number>;
  /** Rules the broker decides with instead of the shipped ones (a test's broken broker). */
  readonly rules?: AccessRules;
}

export interface RunReport {
  readonly seed: number;
  readonly weather: string;
  /** Operations run (those kept). */
  readonly operations: number;
  readonly violations: readonly Violation[];
  readonly trace: readonly string[];
  /** sha256 of the trace: the same seed must give the same, byte for byte. */
  readonly traceHash: string;
  /** The highest operation index that had arrived when the first violation was seen. */
  readonly arrivedAtFirstViolation?: number;
  readonly stats: StatsData;
}

/**
 * One seeded run of the whole broker: the operations arrive on the simulated clock, the world works them
 * with faults and crashes, the invariants are checked after every step; then faults stop, the world drains
 * (invariant 1 on what is left), every lease runs out, and everything is checked again in full.
 */
export async function simulateRun(options: RunOptions): Promise<RunReport> {
  const cpu = process.cpuUsage();
  const report = await plannedRun(options);
  const used = process.cpuUsage(cpu);
  report.stats.cpuMs = (used.user + used.system) / 1000;
  return report;
}

async function plannedRun(options: RunOptions): Promise<RunReport> {
  const plan = planRun(options.seed, options.ops);
  const ops = options.keep ? plan.ops.filter((op) => options.keep?.has(op.index)) : plan.ops;
  const simulation = new Simulation(options.seed, plan.rates, options.rules ? { rules: options.rules } : {});
  simulation.stats.data.weathers[plan.weather] = 1;
  return simulation.within(async () => {
    simulation.world.trace(`run seed ${options.seed} weather ${plan.weather} ops ${ops.length}`);
    let at = START_MS;
    for (const op of ops) {
      at += op.gapMs;
      simulation.arriveAt(at, op);
    }
    simulation.world.startSchedules();
    await simulation.runUntil(at);
    await simulation.finish();
    return simulation.report(plan.weather, ops.length);
  });
}

/**
 * A run under construction: the world, its checks and its requesters. simulateRun plans one from a seed; a
 * test scripts one (test/sim), putting operations at instants of its choosing and crashes where it wants them.
 * Inside `within`, Math.random and Date.now are the run's own (seeded, and the simulated clock), so that
 * nothing in the broker's code sees real time or real randomness.
 */
export class Simulation {
  readonly stats = new SimStats();
  readonly world: SimWorld;
  readonly checks: Checks;
  private readonly sender: Sender;

  constructor(
    readonly seed: number,
    rates: FaultRates,
    options: ConstructorParameters<typeof SimWorld>[3] = {},
  ) {
    this.world = new SimWorld(seed, rates, this.stats, options);
    this.checks = new Checks(this.world);
    this.world.observer = this.checks;
    this.sender = new Sender(this.world, this.checks);
  }

  async within<T>(work: () => Promise<T>): Promise<T> {
    const random = Math.random;
    const now = Date.now;
    Math.random = new Rng(seedOf(this.seed, 'Math.random')).next;
    Date.now = () => this.world.scheduler.peek();
    try {
      return await work();
    } finally {
      Math.random = random;
      Date.now = now;
    }
  }

  /** `op` arrives at `at` (epoch ms on the simulated clock). */
  arriveAt(at: number, op: SimOp): void {
    this.world.scheduler.at(at, () => this.sender.arrive(op));
  }

  /** Runs the world until `at`, the invariants checked after every step. */
  runUntil(at: number): Promise<void> {
    return this.world.scheduler.run({ untilMs: at, afterStep: this.afterStep });
  }

  private readonly afterStep = () => this.checks.afterStep();

  /** Faults off, everything answered and settled, the drained checks; then every lease runs out, the full checks. */
  async finish(): Promise<void> {
    const world = this.world;
    world.calm();
    world.trace('drain');
    const drainUntil = world.scheduler.peek() + DRAIN_LIMIT_MS;
    while (world.scheduler.peek() < drainUntil && !(world.idle() && (await settled(world, this.checks)))) {
      await this.runUntil(halfPastNextMinute(world.scheduler.peek()));
    }
    await this.checks.drained();
    // Retire: past every expiry (the schedules paused meanwhile, as after an outage), then the sweeper catches up.
    world.schedulesOn = false;
    const last = Math.max(
      world.scheduler.peek(),
      ...(await liveLeases(world)).map((l) => l.expiresAt * 1000),
    );
    await this.runUntil(last + 61_000);
    world.schedulesOn = true;
    world.trace('retire');
    const retireUntil = world.scheduler.peek() + DRAIN_LIMIT_MS;
    while (
      world.scheduler.peek() < retireUntil &&
      !(world.idle() && (await liveLeases(world)).length === 0)
    ) {
      await this.runUntil(halfPastNextMinute(world.scheduler.peek()));
    }
    await this.checks.final();
  }

  report(weather: string, operations: number): RunReport {
    const world = this.world;
    const data = this.stats.data;
    data.runs = 1;
    data.operations = operations;
    data.steps = world.scheduler.steps;
    data.simulatedMs = world.scheduler.peek() - START_MS;
    const hash = createHash('sha256');
    for (const line of world.traceLines) hash.update(line).update('\n');
    return {
      seed: this.seed,
      weather,
      operations,
      violations: this.checks.violations,
      trace: world.traceLines,
      traceHash: hash.digest('hex'),
      stats: data,
      ...(this.checks.arrivedAtFirstViolation === undefined
        ? {}
        : { arrivedAtFirstViolation: this.checks.arrivedAtFirstViolation }),
    };
  }
}

/**
 * Half a minute past the next whole minute: where the drain looks whether the world is idle, away from the
 * minute on which the sweeper starts (it would never look idle there).
 */
function halfPastNextMinute(ms: number): number {
  return Math.floor(ms / 60_000) * 60_000 + 90_000;
}

/** No lease is pending, being ended or past due, and no hand edit is left unrepaired. */
async function settled(world: SimWorld, checks: Checks): Promise<boolean> {
  const now = Math.floor(world.scheduler.peek() / 1000);
  if (checks.driftedSubjects() > 0) return false;
  return (await liveLeases(world)).every(
    (lease) => lease.status === 'active' && lease.endReason === undefined && lease.expiresAt > now,
  );
}

async function liveLeases(world: SimWorld) {
  const leases = [];
  for (const principalArn of world.principals) {
    leases.push(...(await world.table.readSubject({ clusterName: 'demo', principalArn })).leases);
  }
  return leases;
}

/** The requesters: each operation becomes a message on the queue or an event on the bus, as the soak sends them. */
class Sender {
  constructor(
    private readonly world: SimWorld,
    private readonly checks: Checks,
  ) {}

  arrive(op: SimOp): void {
    const world = this.world;
    this.checks.lastArrived = Math.max(this.checks.lastArrived, op.index);
    switch (op.kind) {
      case 'grant': {
        const requestId = grantId(op.index);
        this.checks.grantIds.push(requestId);
        const detail = this.grantDetail(requestId, op, 'alice@example.com');
        this.send(
          op,
          'grant',
          requestId,
          detail,
          op.bus ? { bus: ACCOUNT } : { senderId: SENDERS.ticketing },
          op.poison,
        );
        return;
      }
      case 'revoke': {
        const requestId = grantId(op.target);
        const detail = { requestId, requestedBy: 'alice@example.com', reason: 'done' };
        this.send(op, 'revoke', requestId, detail, { senderId: SENDERS.ticketing }, op.poison);
        return;
      }
      case 'extend': {
        const requestId = grantId(op.target);
        const seconds = EXTENSIONS[op.extension] ?? 30;
        const detail = {
          requestId,
          durationSeconds: seconds,
          requestedBy: 'alice@example.com',
          reason: `need ${seconds}s more`,
        };
        this.send(op, 'extend', requestId, detail, { senderId: SENDERS.ticketing }, op.poison);
        return;
      }
      case 'duplicate': {
        const chain = this.checks.chains.get(op.target);
        const sent = this.sent.get(op.target);
        if (!chain || !sent) {
          world.trace(`arrive #${op.index} duplicate of #${op.target}: nothing to repeat`);
          return;
        }
        world.stats.count('requests sent again by their requester');
        world.trace(`arrive #${op.index} duplicate of ${chain.label}`);
        const id = `op${op.target}.d${op.index}`;
        if ('event' in sent) world.putEvent(id, sent.event, op.target, false);
        else world.sendRequest(id, sent.body, sent.senderId, op.target, false);
        return;
      }
      case 'intrude':
        this.intrude(op);
        return;
      case 'hand': {
        const done = world.handEdit(op.subject, op.action);
        world.stats.count('hand edits of EKS (drift)');
        world.trace(`arrive #${op.index} hand ${op.action} subject ${op.subject}: ${done}`);
        if (!done.startsWith('no') && !done.startsWith('nothing')) this.checks.handEdited(op.subject);
        return;
      }
    }
  }

  private readonly sent = new Map<
    number,
    { body: string; senderId: string } | { event: Record<string, unknown> }
  >();

  private grantDetail(
    requestId: string,
    op: { subject: number; policy: number; scope: number; duration: number; breakGlass: boolean },
    requestedBy: string,
  ): Record<string, unknown> {
    return {
      requestId,
      clusterName: 'demo',
      principalArn: this.world.principals[op.subject % SUBJECTS],
      policyArn: POLICIES[op.policy % POLICIES.length],
      accessScope: SCOPES[op.scope % SCOPES.length],
      durationSeconds: DURATIONS[op.duration % DURATIONS.length],
      requestedBy,
      reason: op.breakGlass ? 'incident INC-42: payments are down, need cluster admin' : 'simulated request',
      breakGlass: op.breakGlass,
    };
  }

  private intrude(op: Extract<SimOp, { kind: 'intrude' }>): void {
    const via: Intrusion = op.via === 'ceiling' && op.request !== 'grant' ? 'intruder-role' : op.via;
    const sentBy = {
      'intruder-role': { senderId: SENDERS.intruder },
      'oncall-on-queue': { senderId: SENDERS.oncall },
      'other-account': { bus: OTHER_ACCOUNT },
      'unproven-source': { bus: ACCOUNT, source: 'com.example.oncall' },
      ceiling: { senderId: SENDERS.ticketing },
    }[via];
    if (op.request === 'grant') {
      const requestId = `SIM-x${op.index}`;
      this.checks.refusedIds.add(requestId);
      const outside =
        via === 'ceiling' && !op.breakGlass
          ? { policy: POLICIES.indexOf('AmazonEKSClusterAdminPolicy') }
          : {};
      const detail = this.grantDetail(requestId, { ...op, ...outside }, INTRUDER);
      this.send(op, 'grant', requestId, detail, sentBy, false, via);
      return;
    }
    const requestId = grantId(op.target);
    const detail =
      op.request === 'revoke'
        ? { requestId, requestedBy: INTRUDER, reason: 'intruder: revoke what I saw' }
        : {
            requestId,
            durationSeconds: EXTENSIONS[op.duration % EXTENSIONS.length] ?? 30,
            requestedBy: INTRUDER,
            reason: 'intruder: extend what I saw',
          };
    this.send(op, op.request, requestId, detail, sentBy, false, via);
  }

  private send(
    op: SimOp,
    kind: Chain['kind'],
    requestId: string,
    detail: Record<string, unknown>,
    sentBy: { readonly senderId: string } | { readonly bus: string; readonly source?: string },
    poison: boolean,
    intrusion?: Intrusion,
  ): void {
    const world = this.world;
    const detailType = {
      grant: 'Access Grant Requested',
      revoke: 'Access Revoke Requested',
      extend: 'Access Extend Requested',
    }[kind];
    const source = 'source' in sentBy && sentBy.source ? sentBy.source : SOURCE;
    const envelope = { source, 'detail-type': detailType, detail };
    const id = `op${op.index}`;
    const label = `#${op.index} ${kind} ${requestId}${intrusion ? ` (${intrusion})` : 'bus' in sentBy ? ' (bus)' : ''}${poison ? ' (poison)' : ''}`;
    this.checks.chain({
      index: op.index,
      kind,
      requestId,
      label,
      ...(intrusion ? { intrusion } : {}),
      settled: undefined,
      deadLettered: false,
    });
    world.stats.count(`requests sent: ${kind}${intrusion ? ' (intruder)' : ''}`);
    world.trace(`arrive ${label} ${JSON.stringify(detail)}`);
    if ('bus' in sentBy) {
      const event = {
        version: '0',
        id: `sim-${op.index}`,
        ...envelope,
        account: sentBy.bus,
        time: new Date(world.scheduler.peek()).toISOString(),
        region: 'us-east-1',
        resources: [],
      };
      this.sent.set(op.index, { event });
      world.putEvent(id, event, op.index, poison);
    } else {
      const body = JSON.stringify(envelope);
      this.sent.set(op.index, { body, senderId: sentBy.senderId });
      world.sendRequest(id, body, sentBy.senderId, op.index, poison);
    }
  }
}

function grantId(index: number): string {
  return index < 0 ? 'SIM-ghost' : `SIM-${index}`;
}

/**
 * Model-based random testing of the broker: a scenario is a seed, a fault setting and a sequence of operations
 * (grant, revoke, extend, clock advance, duplicate and out-of-order delivery, crashes between side effects),
 * run against DynamoDB Local and the EKS emulator, then judged against the invariants (see invariants.ts).
 *
 * How the runner stands in for AWS:
 * - SQS intake: each request is an SQS body handed to the real intake code (takeRequest). A delivery that
 *   throws comes back after the visibility timeout (the fake clock moves on, the sweeper and timers run
 *   meanwhile), up to MAX_RECEIVES, then goes to the dead-letter use case.
 * - Crashes: a delivery may die before its side effect number N (see crash.ts); it is redelivered with healthy
 *   deps, as SQS would. A crash index past the last side effect is a lost acknowledgement: the work was done,
 *   and SQS delivers it again anyway.
 * - Timers are SQS delayed messages fired at their time; the sweeper runs every minute of fake time (runs with
 *   nothing due or about to enter the timer window are skipped: they would do nothing).
 * - Who asks: the ticketing integration's role sends on the queue (its SenderId), or puts its source on the bus
 *   from its account (an EventBridge event handed to the same intake). An intruder actor sends requests no
 *   integration may make (see `Intrusion`): they must all be refused, and nothing the system records may trace
 *   back to them (invariant 6).
 */

import fc from 'fast-check';
import { MAX_TIMER_DELAY_SECONDS } from '../../functions/adapters/expiry-timers';
import { type DeadLetter, settleDeadLetter } from '../../functions/app/dead-letter';
import type { IntakeDeps } from '../../functions/app/deps';
import { checkDrift } from '../../functions/app/drift';
import { onTimer, sweep } from '../../functions/app/expiry';
import type { HandleResult } from '../../functions/app/handle-request';
import type { Delivery } from '../../functions/app/identify-caller';
import { takeRequest } from '../../functions/app/intake';
import { MAX_RECEIVE_COUNT } from '../../functions/config/defaults';
import { isRetryable } from '../../functions/core/errors';
import type { Lease } from '../../functions/core/model';
import type { Outcome } from '../../functions/core/outcomes';
import type { EksEmulator } from '../../infra/local/eks/emulator';
import type { MutationRecord } from '../../infra/local/eks/model';
import { mulberry32 } from '../../infra/local/random';
import { localSenderId } from './callers';
import { type DynamoDbFaults, type InvocationTrace, invocation } from './crash';
import {
  checkDrained,
  checkForeignUntouched,
  checkIntegrationAllowance,
  checkNoEarlyLoss,
  type InvariantId,
  type TrackedLease,
  type TrackedSubject,
  type Violation,
} from './invariants';
import type { ModelStats } from './model-stats';
import { DURATIONS, EXTENSIONS, POLICIES, SCOPES } from './request-shapes';
import type { ArmedTimer, SafetyWorld } from './safety-world';
import { seedSafetySubjects } from './subjects';

export const SOURCE = 'com.example.ticketing';

export const VISIBILITY_SECONDS = 30;
export const MAX_RECEIVES = MAX_RECEIVE_COUNT;
/** The model's requests are sent by the example ticketing integration's role, on the queue or on the bus. */
const TICKETING_SENDER_ID = localSenderId();
const ACCOUNT = '111122223333';
/** The SenderIds of a principal of the account that belongs to no integration, and of an on-call person's role
 * (integration oncall, which may not use the queue). */
const INTRUDER_SENDER_ID = localSenderId('intruder');
const ONCALL_SENDER_ID = localSenderId('oncallalice');
const OTHER_ACCOUNT = '444455556666';
/** The requester every request that must be refused names: the trace it would leave in what the broker records. */
const INTRUDER = 'mallory@intruder.example';
/** How a request no integration may make is refused (INTEGRATION_MISMATCH needs a second asserted integration). */
const REFUSAL_CODES: ReadonlySet<string> = new Set([
  'SENDER_NOT_ALLOWED',
  'ACCOUNT_NOT_ALLOWED',
  'NOT_ALLOWED',
  'BREAK_GLASS_NOT_ALLOWED',
  'INTEGRATION_MISMATCH',
  'PROOF_REQUIRED',
  'SOURCE_NOT_ALLOWED',
]);
const SWEEP_INTERVAL_MS = 60_000;
const TIMER_WINDOW_SECONDS = MAX_TIMER_DELAY_SECONDS;
const MAX_EXPIRY_LAG_SECONDS = 600;
const SUBJECTS = 5;

type Crash = number | null;

/**
 * How the intruder actor sends a request no integration may make:
 * - intruder-role: on the queue as the `intruder` identity (a role of the account in no integration);
 * - oncall-on-queue: on the queue as an on-call person's role (integration oncall may not use the queue);
 * - other-account: on the bus with the ticketing source, from another account;
 * - unproven-source: on the bus with the oncall integration's source, without the proof it requires;
 * - ceiling (grants only): as the ticketing integration itself, outside its ceiling (break-glass, which it may
 *   not send, or else cluster admin). Revokes and extends sent this way go as the intruder role.
 */
const INTRUSIONS = [
  'intruder-role',
  'oncall-on-queue',
  'other-account',
  'unproven-source',
  'ceiling',
] as const;
export type Intrusion = (typeof INTRUSIONS)[number];

export type Op =
  | {
      readonly kind: 'grant';
      readonly subject: number;
      readonly policy: number;
      readonly scope: number;
      readonly duration: number;
      readonly breakGlass: boolean;
      /** Put on the bus by the ticketing integration's account instead of sent on the queue. */
      readonly bus: boolean;
      /** Held back and delivered later (a `release`, or at the end): out-of-order delivery. */
      readonly hold: boolean;
      readonly crash: Crash;
      /** Every delivery dies (a handler bug for this message): it ends in the dead-letter queue. */
      readonly poison: boolean;
    }
  | { readonly kind: 'revoke'; readonly target: number; readonly crash: Crash; readonly poison: boolean }
  | {
      readonly kind: 'extend';
      readonly target: number;
      readonly extension: number;
      readonly crash: Crash;
      readonly poison: boolean;
    }
  /**
   * A request no integration may make: a grant (a requestId of its own), or a revoke or extend of a grant it
   * has seen (`target`). `outage`: every delivery dies before its answer is published (EventBridge down), so
   * it ends in the dead-letter queue.
   */
  | {
      readonly kind: 'intrude';
      readonly request: 'grant' | 'revoke' | 'extend';
      readonly via: Intrusion;
      readonly target: number;
      readonly subject: number;
      readonly policy: number;
      readonly scope: number;
      readonly duration: number;
      readonly breakGlass: boolean;
      readonly crash: Crash;
      readonly outage: boolean;
    }
  /** Delivers an earlier message again. */
  | { readonly kind: 'duplicate'; readonly target: number; readonly crash: Crash }
  | { readonly kind: 'release'; readonly target: number }
  | { readonly kind: 'advance'; readonly seconds: number }
  | { readonly kind: 'drift' };

export interface ScenarioFaults {
  readonly serverErrorRate: number;
  readonly dropRate: number;
  readonly dropAfterCommitRate: number;
  readonly latencyMaxMs: number;
  readonly throttle: boolean;
  /** DynamoDB calls that fail (before sending, or after a write committed), per call. */
  readonly dynamodbFaultRate: number;
}

export interface Scenario {
  readonly seed: number;
  readonly faults: ScenarioFaults;
  /** Chance that a timer or sweep invocation dies between two of its side effects. */
  readonly scheduledCrashRate: number;
  readonly ops: readonly Op[];
}

/** Most deliveries run through; one in three dies before one of its first side effects (or loses its ack). */
const crashArb: fc.Arbitrary<Crash> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.nat({ max: 12 }) },
);

/** View and Edit mostly; cluster admin (break-glass only, on-call only) now and then. */
const policyArb = fc.oneof(
  { weight: 5, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.constant(1) },
  { weight: 1, arbitrary: fc.constant(2) },
);

const poisonArb = fc.oneof(
  { weight: 30, arbitrary: fc.constant(false) },
  { weight: 1, arbitrary: fc.constant(true) },
);

export interface ScenarioOptions {
  /**
   * Whether the intruder's messages may end in the dead-letter queue (every delivery dies before it answers).
   * Off in the safety run while the dead-letter function does not know who sent a dead letter (see
   * test/safety/intruder.test.ts).
   */
  readonly intruderOutages?: boolean;
}

const opArb = (options: ScenarioOptions): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 30,
      arbitrary: fc.record({
        kind: fc.constant('grant' as const),
        subject: fc.nat({ max: SUBJECTS - 1 }),
        policy: policyArb,
        scope: fc.nat({ max: SCOPES.length - 1 }),
        duration: fc.oneof(
          { weight: 12, arbitrary: fc.nat({ max: DURATIONS.length - 2 }) },
          { weight: 1, arbitrary: fc.constant(DURATIONS.length - 1) },
        ),
        breakGlass: fc.oneof(
          { weight: 6, arbitrary: fc.constant(false) },
          { weight: 1, arbitrary: fc.constant(true) },
        ),
        bus: fc.oneof(
          { weight: 4, arbitrary: fc.constant(false) },
          { weight: 1, arbitrary: fc.constant(true) },
        ),
        hold: fc.oneof(
          { weight: 8, arbitrary: fc.constant(false) },
          { weight: 1, arbitrary: fc.constant(true) },
        ),
        crash: crashArb,
        poison: poisonArb,
      }),
    },
    {
      weight: 10,
      arbitrary: fc.record({
        kind: fc.constant('revoke' as const),
        target: fc.nat(),
        crash: crashArb,
        poison: poisonArb,
      }),
    },
    {
      weight: 10,
      arbitrary: fc.record({
        kind: fc.constant('extend' as const),
        target: fc.nat(),
        extension: fc.nat({ max: EXTENSIONS.length - 1 }),
        crash: crashArb,
        poison: poisonArb,
      }),
    },
    {
      weight: 12,
      arbitrary: fc.record({ kind: fc.constant('duplicate' as const), target: fc.nat(), crash: crashArb }),
    },
    {
      weight: 8,
      arbitrary: fc.record({
        kind: fc.constant('intrude' as const),
        request: fc.constantFrom('grant' as const, 'revoke' as const, 'extend' as const),
        via: fc.constantFrom(...INTRUSIONS),
        target: fc.nat(),
        subject: fc.nat({ max: SUBJECTS - 1 }),
        policy: policyArb,
        scope: fc.nat({ max: SCOPES.length - 1 }),
        duration: fc.nat({ max: DURATIONS.length - 2 }),
        breakGlass: fc.boolean(),
        crash: crashArb,
        outage: options.intruderOutages
          ? fc.oneof(
              { weight: 10, arbitrary: fc.constant(false) },
              { weight: 1, arbitrary: fc.constant(true) },
            )
          : fc.constant(false),
      }),
    },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), target: fc.nat() }) },
    {
      weight: 25,
      arbitrary: fc.record({
        kind: fc.constant('advance' as const),
        seconds: fc.oneof(
          { weight: 5, arbitrary: fc.integer({ min: 1, max: 120 }) },
          { weight: 3, arbitrary: fc.integer({ min: 121, max: 1200 }) },
          { weight: 1, arbitrary: fc.integer({ min: 1201, max: 10_800 }) },
        ),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('drift' as const) }) },
  );

/** Scenarios of at most `opsPerRun` operations. */
export function scenarioArb(opsPerRun: number, options: ScenarioOptions = {}): fc.Arbitrary<Scenario> {
  return fc.record({
    seed: fc.nat(),
    faults: fc.record({
      serverErrorRate: fc.constantFrom(0, 0.02, 0.05, 0.1),
      dropRate: fc.constantFrom(0, 0.02, 0.05),
      dropAfterCommitRate: fc.constantFrom(0, 0.05, 0.1),
      latencyMaxMs: fc.constantFrom(0, 2, 5),
      throttle: fc.boolean(),
      dynamodbFaultRate: fc.constantFrom(0, 0, 0.01, 0.03),
    }),
    scheduledCrashRate: fc.constantFrom(0, 0.05, 0.15),
    // Variable length, so that a failing scenario shrinks to the few operations that matter.
    ops: fc.array(opArb(options), { minLength: 1, maxLength: opsPerRun, size: 'max' }),
  });
}

interface Message {
  readonly id: number;
  readonly kind: 'grant' | 'revoke' | 'extend';
  readonly requestId: string;
  /** What the intake is handed: an SQS body and its SenderId, or an EventBridge event. */
  readonly delivery: Delivery;
  /** What its dead letter holds: the SQS body, or the event. */
  readonly body: string;
  readonly label: string;
  /** Set on a request no integration may make: how it was sent. */
  readonly intrusion?: Intrusion;
}

/** Who sends a message: a SenderId on the queue, or an account on the bus (with its source, when not ticketing's). */
type SentBy =
  | { readonly senderId: string; readonly source?: undefined }
  | { readonly bus: string; readonly source?: string };

/** How every delivery of a message goes: as planned, dying at random (a handler bug), or dying at once. */
type Poison = 'none' | 'bug' | 'outage';

interface Settled {
  readonly status: string;
  readonly code?: string;
}

interface Chain {
  readonly message: Message;
  settled: Settled | undefined;
  deadLettered: boolean;
  /** Outcome events published by this message's deliveries (and its dead letter). */
  readonly outcomes: Outcome[];
}

/** Rejection codes whose answer may change once other requests arrive (order-dependent): not repeats. */
const STATE_DEPENDENT_CODES = new Set(['UNKNOWN_REQUEST', 'LEASE_NOT_ACTIVE', 'EXTENSION_CAP_EXCEEDED']);
const FINAL_STATUSES = new Set(['granted', 'failed', 'revoked', 'extended', 'duplicate']);
/** Outcome types published once per lease transition (more only when a crash hit after publishing). */
const ONCE_PER_LEASE = [
  'Access Granted',
  'Break Glass Access Granted',
  'Access Grant Failed',
  'Access Revoked',
  'Access Revocation Failed',
];

let runCounter = 0;

export interface RunReport {
  readonly violations: readonly Violation[];
  /** The operations and what each delivery answered: printed with a counterexample. */
  readonly trace: readonly string[];
}

export interface RunOptions {
  /**
   * Replaces deps of the intake's invocations: a test-only fault (a Senders directory that lies, other rules),
   * to show that the invariants catch a broker that breaks them. The invariants still judge against the
   * world's own rules.
   */
  readonly intake?: Partial<IntakeDeps>;
}

export async function runScenario(
  world: SafetyWorld,
  scenario: Scenario,
  stats: ModelStats,
  options: RunOptions = {},
): Promise<RunReport> {
  return new ModelRun(world, scenario, stats, options).run();
}

class ModelRun {
  private readonly runId = `${process.pid}-${++runCounter}`;
  private readonly random: () => number;
  private readonly violations: Violation[] = [];
  private readonly trace: string[] = [];
  private readonly principals: string[] = [];
  private subjects: TrackedSubject[] = [];
  private readonly grantIds: string[] = [];
  /** Grants that must be refused: the intruder's own requestIds (and a known integration's outside its ceiling). */
  private readonly refusedIds: string[] = [];
  private readonly sent: Message[] = [];
  private readonly held: Message[] = [];
  private readonly chains = new Map<number, Chain>();
  private readonly published: Outcome[] = [];
  /** `requestId|detailType` -> outcomes published by invocations that then did not complete. */
  private readonly interruptedRepeats = new Map<string, number>();
  private messageCount = 0;
  private dynamodbFaults: DynamoDbFaults | undefined;
  private lastSweepAt = 0;
  private dueHintMs: number | undefined;

  constructor(
    private readonly world: SafetyWorld,
    private readonly scenario: Scenario,
    private readonly stats: ModelStats,
    private readonly options: RunOptions = {},
  ) {
    this.random = mulberry32(scenario.seed);
    this.dynamodbFaults = {
      rate: scenario.faults.dynamodbFaultRate,
      random: mulberry32(scenario.seed ^ 0x5bd1e995),
      counts: { failedBefore: 0, lostAfterCommit: 0 },
    };
  }

  private get eks(): EksEmulator {
    return this.world.local.edge.eks;
  }

  async run(): Promise<RunReport> {
    this.stats.runs++;
    this.eks.reset();
    this.world.armed.length = 0;
    // SQS delivers a delayed message a little after its delay: up to a few seconds late.
    this.world.timerLagMs = () => Math.floor(this.random() * 5000);
    const fromSeq = this.seedSubjects();
    const { faults } = this.scenario;
    this.eks.faults.configure({
      serverErrorRate: faults.serverErrorRate,
      dropRate: faults.dropRate,
      dropAfterCommitRate: faults.dropAfterCommitRate,
      ...(faults.latencyMaxMs > 0 ? { latency: { minMs: 0, maxMs: faults.latencyMaxMs } } : {}),
      ...(faults.throttle ? { rateLimit: { ratePerSecond: 40, burst: 8 } } : {}),
      seed: this.scenario.seed,
    });
    try {
      for (const op of this.scenario.ops) {
        this.trace.push(`@${this.world.clock.seconds()} ${JSON.stringify(op)}`);
        await this.step(op);
        this.stats.operations++;
      }
      await this.drain();
    } finally {
      Object.assign(this.stats.faults, {
        throttled: this.stats.faults.throttled + this.eks.faults.counts.throttled,
        serverErrors: this.stats.faults.serverErrors + this.eks.faults.counts.serverErrors,
        dropped: this.stats.faults.dropped + this.eks.faults.counts.dropped,
        droppedAfterCommit: this.stats.faults.droppedAfterCommit + this.eks.faults.counts.droppedAfterCommit,
        delayedMs: this.stats.faults.delayedMs + this.eks.faults.counts.delayedMs,
      });
      this.eks.faults.configure({});
    }
    const drained = await this.track();
    this.recordLag(drained);
    this.violations.push(
      ...checkDrained(this.eks.snapshot(), this.subjects, drained, this.world.clock.seconds()),
    );
    await this.retire();
    const retired = await this.track();
    const mutations: readonly MutationRecord[] = this.eks.mutations();
    const baseline = this.subjects.flatMap((subject) => (subject.baseline ? [subject.baseline] : []));
    this.violations.push(
      ...checkDrained(this.eks.snapshot(), this.subjects, retired, this.world.clock.seconds()),
      ...checkNoEarlyLoss(mutations, retired),
      ...checkForeignUntouched(mutations, baseline, fromSeq),
      ...this.checkOutcomes(drained),
      ...checkIntegrationAllowance({
        rules: this.world.deps.rules,
        leases: [...retired, ...(await this.track(this.refusedIds))],
        refused: { requestIds: new Set(this.refusedIds), requestedBy: INTRUDER },
        outcomes: this.published,
        mutations,
        baseline,
        fromSeq,
      }),
    );
    for (const violation of this.violations) this.stats.violations[violation.invariant]++;
    return { violations: this.violations, trace: this.trace };
  }

  // ---- the world of one run ----

  private seedSubjects(): number {
    const seeded = seedSafetySubjects(this.eks, this.runId);
    this.principals.push(...seeded.principals);
    this.subjects = [...seeded.subjects];
    return seeded.fromSeq;
  }

  private async step(op: Op): Promise<void> {
    switch (op.kind) {
      case 'grant': {
        const message = this.grantMessage(op);
        if (op.hold) this.held.push(message);
        else await this.deliver(message, op.crash, op.poison ? 'bug' : 'none');
        return;
      }
      case 'intrude':
        await this.deliver(this.intrusion(op), op.crash, op.outage ? 'outage' : 'none');
        return;
      case 'revoke': {
        const requestId = this.target(op.target);
        await this.deliver(
          this.message(
            'revoke',
            requestId,
            { requestId, requestedBy: 'alice@example.com', reason: 'done' },
            { senderId: TICKETING_SENDER_ID },
          ),
          op.crash,
          op.poison ? 'bug' : 'none',
        );
        return;
      }
      case 'extend': {
        const requestId = this.target(op.target);
        const seconds = EXTENSIONS[op.extension] ?? 30;
        await this.deliver(
          this.message(
            'extend',
            requestId,
            {
              requestId,
              durationSeconds: seconds,
              requestedBy: 'alice@example.com',
              reason: `need ${seconds}s more`,
            },
            { senderId: TICKETING_SENDER_ID },
          ),
          op.crash,
          op.poison ? 'bug' : 'none',
        );
        return;
      }
      case 'duplicate': {
        const message = this.sent[op.target % Math.max(1, this.sent.length)];
        if (!message) return;
        this.stats.duplicates++;
        await this.deliver(message, op.crash);
        return;
      }
      case 'release': {
        const [message] = this.held.splice(op.target % Math.max(1, this.held.length), 1);
        if (!message) return;
        this.stats.outOfOrder++;
        await this.deliver(message, null);
        return;
      }
      case 'advance':
        await this.advance(op.seconds);
        return;
      case 'drift': {
        const run = await this.invoke(null, (deps) => checkDrift(deps));
        if (run.ok) this.stats.driftRepairs += run.value.repaired;
        return;
      }
    }
  }

  private target(index: number): string {
    return this.grantIds[index % Math.max(1, this.grantIds.length)] ?? `SAFE-${this.runId}-ghost`;
  }

  private grantMessage(op: Extract<Op, { kind: 'grant' }>): Message {
    const requestId = `SAFE-${this.runId}-${this.grantIds.length}`;
    this.grantIds.push(requestId);
    return this.message(
      'grant',
      requestId,
      this.grantDetail(requestId, op, 'alice@example.com'),
      op.bus ? { bus: ACCOUNT } : { senderId: TICKETING_SENDER_ID },
    );
  }

  private grantDetail(
    requestId: string,
    op: Pick<Extract<Op, { kind: 'grant' }>, 'subject' | 'policy' | 'scope' | 'duration' | 'breakGlass'>,
    requestedBy: string,
  ): Record<string, unknown> {
    return {
      requestId,
      clusterName: 'demo',
      principalArn: this.principals[op.subject % SUBJECTS],
      policyArn: POLICIES[op.policy % POLICIES.length],
      accessScope: SCOPES[op.scope % SCOPES.length],
      durationSeconds: DURATIONS[op.duration % DURATIONS.length],
      requestedBy,
      reason: op.breakGlass ? 'incident INC-42: payments are down, need cluster admin' : 'safety test',
      breakGlass: op.breakGlass,
    };
  }

  /** The intruder actor's request; every one names INTRUDER as its requester, so what it left can be traced. */
  private intrusion(op: Extract<Op, { kind: 'intrude' }>): Message {
    const via: Intrusion = op.via === 'ceiling' && op.request !== 'grant' ? 'intruder-role' : op.via;
    const sentBy: SentBy = {
      'intruder-role': { senderId: INTRUDER_SENDER_ID },
      'oncall-on-queue': { senderId: ONCALL_SENDER_ID },
      'other-account': { bus: OTHER_ACCOUNT },
      'unproven-source': { bus: ACCOUNT, source: 'com.example.oncall' },
      ceiling: { senderId: TICKETING_SENDER_ID },
    }[via];
    if (op.request === 'grant') {
      const requestId = `SAFE-${this.runId}-x${this.refusedIds.length}`;
      this.refusedIds.push(requestId);
      // Outside the ticketing ceiling: break-glass (which it may not send), else cluster admin (only the on-call
      // rule has it).
      const outside =
        via === 'ceiling' && !op.breakGlass
          ? { policy: POLICIES.indexOf('AmazonEKSClusterAdminPolicy') }
          : {};
      const detail = this.grantDetail(requestId, { ...op, ...outside }, INTRUDER);
      return this.message('grant', requestId, detail, sentBy, via);
    }
    const requestId = this.target(op.target);
    const detail =
      op.request === 'revoke'
        ? { requestId, requestedBy: INTRUDER, reason: 'intruder: revoke what I saw' }
        : {
            requestId,
            durationSeconds: EXTENSIONS[op.duration % EXTENSIONS.length] ?? 30,
            requestedBy: INTRUDER,
            reason: 'intruder: extend what I saw',
          };
    return this.message(op.request, requestId, detail, sentBy, via);
  }

  private message(
    kind: Message['kind'],
    requestId: string,
    detail: Record<string, unknown>,
    sentBy: SentBy,
    intrusion?: Intrusion,
  ): Message {
    const detailType = {
      grant: 'Access Grant Requested',
      revoke: 'Access Revoke Requested',
      extend: 'Access Extend Requested',
    }[kind];
    const id = ++this.messageCount;
    const source = sentBy.source ?? SOURCE;
    const envelope = { source, 'detail-type': detailType, detail };
    let delivery: Delivery;
    let body: string;
    if ('bus' in sentBy) {
      // What EventBridge hands the intake function: the envelope with the account that put it.
      const event = {
        version: '0',
        id: `${this.runId}-${id}`,
        ...envelope,
        account: sentBy.bus,
        time: new Date(this.world.clock.peek()).toISOString(),
        region: 'us-east-1',
        resources: [],
      };
      delivery = { event };
      body = JSON.stringify(event);
    } else {
      body = JSON.stringify(envelope);
      delivery = { sqsBody: body, senderId: sentBy.senderId };
    }
    return {
      id,
      kind,
      requestId,
      delivery,
      body,
      label: `#${id} ${kind} ${requestId}${intrusion ? ` (${intrusion})` : 'bus' in sentBy ? ' (bus)' : ''}`,
      ...(intrusion ? { intrusion } : {}),
    };
  }

  // ---- invocations ----

  private async invoke<T>(
    crashAt: Crash,
    fn: (deps: IntakeDeps) => Promise<T>,
  ): Promise<
    | { readonly ok: true; readonly value: T; readonly trace: InvocationTrace }
    | { readonly ok: false; readonly error: unknown; readonly trace: InvocationTrace }
  > {
    const run = invocation(this.world.deps, this.world.clients, crashAt ?? undefined, this.dynamodbFaults);
    this.dueHintMs = undefined;
    try {
      // The intake's own deps (senders, proofs) stay healthy; crashes are injected into the use cases' ports.
      const value = await fn({ ...this.world.deps, ...run.deps, ...this.options.intake });
      // A use case that swallowed the crash still died: the process is gone.
      if (run.trace.crashedAt !== undefined) throw new Error(`crashed before ${run.trace.crashedAt}`);
      return { ok: true, value, trace: run.trace };
    } catch (error) {
      // Outcomes are published before the lease is saved (at-least-once): an invocation that published and
      // then did not complete (it died, or a write failed) leaves its outcome to be published again.
      for (const outcome of run.trace.published) {
        const key = repeatKey(outcome);
        this.interruptedRepeats.set(key, (this.interruptedRepeats.get(key) ?? 0) + 1);
      }
      return { ok: false, error, trace: run.trace };
    } finally {
      this.published.push(...run.trace.published);
    }
  }

  private chainOf(message: Message): Chain {
    let chain = this.chains.get(message.id);
    if (!chain) {
      chain = { message, settled: undefined, deadLettered: false, outcomes: [] };
      this.chains.set(message.id, chain);
      this.sent.push(message);
    }
    return chain;
  }

  /** One SQS message, delivered until it is acknowledged or dead-lettered. */
  private async deliver(message: Message, crashAt: Crash, poison: Poison = 'none'): Promise<void> {
    const chain = this.chainOf(message);
    for (let receive = 1; ; receive++) {
      this.stats.deliveries++;
      if ('event' in message.delivery && !message.intrusion) this.stats.busDeliveries++;
      if (receive > 1) this.stats.redeliveries++;
      const previous = chain.settled;
      const repeat = previous !== undefined && isFinal(previous);
      const mutationsBefore = this.eks.mutations().length;
      const versionBefore = repeat ? await this.leaseVersion(message.requestId) : undefined;
      const publishedBefore = this.published.length;
      const planned =
        poison === 'bug'
          ? Math.floor(this.random() * 8)
          : poison === 'outage'
            ? 0
            : receive === 1
              ? crashAt
              : null;
      const run = await this.invoke(planned, (deps) => takeRequest(deps, message.delivery));
      const outcomes = this.published.slice(publishedBefore);
      chain.outcomes.push(...outcomes);
      if (run.ok) {
        const settled = settledOf(run.value);
        this.stats.result(settled.code ? `rejected ${settled.code}` : settled.status);
        this.trace.push(`  ${message.label} -> ${settled.status}${settled.code ? ` ${settled.code}` : ''}`);
        if (message.intrusion) this.checkRefused(message, message.intrusion, settled);
        if (repeat && previous) {
          await this.checkRepeat(message, previous, settled, mutationsBefore, versionBefore, outcomes);
        }
        chain.settled = settled;
        if (planned === null || receive > 1) return;
        // Asked to die after its last side effect: done, but the acknowledgement is lost.
        this.stats.lostAcks++;
        this.stats.duplicates++;
        await this.advance(VISIBILITY_SECONDS);
        continue;
      }
      if (run.trace.crashedAt !== undefined) {
        this.stats.crashes.delivery++;
        this.trace.push(
          `  ${message.label} crashed before ${run.trace.crashedAt} [${run.trace.effects.join(' ')}]`,
        );
      } else {
        this.noteFailure(message.label, run.error);
      }
      if (receive >= MAX_RECEIVES) {
        // Where SQS or EventBridge puts it after the last delivery, with the sender SQS kept.
        const letter: DeadLetter =
          'event' in message.delivery
            ? { body: message.body, queue: 'intake-events', senderId: undefined }
            : { body: message.body, queue: 'requests', senderId: message.delivery.senderId };
        await this.deadLetter(message.label, letter, chain);
        return;
      }
      await this.advance(VISIBILITY_SECONDS);
    }
  }

  private async deadLetter(label: string, letter: DeadLetter, chain?: Chain): Promise<void> {
    this.stats.deadLettered++;
    if (chain) chain.deadLettered = true;
    for (let attempt = 1; attempt <= MAX_RECEIVES; attempt++) {
      const before = this.published.length;
      const run = await this.invoke(null, (deps) => settleDeadLetter(deps, letter));
      chain?.outcomes.push(...this.published.slice(before));
      if (run.ok) {
        this.trace.push(`  ${label} dead-lettered -> ${run.value.status}`);
        if (chain) chain.settled = { status: `dead-letter ${run.value.status}` };
        return;
      }
      this.noteFailure(`${label} (dead letter)`, run.error);
      await this.advance(VISIBILITY_SECONDS);
    }
    this.violate(4, `the dead letter of ${label} could not be settled`);
  }

  /** Invariant 5: a repeat of a delivery that was answered for good changes nothing and says nothing new. */
  private async checkRepeat(
    message: Message,
    previous: Settled,
    settled: Settled,
    mutationsBefore: number,
    versionBefore: number | undefined,
    outcomes: readonly Outcome[],
  ): Promise<void> {
    const applied = this.eks
      .mutations()
      .slice(mutationsBefore)
      .filter((m) => m.outcome === 'applied');
    const versionAfter = await this.leaseVersion(message.requestId);
    const sameAnswer =
      settled.status === 'duplicate' ||
      (previous.status === 'rejected' && settled.status === 'rejected' && settled.code === previous.code);
    const what = `repeat of ${message.label} (first answered ${previous.status}${previous.code ? ` ${previous.code}` : ''})`;
    if (!sameAnswer) this.violate(5, `${what} was answered ${settled.status} ${settled.code ?? ''}`);
    if (applied.length > 0)
      this.violate(5, `${what} changed EKS: ${applied.map((m) => m.operation).join(', ')}`);
    if (versionAfter !== versionBefore)
      this.violate(5, `${what} wrote the lease (v${versionBefore} -> v${versionAfter})`);
    if (previous.status !== 'rejected' && outcomes.length > 0) {
      this.violate(5, `${what} published ${outcomes.map((o) => o.detailType).join(', ')}`);
    }
  }

  /** What the intake answered a request no integration may make: a refusal, and nothing else. */
  private checkRefused(message: Message, intrusion: Intrusion, settled: Settled): void {
    const answer = settled.code ? `rejected ${settled.code}` : settled.status;
    this.stats.intruderDelivery(`${message.kind} ${intrusion}`, answer);
    if (settled.status !== 'rejected' || !REFUSAL_CODES.has(settled.code ?? '')) {
      this.violate(6, `answer: ${message.label}, which no integration may send, was answered ${answer}`);
    }
  }

  private noteFailure(label: string, error: unknown): void {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.trace.push(`  ${label} failed: ${text.slice(0, 200)}`);
    // Retryable errors are how the broker asks for a redelivery; anything else is a bug that would only end
    // in the dead-letter queue.
    if (!isRetryable(error))
      this.violate(4, `${label} failed with a non-retryable error: ${text.slice(0, 300)}`);
  }

  private violate(invariant: InvariantId, message: string): void {
    this.violations.push({ invariant, message });
    this.trace.push(`  VIOLATION ${invariant}: ${message}`);
  }

  private async leaseVersion(requestId: string): Promise<number | undefined> {
    return (await this.world.deps.store.findLease(requestId))?.version;
  }

  // ---- time: timers and the sweeper ----

  private scheduledCrash(): Crash {
    return this.random() < this.scenario.scheduledCrashRate ? Math.floor(this.random() * 12) : null;
  }

  private async advance(seconds: number): Promise<void> {
    const clock = this.world.clock;
    const target = clock.peek() + seconds * 1000;
    for (;;) {
      const timerAt = Math.min(Number.POSITIVE_INFINITY, ...this.world.armed.map((t) => t.fireAtMs));
      const sweepAt = await this.nextSweepAt();
      const at = Math.min(timerAt, sweepAt);
      if (at > target) break;
      clock.advanceTo(at);
      if (timerAt <= at) await this.fireTimers();
      if (sweepAt <= at) await this.runSweep(at);
    }
    clock.advanceTo(target);
  }

  /** The next minute on which the sweeper has something to do: a lease due, or one entering the timer window. */
  private async nextSweepAt(): Promise<number> {
    if (this.dueHintMs === undefined) {
      let hint = Number.POSITIVE_INFINITY;
      for (const lease of await this.liveLeases()) {
        const dueAt = lease.nextAttemptAt ?? lease.expiresAt;
        hint = Math.min(hint, dueAt * 1000);
        const armed = this.world.armed.some(
          (t) => t.timer.requestId === lease.requestId && t.timer.expiresAt === lease.expiresAt,
        );
        if (lease.status === 'active' && lease.nextAttemptAt === undefined && !armed) {
          hint = Math.min(hint, (dueAt - TIMER_WINDOW_SECONDS) * 1000);
        }
      }
      this.dueHintMs = hint;
    }
    const from = Math.max(this.world.clock.peek(), this.dueHintMs, this.lastSweepAt + 1);
    return Math.ceil(from / SWEEP_INTERVAL_MS) * SWEEP_INTERVAL_MS;
  }

  private async fireTimers(): Promise<void> {
    const now = this.world.clock.peek();
    const due = this.world.armed.filter((t) => t.fireAtMs <= now).sort((a, b) => a.fireAtMs - b.fireAtMs);
    for (const timer of due) {
      this.world.armed.splice(this.world.armed.indexOf(timer), 1);
      this.stats.timersFired++;
      const run = await this.invoke(this.scheduledCrash(), (deps) => onTimer(deps, timer.timer));
      if (run.ok) continue;
      if (run.trace.crashedAt !== undefined) this.stats.crashes.timer++;
      else this.noteFailure(`timer ${timer.timer.requestId}`, run.error);
      await this.redeliverTimer(timer);
    }
  }

  private async redeliverTimer(timer: ArmedTimer): Promise<void> {
    timer.receives++;
    if (timer.receives >= MAX_RECEIVES) {
      await this.deadLetter(`timer ${timer.timer.requestId}`, {
        body: JSON.stringify(timer.timer),
        queue: 'timers',
        senderId: undefined,
      });
      return;
    }
    timer.fireAtMs = this.world.clock.peek() + VISIBILITY_SECONDS * 1000;
    this.world.armed.push(timer);
  }

  private async runSweep(at: number): Promise<void> {
    this.lastSweepAt = at;
    this.stats.sweeps++;
    const run = await this.invoke(this.scheduledCrash(), (deps) => sweep(deps, { intervalSeconds: 60 }));
    if (!run.ok && run.trace.crashedAt !== undefined) this.stats.crashes.sweep++;
  }

  // ---- the end of a run ----

  /** Faults off, every held message delivered, time moved on until nothing is due or being retried. */
  private async drain(): Promise<void> {
    this.eks.faults.configure({});
    if (this.dynamodbFaults) {
      this.stats.dynamodbFaults.failedBefore += this.dynamodbFaults.counts.failedBefore;
      this.stats.dynamodbFaults.lostAfterCommit += this.dynamodbFaults.counts.lostAfterCommit;
      this.dynamodbFaults = undefined;
    }
    for (const message of this.held.splice(0)) {
      this.stats.outOfOrder++;
      await this.deliver(message, null);
    }
    for (let round = 0; round < 40; round++) {
      const now = this.world.clock.seconds();
      const busy = (await this.liveLeases()).some(
        (lease) => lease.status !== 'active' || lease.endReason !== undefined || lease.expiresAt <= now,
      );
      if (!busy) return;
      await this.advance(60);
    }
  }

  /** Every lease of the run past its expiry: the sweeper catches up after a long pause, as after an outage. */
  private async retire(): Promise<void> {
    const live = await this.liveLeases();
    const last = Math.max(this.world.clock.seconds(), ...live.map((lease) => lease.expiresAt));
    this.world.clock.advanceTo((last + 61) * 1000);
    for (let round = 0; round < 10 && (await this.liveLeases()).length > 0; round++) {
      await sweep(this.world.deps, { intervalSeconds: 60 });
    }
    this.world.armed.length = 0;
  }

  private async liveLeases(): Promise<Lease[]> {
    const subjects = this.subjects.map((s) =>
      this.world.deps.store.readSubject(s).then((read) => read.leases),
    );
    return (await Promise.all(subjects)).flat();
  }

  private async track(requestIds: readonly string[] = this.grantIds): Promise<TrackedLease[]> {
    const found = await Promise.all(
      requestIds.map(async (requestId) => {
        const lease = await this.world.deps.store.findLease(requestId);
        return lease ? [{ lease, history: await this.world.store.history(requestId) }] : [];
      }),
    );
    return found.flat();
  }

  private recordLag(tracked: readonly TrackedLease[]): void {
    for (const { lease, history } of tracked) {
      const failed = history.some((e) => e.type === 'revocation-failed' || e.type === 'irrevocable');
      if (lease.endReason === 'expired' && lease.endedAt !== undefined && !failed) {
        const lag = lease.endedAt - lease.expiresAt;
        this.stats.maxExpiryLagSeconds = Math.max(this.stats.maxExpiryLagSeconds, lag);
        // The sweep interval plus the retries: a crashed invocation holds the subject's lock for its TTL (60 s)
        // and its message comes back after the visibility timeout; several in a row stay well under this.
        if (lag > MAX_EXPIRY_LAG_SECONDS) {
          this.violate(
            1,
            `lease ${lease.requestId} outlived its expiry by ${lag} s without a failed revocation`,
          );
        }
      }
    }
  }

  /** Invariant 4: every request has its terminal outcome, once (repeats only after a crash after publishing). */
  private checkOutcomes(tracked: readonly TrackedLease[]): Violation[] {
    const violations: Violation[] = [];
    const v = (message: string) => violations.push({ invariant: 4, message });
    const byRequest = new Map<string, Outcome[]>();
    for (const outcome of this.published) {
      const requestId = String(outcome.detail.requestId);
      byRequest.set(requestId, [...(byRequest.get(requestId) ?? []), outcome]);
    }
    const count = (requestId: string, detailType: string) =>
      (byRequest.get(requestId) ?? []).filter((o) => o.detailType === detailType).length;
    for (const chain of this.chains.values()) {
      if (!chain.settled) v(`${chain.message.label} never got an answer (not settled, not dead-lettered)`);
    }
    const leases = new Map(tracked.map((t) => [t.lease.requestId, t.lease]));
    for (const requestId of this.grantIds) {
      const lease = leases.get(requestId);
      const granted = count(requestId, 'Access Granted');
      // The failure of an extension (dead-lettered) is not the failure of the grant: its requestType says.
      const failed = (byRequest.get(requestId) ?? []).filter(
        (o) =>
          o.detailType === 'Access Grant Failed' &&
          (o.detail.requestType === undefined || o.detail.requestType === 'Access Grant Requested'),
      ).length;
      const revoked = count(requestId, 'Access Revoked');
      const rejected = (byRequest.get(requestId) ?? []).filter(
        (o) => o.detailType === 'Access Grant Rejected' && o.detail.requestType === 'Access Grant Requested',
      ).length;
      if (!lease) {
        if (rejected + failed === 0) v(`grant ${requestId} has no lease and was neither rejected nor failed`);
        if (granted > 0) v(`grant ${requestId} has no lease but was announced granted`);
        continue;
      }
      if (lease.status === 'pending') v(`grant ${requestId} is still pending after draining`);
      if (lease.grantedAt !== undefined) {
        if (granted === 0) v(`lease ${requestId} was granted without Access Granted`);
        if (failed > 0) v(`lease ${requestId} was announced both granted and failed`);
      } else if (lease.endReason === 'failed') {
        // Failed before it was granted: answered Access Grant Failed, or, when it may have been announced
        // granted already (a delivery died between announcing and saving), Access Revoked.
        if (failed + revoked === 0)
          v(`lease ${requestId} failed without Access Grant Failed or Access Revoked`);
        if (granted > 0 && failed > 0) v(`lease ${requestId} was announced granted but failed`);
      }
      if (lease.status === 'ended' && lease.endReason !== 'failed' && revoked === 0) {
        v(`lease ${requestId} ended (${lease.endReason}) without Access Revoked`);
      }
      for (const detailType of ONCE_PER_LEASE) {
        const allowed = 1 + (this.interruptedRepeats.get(`${requestId}|${detailType}`) ?? 0);
        // Dead-letter answers are one per dead-lettered message, not per lease transition.
        const n = (byRequest.get(requestId) ?? []).filter(
          (o) => o.detailType === detailType && o.detail.deadLettered !== true,
        ).length;
        if (n > allowed) v(`${detailType} published ${n} times for ${requestId} (allowed ${allowed})`);
        if (n > 1) this.stats.repeatedOutcomes += n - 1;
      }
    }
    for (const chain of this.chains.values()) {
      const { message, settled } = chain;
      if (message.kind === 'grant' || !settled) continue;
      const lease = leases.get(message.requestId);
      const kinds = chain.outcomes.map((o) => o.detailType);
      switch (settled.status) {
        case 'rejected':
          if (!kinds.includes('Access Grant Rejected')) v(`${message.label} was rejected without an event`);
          break;
        case 'revoked':
          if (!kinds.includes('Access Revoked')) v(`${message.label} revoked without Access Revoked`);
          break;
        case 'extended':
          if (!kinds.includes('Access Extended')) v(`${message.label} extended without Access Extended`);
          break;
        case 'revoking':
        case 'duplicate':
          if (message.kind === 'revoke' && lease?.status !== 'ended') {
            v(
              `${message.label} answered ${settled.status} but lease is ${lease?.status ?? 'missing'} after draining`,
            );
          }
          if (message.kind === 'extend' && count(message.requestId, 'Access Extended') === 0) {
            v(`${message.label} answered duplicate but no extension of ${message.requestId} was announced`);
          }
          break;
      }
    }
    return violations;
  }
}

function settledOf(result: HandleResult): Settled {
  return result.status === 'rejected'
    ? { status: 'rejected', code: result.rejection.code }
    : { status: result.status };
}

function isFinal(settled: Settled): boolean {
  if (settled.status === 'rejected') return !STATE_DEPENDENT_CODES.has(settled.code ?? '');
  return FINAL_STATUSES.has(settled.status);
}

function repeatKey(outcome: Outcome): string {
  return `${String(outcome.detail.requestId)}|${outcome.detailType}`;
}

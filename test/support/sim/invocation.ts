import { RetryableError } from '../../../functions/core/errors';
import { CrashError } from '../crash';
import type { MemoryLeaseTableOperation, TableRequests } from '../fakes/memory-lease-table';
import type { Rng } from './random';
import type { Scheduler } from './scheduler';

/** The broker's Lambda functions, as the simulator invokes them. */
export const FUNCTIONS = [
  'sqs-intake',
  'eventbridge-intake',
  'expiry-timer',
  'sweeper',
  'drift-check',
  'dead-letter',
] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

/** The lease table's requests that change it: a crash or a lost answer after them leaves the change. */
const TABLE_WRITES: ReadonlySet<MemoryLeaseTableOperation> = new Set([
  'createLease',
  'saveLease',
  'saveSubjectState',
  'lock',
  'release',
  'remember',
  'saveDriftCursor',
]);

/**
 * Every port call the broker makes, as `<port>.<operation>`: where an invocation may die (`before`: the call
 * never left; `after`: it was done, and the process died before it heard so). A call of another name is a new
 * path the simulator does not know yet: the run fails until it is listed here.
 */
export const PORT_CALLS = {
  reads: [
    'store.findLease',
    'store.findSubjectLease',
    'store.readSubject',
    'store.dueKeys',
    'store.dueLeases',
    'store.readDriftCursor',
    'store.liveLeasePage',
    'eks.DescribeAccessEntry',
    'eks.ListAssociatedAccessPolicies',
    'eks.DescribeCluster',
    'senders.principalOf',
  ],
  writes: [
    'store.createLease',
    'store.lock',
    'store.saveSubjectState',
    'store.saveLease',
    'store.release',
    'store.saveDriftCursor',
    'eks.CreateAccessEntry',
    'eks.AssociateAccessPolicy',
    'eks.DisassociateAccessPolicy',
    'eks.DeleteAccessEntry',
    'eventbridge.publish',
    'sqs.arm',
  ],
} as const;

const WRITES: ReadonlySet<string> = new Set(PORT_CALLS.writes);

/** Every crash point of the broker: before each port call, and after each that changes something. */
export const CRASH_POINTS: readonly string[] = [
  ...PORT_CALLS.reads.map((call) => `before ${call}`),
  ...PORT_CALLS.writes.flatMap((call) => [`before ${call}`, `after ${call}`]),
];

/** The kinds of fault the simulator injects; a run that never injected one of them fails. */
export const FAULT_KINDS = [
  'eks throttled',
  'eks 5xx',
  'eks connection dropped before commit',
  'eks connection dropped after commit',
  'dynamodb throttled',
  'dynamodb unavailable',
  'dynamodb answer lost after commit',
  'eventbridge PutEvents refused',
  'eventbridge answer lost after publish',
  'sqs SendMessage failed',
  'sqs SendMessage answer lost',
  'sqs duplicate receive',
  'eventbridge invoke throttled (retried)',
  'eventbridge duplicate delivery',
  'handler bug (poison message)',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Probabilities of each fault, per call (per invocation for crashes); a run draws its own set. */
export interface FaultRates {
  readonly crash: number;
  readonly eksThrottle: number;
  readonly eks5xx: number;
  readonly eksDrop: number;
  readonly eksDropAfterCommit: number;
  readonly dynamodbThrottle: number;
  readonly dynamodbUnavailable: number;
  readonly dynamodbLost: number;
  readonly publishRefused: number;
  readonly publishLost: number;
  readonly sendFailed: number;
  readonly sendLost: number;
  readonly duplicateReceive: number;
  readonly invokeThrottled: number;
  readonly duplicateDelivery: number;
}

export const NO_FAULTS: FaultRates = {
  crash: 0,
  eksThrottle: 0,
  eks5xx: 0,
  eksDrop: 0,
  eksDropAfterCommit: 0,
  dynamodbThrottle: 0,
  dynamodbUnavailable: 0,
  dynamodbLost: 0,
  publishRefused: 0,
  publishLost: 0,
  sendFailed: 0,
  sendLost: 0,
  duplicateReceive: 0,
  invokeThrottled: 0,
  duplicateDelivery: 0,
};

/** What an invocation needs of the world it runs in. */
export interface InvocationHost {
  readonly scheduler: Scheduler;
  /** The fault rates in force now (none while the run drains). */
  rates(): FaultRates;
  fault(kind: FaultKind, where: string): void;
  crashed(fn: FunctionName, point: string, invocation: number): void;
  /** Whether a crash point is armed in this run (FoundationDB's BUGGIFY: each is, in some runs). */
  armed(point: string): boolean;
  /** True the first time an armed point is reached in the run (rare calls get their crash too). */
  firstReach(point: string): boolean;
  /** A test's script: crashes and faults it wants where it wants them, whatever the seed says. */
  readonly script?: Script | undefined;
  /** Milliseconds a call takes one way, drawn from the invocation's stream. */
  latency(rng: Rng): number;
}

/** What a test pins down in a scripted run (test/sim): a crash or an EKS throttle at a given call. */
export interface Script {
  /** Dies `before` or `after` this call (the first time it answers so for the invocation). */
  crash?(invocation: Invocation, label: string): 'before' | 'after' | undefined;
  /** EKS answers this attempt ThrottlingException. */
  throttle?(invocation: Invocation, label: string): boolean;
}

/** An injected handler bug: not retryable, so the message ends in the dead-letter queue. */
export class HandlerBugError extends Error {
  override readonly name = 'HandlerBugError';
}

/**
 * One Lambda invocation: its port calls are the yield points of the simulation, each taking a seeded latency
 * there and back, so the calls of concurrent invocations interleave as the seed says. It may die at one of its
 * calls (before it left, or after it was done and before the answer came back), where a crash point is armed
 * for the run: from then on every call it makes throws, as for a process that is gone (its lock stays held
 * until it expires). Arming points per run, firing one at its first reach one time in two and then with a small
 * chance per call, reaches rare calls (a deletion, a disassociation) as surely as common ones, as FoundationDB's
 * BUGGIFY does.
 */
export class Invocation {
  /** Set once dead: the crash point. */
  dead: string | undefined;
  /** Labels whose answer the invocation dies at (a crash point `after` that fired when the call left). */
  private readonly dieAtAnswer = new Set<string>();

  constructor(
    private readonly host: InvocationHost,
    readonly fn: FunctionName,
    readonly id: number,
    /** What it was invoked for: `<message id>#<receive count>`, or the scheduled run's name. */
    readonly key: string,
    readonly rng: Rng,
    /** Probability that an armed crash point fires when this invocation reaches it. */
    private readonly crashRate: number,
  ) {}

  /** The request leaves: its latency, then the crash points armed for this run. */
  async beforeCall(label: string): Promise<void> {
    this.checkAlive();
    await this.host.scheduler.sleep(this.host.latency(this.rng));
    this.checkAlive();
    const scripted = this.host.script?.crash?.(this, label);
    if (scripted === 'before') this.die(`before ${label}`);
    if (scripted === 'after') this.dieAtAnswer.add(label);
    if (this.crashRate === 0) return;
    const before = `before ${label}`;
    if (this.host.armed(before) && this.rng.chance(this.fireRate(before))) this.die(before);
    const after = `after ${label}`;
    if (WRITES.has(label) && this.host.armed(after) && this.rng.chance(this.fireRate(after))) {
      this.dieAtAnswer.add(label);
    }
  }

  private tokens = 0;

  /** An idempotency token no other command of the run carries (the SDK fills in a random one). */
  nextToken(): string {
    return `sim-${this.id}-${++this.tokens}`;
  }

  /** An armed point fires at its first reach in the run one time in two, then at the invocation's rate. */
  private fireRate(point: string): number {
    return this.host.firstReach(point) ? 0.5 : this.crashRate;
  }

  /** The answer comes back (done): the crash plan's `after`, then the latency back (none half the time). */
  async afterCall(label: string): Promise<void> {
    this.checkAlive();
    if (this.dieAtAnswer.has(label)) this.die(`after ${label}`);
    if (this.rng.next() < 0.5) await this.host.scheduler.sleep(this.host.latency(this.rng));
    this.checkAlive();
  }

  /** The lease table as this invocation reaches it: its latency, DynamoDB's faults, its crash plan. */
  readonly table: TableRequests = {
    send: async (operation) => {
      const label = `store.${operation}`;
      await this.beforeCall(label);
      const rates = this.host.rates();
      if (this.rng.chance(rates.dynamodbThrottle)) {
        this.host.fault('dynamodb throttled', label);
        throw new RetryableError(`${operation}: DynamoDB is throttling or unavailable (ThrottlingException)`);
      }
      if (this.rng.chance(rates.dynamodbUnavailable)) {
        this.host.fault('dynamodb unavailable', label);
        throw new RetryableError(`${operation}: DynamoDB is throttling or unavailable (TimeoutError)`);
      }
    },
    answer: async (operation) => {
      const label = `store.${operation}`;
      await this.afterCall(label);
      if (TABLE_WRITES.has(operation) && this.rng.chance(this.host.rates().dynamodbLost)) {
        this.host.fault('dynamodb answer lost after commit', label);
        throw new RetryableError(`${operation}: DynamoDB is throttling or unavailable (ECONNRESET)`);
      }
    },
  };

  private checkAlive(): void {
    if (this.dead !== undefined) throw new CrashError(`dead since ${this.dead}`);
  }

  private die(point: string): never {
    this.dead = point;
    this.host.crashed(this.fn, point, this.id);
    throw new CrashError(`crashed ${point}`);
  }
}

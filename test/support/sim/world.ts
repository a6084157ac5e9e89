import { fileURLToPath } from 'node:url';
import { EksAccess } from '../../../functions/adapters/eks-access';
import { MAX_TIMER_DELAY_SECONDS } from '../../../functions/adapters/expiry-timers';
import { type DeadLetter, settleDeadLetter } from '../../../functions/app/dead-letter';
import type { Log, TicketIntakeDeps } from '../../../functions/app/deps';
import { checkDrift, DriftCheckError } from '../../../functions/app/drift';
import { onTimer, SweepError, sweep } from '../../../functions/app/expiry';
import { takeQueued, takeRequest } from '../../../functions/app/intake';
import type { MetricName } from '../../../functions/app/metrics';
import type { LeaseRef } from '../../../functions/app/ports';
import { readRulesYaml } from '../../../functions/config/access-rules-yaml';
import { DEFAULT_LOCK_WAIT_MS, MAX_RECEIVE_COUNT } from '../../../functions/config/defaults';
import { isRetryable, RetryableError } from '../../../functions/core/errors';
import type { Outcome } from '../../../functions/core/outcomes';
import type { AccessRules } from '../../../functions/core/rules';
import { parseTimerMessage } from '../../../functions/core/timer-message';
import { EksEmulator } from '../../../infra/local/eks/emulator';
import { CrashError } from '../crash';
import { MemoryLeaseTable } from '../fakes/memory-lease-table';
import { MemoryTickets } from '../fakes/memory-tickets';
import type { TrackedSubject } from '../invariants';
import { seedSafetySubjects } from '../subjects';
import { SimEksClient } from './eks-client';
import {
  CRASH_POINTS,
  type FaultKind,
  type FaultRates,
  type FunctionName,
  HandlerBugError,
  Invocation,
  type InvocationHost,
  NO_FAULTS,
  type Script,
} from './invocation';
import { type BatchResult, type QueueMessage, SimQueue } from './queues';
import { Rng, seedOf } from './random';
import { Scheduler } from './scheduler';
import type { SimStats } from './stats';

/** The reviewed rules the broker ships with: the simulator decides with them, as the soak does. */
export const RULES: AccessRules = readRulesYaml(
  fileURLToPath(new URL('../../../infra/access-rules.yaml', import.meta.url)),
);

export const START_MS = Date.UTC(2030, 0, 1);
/** Lambda's timeouts (serverless.yml) and SQS's visibility (six times the consumer's timeout). */
const TIMEOUT_MS: Readonly<Record<FunctionName, number>> = {
  'sqs-intake': 30_000,
  'eventbridge-intake': 30_000,
  'expiry-timer': 30_000,
  'dead-letter': 30_000,
  sweeper: 60_000,
  'drift-check': 60_000,
};
const VISIBILITY_MS = 180_000;
const SWEEP_EVERY_MS = 60_000;
/**
 * The drift check runs every minute when deployed; here every five: each run reconciles every subject, which
 * made half of all port calls at one a minute, for interleavings that five-minute runs give as well.
 */
const DRIFT_EVERY_MS = 300_000;
/** Receives of a dead letter before it counts as stuck (tried every 3 minutes: two hours). */
const STUCK_RECEIVES = 40;
/** Lambda's asynchronous retries of the EventBridge intake: two, about a minute and two minutes later. */
const ASYNC_RETRIES = 2;
/** Failed revocations before a lease turns irrevocable: small, so that runs see it happen (and recover). */
export const REVOCATION_BUDGET = 3;

export const TICKETING_ROLE = 'arn:aws:iam::111122223333:role/ticketing-integration';
export const SENDERS = {
  ticketing: 'AROASIMTICKETING0001:ticketing',
  oncall: 'AROASIMONCALL0000001:alice',
  intruder: 'AROASIMINTRUDER00001:mallory',
} as const;
const KNOWN_SENDERS: Readonly<Record<string, string>> = {
  AROASIMTICKETING0001: TICKETING_ROLE,
  AROASIMONCALL0000001: 'arn:aws:iam::111122223333:role/oncall-alice',
  AROASIMINTRUDER00001: 'arn:aws:iam::111122223333:role/intruder',
};

const QUIET: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** One record of a batch (or the one event of an asynchronous invocation) and what its work did. */
export interface Work {
  /** Message id, or the scheduled run's name. */
  readonly key: string;
  readonly body: string;
  readonly senderId: string | undefined;
  /** The request chain this delivery belongs to (the operation that sent it). */
  readonly chain?: number;
  /** A handler bug hits this record at its n-th port call. */
  poisonAt?: number;
  /** Port calls this record made, EKS mutations applied, lease writes answered, outcomes published. */
  calls: number;
  mutations: number;
  writes: number;
  readonly published: Outcome[];
}

export type WorkResult =
  | { readonly ok: true; readonly status: string; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

/** A record as its function answered it, for the checks (repeats, refusals, terminal outcomes). */
export interface Answered {
  readonly fn: FunctionName;
  readonly invocation: number;
  readonly work: Work;
  readonly result: WorkResult;
  /** The invocation died (crash or timeout) before the record was answered. */
  readonly died: boolean;
}

/** What the world tells the checks and the run driver as it goes. */
export interface WorldObserver {
  beforeWork(fn: FunctionName, work: Work): void;
  answered(answer: Answered): void;
  published(outcome: Outcome, work: Work): void;
  redriven(message: QueueMessage, queue: string): void;
  /** A dead letter that is still not answered after this many receives. */
  stuck(message: QueueMessage): void;
}

/**
 * The whole broker in one process, on the simulated clock: the lease table in memory (the fake the contract
 * suite holds to DynamoDB Local), the EKS emulator in-process behind the real EKS adapter, the requests queue,
 * the timer queue and the three dead-letter queues with their redrive, the EventBridge intake with Lambda's
 * asynchronous retries and on-failure destination, the sweeper and the drift check on their schedules. The
 * functions run the use cases as the handlers do (functions/handlers): SQS batches in parallel with partial
 * batch failures, the sweep and the drift check with their deadlines.
 */
export class SimWorld implements InvocationHost {
  readonly scheduler = new Scheduler(START_MS);
  readonly table: MemoryLeaseTable;
  readonly emulator: EksEmulator;
  readonly subjects: readonly TrackedSubject[];
  readonly principals: readonly string[];
  /** The seq of the last seeding mutation. */
  readonly fromSeq: number;
  readonly requests: SimQueue;
  readonly timers: SimQueue;
  readonly deadLetters: { readonly requests: SimQueue; readonly timers: SimQueue; readonly events: SimQueue };
  /** Every outcome event published, in order. */
  readonly outcomes: Outcome[] = [];
  /** Principals whose leases were written since the checks last looked. */
  readonly touched = new Set<string>();
  /** EKS mutations made by hand (drift), by seq: not the broker's doing. */
  readonly handMutations = new Set<number>();
  readonly metrics = new Map<MetricName, number>();
  /** Lines of the run's trace: the same seed gives the same lines, byte for byte. */
  readonly traceLines: string[] = [];
  observer: WorldObserver | undefined;
  script: Script | undefined;
  private faultRates: FaultRates;
  private invocations = 0;
  private readonly running = new Set<number>();
  private readonly scheduledRunning = new Set<FunctionName>();
  private readonly queueRng: Rng;
  /** The crash points armed in this run. */
  private readonly armedPoints: ReadonlySet<string>;
  private readonly tickets = new MemoryTickets();
  /** The rules the broker decides with (the shipped ones; a test may hand it others, the checks keep these). */
  readonly rules: AccessRules = RULES;
  private readonly rulesForRuns: AccessRules;

  constructor(
    readonly seed: number,
    rates: FaultRates,
    readonly stats: SimStats,
    options: {
      readonly rules?: AccessRules;
      /** The requests queue's visibility timeout: a test may shorten it, as the soak does (30 s). */
      readonly requestsVisibilityMs?: number;
    } = {},
  ) {
    this.faultRates = rates;
    this.rulesForRuns = options.rules ?? RULES;
    this.queueRng = new Rng(seedOf(seed, 'queues'));
    const arming = new Rng(seedOf(seed, 'armed'));
    this.armedPoints = new Set(CRASH_POINTS.filter(() => arming.chance(0.3)));
    const tableRng = new Rng(seedOf(seed, 'table'));
    this.table = new MemoryLeaseTable({
      sleep: this.scheduler.sleep,
      now: () => this.scheduler.peek(),
      random: tableRng.next,
    });
    this.emulator = new EksEmulator({ now: this.scheduler.clock });
    const seeded = seedSafetySubjects(this.emulator, 'sim');
    this.subjects = seeded.subjects;
    this.principals = seeded.principals;
    this.fromSeq = seeded.fromSeq;
    const queueHost = {
      scheduler: this.scheduler,
      rng: this.queueRng,
      duplicateReceiveRate: () => this.faultRates.duplicateReceive,
      fault: (kind: FaultKind, where: string) => this.fault(kind, where),
      trace: (line: string) => this.trace(line),
      redriven: (message: QueueMessage, queue: string) => {
        this.stats.count('messages moved to a dead-letter queue');
        this.trace(`redrive ${queue} ${message.id} after ${message.receiveCount} receives`);
        this.observer?.redriven(message, queue);
      },
    };
    const dlq = (name: string) =>
      new SimQueue(queueHost, { name, visibilityMs: VISIBILITY_MS, batchSize: 10 });
    this.deadLetters = {
      requests: dlq('requests-dlq'),
      timers: dlq('timers-dlq'),
      events: dlq('intake-events-dlq'),
    };
    this.requests = new SimQueue(queueHost, {
      name: 'requests',
      visibilityMs: options.requestsVisibilityMs ?? VISIBILITY_MS,
      maxReceives: MAX_RECEIVE_COUNT,
      deadLetterQueue: this.deadLetters.requests,
      batchSize: 10,
    });
    this.timers = new SimQueue(queueHost, {
      name: 'timers',
      visibilityMs: VISIBILITY_MS,
      maxReceives: MAX_RECEIVE_COUNT,
      deadLetterQueue: this.deadLetters.timers,
      batchSize: 10,
    });
    this.requests.consumer = (batch) =>
      this.consume('sqs-intake', batch, (deps, work) => this.intake(deps, work));
    this.timers.consumer = (batch) =>
      this.consume('expiry-timer', batch, (deps, work) => this.timer(deps, work));
    const deadLetter = (queue: DeadLetter['queue']) => (batch: readonly QueueMessage[]) =>
      this.consume('dead-letter', batch, (deps, work) => this.deadLetter(deps, work, queue));
    this.deadLetters.requests.consumer = deadLetter('requests');
    this.deadLetters.timers.consumer = deadLetter('timers');
    this.deadLetters.events.consumer = deadLetter('intake-events');
  }

  // ---- InvocationHost ----------------------------------------------------------------------------------

  rates(): FaultRates {
    return this.faultRates;
  }

  /** Faults and crashes off: how a run drains before the final checks. */
  calm(): void {
    this.faultRates = NO_FAULTS;
  }

  fault(kind: FaultKind, where: string): void {
    this.stats.fault(kind);
    this.trace(`fault ${kind} at ${where}`);
  }

  armed(point: string): boolean {
    return this.armedPoints.has(point);
  }

  firstReach(point: string): boolean {
    if (this.reachedPoints.has(point)) return false;
    this.reachedPoints.add(point);
    return true;
  }

  private readonly reachedPoints = new Set<string>();

  crashed(fn: FunctionName, point: string, invocation: number): void {
    this.stats.crash(fn, point);
    this.trace(`crash inv${invocation} ${fn} ${point}`);
  }

  /** Milliseconds one way: a few most of the time, now and then a slow one (a GC pause, a cold path). */
  latency(rng: Rng): number {
    const draw = rng.next();
    if (draw < 0.9) return 1 + Math.floor(draw * 22);
    if (draw < 0.99) return 20 + Math.floor((draw - 0.9) * 2000);
    return 200 + Math.floor((draw - 0.99) * 300_000);
  }

  trace(line: string): void {
    this.traceLines.push(`${this.scheduler.peek() - START_MS} ${line}`);
  }

  // ---- the world's inputs ------------------------------------------------------------------------------

  /** A requester sends `body` on the requests queue as `senderId`. */
  sendRequest(id: string, body: string, senderId: string, chain: number, poison: boolean): void {
    if (poison) this.poisoned.add(id);
    this.chains.set(id, chain);
    this.requests.send(id, body, senderId);
  }

  /** A requester's account puts `event` on the bus: the intake rule invokes the EventBridge intake. */
  putEvent(id: string, event: Record<string, unknown>, chain: number, poison: boolean): void {
    if (poison) this.poisoned.add(id);
    this.chains.set(id, chain);
    this.deliverEvent(id, event, 0, 1);
  }

  /** Starts the sweeper and the drift check on their schedules. */
  startSchedules(): void {
    const tick = (fn: 'sweeper' | 'drift-check', every: number) => {
      const next = Math.ceil((this.scheduler.peek() + 1) / every) * every;
      this.scheduler.at(next, () => {
        tick(fn, every);
        // Reserved concurrency 1: a run still going when the next is due makes the next wait its turn.
        if (this.scheduledRunning.has(fn) || !this.schedulesOn) return;
        void this.scheduled(fn, next);
      });
    };
    tick('sweeper', SWEEP_EVERY_MS);
    tick('drift-check', DRIFT_EVERY_MS);
  }

  schedulesOn = true;

  /** True when no invocation runs and no queue holds a message. */
  idle(): boolean {
    return (
      this.running.size === 0 &&
      this.requests.size === 0 &&
      this.timers.size === 0 &&
      this.deadLetters.requests.size === 0 &&
      this.deadLetters.timers.size === 0 &&
      this.deadLetters.events.size === 0 &&
      this.eventsInFlight === 0
    );
  }

  private readonly poisoned = new Set<string>();
  private readonly chains = new Map<string, number>();
  private eventsInFlight = 0;

  // ---- the functions -----------------------------------------------------------------------------------

  private intake(deps: TicketIntakeDeps, work: Work): Promise<WorkResult> {
    return settle(takeQueued(deps, { sqsBody: work.body, senderId: work.senderId }));
  }

  private timer(deps: TicketIntakeDeps, work: Work): Promise<WorkResult> {
    const timer = parseTimerMessage(work.body);
    if (!timer) return Promise.resolve({ ok: true, status: 'ignored', value: undefined });
    return settle(onTimer(deps, timer));
  }

  private deadLetter(deps: TicketIntakeDeps, work: Work, queue: DeadLetter['queue']): Promise<WorkResult> {
    return settle(settleDeadLetter(deps, { body: work.body, queue, senderId: work.senderId }));
  }

  private async consume(
    fn: FunctionName,
    batch: readonly QueueMessage[],
    handle: (deps: TicketIntakeDeps, work: Work) => Promise<WorkResult>,
  ): Promise<BatchResult> {
    const first = batch[0] as QueueMessage;
    const works = batch.map((message) => {
      const work = this.work(message.id, message.body, message.senderId);
      if (fn === 'dead-letter' && message.receiveCount > STUCK_RECEIVES) this.observer?.stuck(message);
      return work;
    });
    const { died, results } = await this.invoke(fn, `${first.id}#${first.receiveCount}`, works, handle);
    if (died) return 'crashed';
    return { delete: batch.filter((_, i) => results[i]?.ok).map((m) => m.id) };
  }

  private work(key: string, body: string, senderId: string | undefined): Work {
    const chain = this.chains.get(key.split('.')[0] ?? key);
    return {
      key,
      body,
      senderId,
      ...(chain === undefined ? {} : { chain }),
      calls: 0,
      mutations: 0,
      writes: 0,
      published: [],
    };
  }

  private deliverEvent(id: string, event: Record<string, unknown>, retries: number, attempt: number): void {
    this.eventsInFlight++;
    const rng = new Rng(seedOf(this.seed, 'event', id, attempt));
    this.scheduler.at(this.scheduler.peek() + rng.int(5, 500), () => {
      this.eventsInFlight--;
      if (rng.chance(this.faultRates.invokeThrottled)) {
        // Lambda throttled the invoke: EventBridge retries it with backoff (its own 24-hour budget).
        this.fault('eventbridge invoke throttled (retried)', id);
        this.eventsInFlight++;
        this.scheduler.at(this.scheduler.peek() + rng.int(1_000, 60_000), () => {
          this.eventsInFlight--;
          this.deliverEvent(id, event, retries, attempt + 1);
        });
        return;
      }
      if (rng.chance(this.faultRates.duplicateDelivery)) {
        this.fault('eventbridge duplicate delivery', id);
        this.deliverEvent(id, event, retries, attempt + 1000);
      }
      this.eventsInFlight++;
      void this.invokeAsync(id, event, retries, attempt).finally(() => {
        this.eventsInFlight--;
      });
    });
  }

  /** The EventBridge intake as Lambda invokes it asynchronously: two retries, then the on-failure destination. */
  private async invokeAsync(
    id: string,
    event: Record<string, unknown>,
    retries: number,
    attempt: number,
  ): Promise<void> {
    const work = this.work(id, JSON.stringify(event), undefined);
    const { died, results } = await this.invoke('eventbridge-intake', `${id}#${attempt}`, [work], (deps) =>
      settle(takeRequest(deps, { event })),
    );
    const result = results[0];
    if (!died && result?.ok) return;
    const error = died ? 'Task timed out or the process exited' : errorMessage(result);
    if (retries < ASYNC_RETRIES) {
      this.eventsInFlight++;
      this.scheduler.at(this.scheduler.peek() + 60_000 * (retries + 1), () => {
        this.eventsInFlight--;
        void this.invokeAsync(id, event, retries + 1, attempt + 1);
      });
      return;
    }
    const record = {
      version: '1.0',
      timestamp: new Date(this.scheduler.peek()).toISOString(),
      requestContext: {
        requestId: `${id}-${attempt}`,
        functionArn: 'arn:aws:lambda:us-east-1:111122223333:function:eventbridge-intake',
        condition: 'RetriesExhausted',
        approximateInvokeCount: retries + 1,
      },
      requestPayload: event,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: { errorType: 'Error', errorMessage: error },
    };
    this.stats.count('events sent to the on-failure destination');
    this.trace(`on-failure ${id} -> intake-events-dlq`);
    this.deadLetters.events.send(id, JSON.stringify(record), undefined);
  }

  private async scheduled(fn: 'sweeper' | 'drift-check', at: number): Promise<void> {
    this.scheduledRunning.add(fn);
    const work = this.work(`${fn}@${at - START_MS}`, '', undefined);
    await this.invoke(fn, `${fn}@${at}`, [work], async (deps) => {
      const deadline = this.scheduler.peek() + TIMEOUT_MS[fn] - 10_000;
      if (fn === 'sweeper') {
        return settle(sweep(deps, { deadline, intervalSeconds: 60 }));
      }
      return settle(checkDrift(deps, { deadline }));
    });
    this.scheduledRunning.delete(fn);
  }

  /**
   * One Lambda invocation of `fn` on `works` (in parallel, as Powertools' BatchProcessor): deps of its own,
   * a crash plan and a stream seeded by `key`, killed at its timeout.
   */
  async invoke(
    fn: FunctionName,
    key: string,
    works: readonly Work[],
    handle: (deps: TicketIntakeDeps, work: Work) => Promise<WorkResult>,
  ): Promise<{ died: boolean; results: readonly (WorkResult | undefined)[] }> {
    const id = ++this.invocations;
    const rng = new Rng(seedOf(this.seed, 'invoke', fn, key));
    // Per call, where armed; the dead-letter function runs seldom and matters most: it dies more often.
    const crashRate = (fn === 'dead-letter' ? 4 : 1) * (this.faultRates.crash / 6);
    const invocation = new Invocation(this, fn, id, key, rng, crashRate);
    this.running.add(id);
    this.stats.invocation(fn);
    this.trace(`inv${id} ${fn} start [${works.map((w) => w.key).join(' ')}]`);
    let finished = false;
    this.scheduler.at(this.scheduler.peek() + TIMEOUT_MS[fn], () => {
      if (finished || invocation.dead !== undefined) return;
      invocation.dead = 'timeout';
      this.stats.count(`Lambda timeouts: ${fn}`);
      this.trace(`inv${id} ${fn} timed out`);
    });
    const results = await Promise.all(
      works.map(async (work) => {
        const intake = fn === 'sqs-intake' || fn === 'eventbridge-intake';
        if (intake && this.poisoned.has(work.key.split('.')[0] ?? work.key)) work.poisonAt = rng.int(1, 8);
        this.observer?.beforeWork(fn, work);
        const result = await handle(this.deps(invocation, work), work);
        return result;
      }),
    );
    finished = true;
    this.running.delete(id);
    const died = invocation.dead !== undefined;
    for (const [i, work] of works.entries()) {
      const result = results[i] as WorkResult;
      this.trace(`inv${id} ${work.key} -> ${died ? `died (${invocation.dead})` : describe(result)}`);
      this.observer?.answered({ fn, invocation: id, work, result, died });
    }
    return { died, results: died ? [] : results };
  }

  /** The deps of one record of an invocation: the ports as the invocation reaches them. */
  private deps(invocation: Invocation, work: Work): TicketIntakeDeps {
    const step = () => {
      work.calls++;
      if (work.poisonAt !== undefined && work.calls >= work.poisonAt) {
        work.poisonAt = undefined;
        this.fault('handler bug (poison message)', work.key);
        throw new HandlerBugError(`handler bug while working ${work.key} (injected)`);
      }
    };
    const store = this.table.through({
      send: async (operation) => {
        step();
        await invocation.table.send(operation);
      },
      answer: async (operation) => {
        if (operation === 'saveLease') work.writes++;
        await invocation.table.answer(operation);
      },
    });
    const createLease = store.createLease.bind(store);
    store.createLease = async (...args) => {
      this.touched.add(args[0].principalArn);
      const created = await createLease(...args);
      if (created.created) work.writes++;
      return created;
    };
    const saveLease = store.saveLease.bind(store);
    store.saveLease = (...args) => {
      this.touched.add(args[0].principalArn);
      return saveLease(...args);
    };
    const client = new SimEksClient(this.emulator, invocation, this, () => {
      work.mutations++;
    });
    const eksClient = {
      send: (command: object) => {
        step();
        return client.send(command);
      },
    };
    return {
      store,
      locks: store,
      eks: new EksAccess({
        clientFor: () => eksClient as ReturnType<SimEksClient['asClient']>,
        sleep: this.scheduler.sleep,
        random: invocation.rng.next,
      }),
      publisher: {
        publish: async (outcomes) => {
          step();
          await invocation.beforeCall('eventbridge.publish');
          if (invocation.rng.chance(this.faultRates.publishRefused)) {
            this.fault('eventbridge PutEvents refused', work.key);
            throw new RetryableError('EventBridge refused 1 outcome event(s): InternalFailure (injected)');
          }
          for (const outcome of outcomes) {
            const copy = JSON.parse(JSON.stringify(outcome)) as Outcome;
            this.outcomes.push(copy);
            work.published.push(copy);
            this.trace(`publish ${copy.detailType} ${String(copy.detail.requestId)} ${reasonOf(copy)}`);
            this.observer?.published(copy, work);
          }
          await invocation.afterCall('eventbridge.publish');
          if (invocation.rng.chance(this.faultRates.publishLost)) {
            this.fault('eventbridge answer lost after publish', work.key);
            throw new RetryableError('Could not publish outcome events: socket hang up (injected)');
          }
        },
      },
      timers: {
        maxDelaySeconds: MAX_TIMER_DELAY_SECONDS,
        arm: async (timer, delaySeconds) => {
          step();
          await invocation.beforeCall('sqs.arm');
          if (invocation.rng.chance(this.faultRates.sendFailed)) {
            this.fault('sqs SendMessage failed', work.key);
            throw new RetryableError(`Could not arm the expiry timer of ${timer.requestId} (injected)`);
          }
          const delay = Math.min(MAX_TIMER_DELAY_SECONDS, Math.max(0, Math.ceil(delaySeconds)));
          this.timers.send(
            `timer-${timer.requestId}@${timer.expiresAt}`,
            JSON.stringify(timer),
            undefined,
            delay * 1000,
          );
          await invocation.afterCall('sqs.arm');
          if (invocation.rng.chance(this.faultRates.sendLost)) {
            this.fault('sqs SendMessage answer lost', work.key);
            throw new RetryableError(
              `Could not arm the expiry timer of ${timer.requestId}: ECONNRESET (injected)`,
            );
          }
        },
      },
      rules: this.rulesForRuns,
      clock: this.scheduler.clock,
      log: QUIET,
      metrics: { add: (name, value = 1) => this.metrics.set(name, (this.metrics.get(name) ?? 0) + value) },
      lockWaitMs: DEFAULT_LOCK_WAIT_MS,
      revocationBudget: REVOCATION_BUDGET,
      senders: {
        principalOf: async (senderId) => {
          step();
          await invocation.beforeCall('senders.principalOf');
          const principal = KNOWN_SENDERS[senderId.split(':')[0] ?? ''];
          await invocation.afterCall('senders.principalOf');
          return principal;
        },
      },
      proofs: { callerOf: async () => undefined },
      nonces: store,
      audience: 'eks-access-broker-sim',
      webhookSender: undefined,
      tickets: this.tickets,
    };
  }

  // ---- an operator at the console ----------------------------------------------------------------------

  /** Deletes the subject's entry, or narrows one of its associations, by hand (drift): never widens anything. */
  handEdit(subject: number, action: 'delete' | 'narrow'): string {
    const principalArn = this.principals[subject] as string;
    const before = this.emulator.mutations().length;
    let done = 'nothing to change';
    try {
      if (action === 'delete') {
        this.emulator.deleteAccessEntry('demo', principalArn);
        done = 'deleted the entry';
      } else {
        const listed = this.emulator.listAssociatedAccessPolicies({ clusterName: 'demo', principalArn });
        const association = listed.associatedAccessPolicies[0];
        if (association) {
          const { policyArn, accessScope } = association;
          const name = policyArn.replace(/^.*\//, '');
          // Always narrower than what was there: cluster to one namespace, several to the first, one to none.
          if (accessScope.type === 'cluster' || accessScope.namespaces.length > 1) {
            const namespaces =
              accessScope.type === 'cluster' ? ['kube-system'] : accessScope.namespaces.slice(0, 1);
            this.emulator.associateAccessPolicy({
              clusterName: 'demo',
              principalArn,
              policyArn,
              accessScope: { type: 'namespace', namespaces },
            });
            done = `narrowed ${name} to ${namespaces.join(',')}`;
          } else {
            this.emulator.disassociateAccessPolicy({ clusterName: 'demo', principalArn, policyArn });
            done = `removed ${name}`;
          }
        }
      }
    } catch {
      done = 'no entry to change';
    }
    for (const m of this.emulator.mutations().slice(before)) this.handMutations.add(m.seq);
    return done;
  }

  /** Where a lease is stored, for the checks. */
  refOf(requestId: string, subject: number): LeaseRef {
    return { clusterName: 'demo', principalArn: this.principals[subject] as string, requestId };
  }
}

async function settle(promise: Promise<{ readonly status: string } | object>): Promise<WorkResult> {
  try {
    const value = await promise;
    const status = 'status' in value && typeof value.status === 'string' ? value.status : 'done';
    return { ok: true, status, value };
  } catch (error) {
    return { ok: false, error };
  }
}

function errorMessage(result: WorkResult | undefined): string {
  if (!result || result.ok) return 'unknown';
  return result.error instanceof Error ? result.error.message : String(result.error);
}

function describe(result: WorkResult): string {
  if (result.ok) {
    const value = result.value as { rejection?: { code?: string } } | undefined;
    return value?.rejection?.code ? `${result.status} ${value.rejection.code}` : result.status;
  }
  const error = result.error;
  return error instanceof Error
    ? `error ${error.name}: ${error.message.slice(0, 120)}`
    : `error ${String(error)}`;
}

function reasonOf(outcome: Outcome): string {
  const detail = outcome.detail;
  return String(detail.code ?? detail.reason ?? '');
}

/** An error the broker throws to have its message delivered again, or the end of a dead or buggy process. */
export function expectedFailure(error: unknown): boolean {
  if (isRetryable(error) || error instanceof CrashError || error instanceof HandlerBugError) return true;
  if (error instanceof SweepError) return true;
  if (error instanceof DriftCheckError) return error.failures.every(expectedFailure);
  return false;
}

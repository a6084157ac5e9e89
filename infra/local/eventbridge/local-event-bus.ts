import { randomUUID } from 'node:crypto';
import { evaluateResourcePolicy, type PolicyDocument } from '../auth/resource-policy';
import type { AuthenticatedCaller } from '../identities';
import type {
  BusAccessDenial,
  BusEvent,
  BusEventPattern,
  BusListener,
  FailedDelivery,
  LocalBusEvent,
  LocalEventBusOptions,
  PutEventsEntry,
  PutEventsResult,
  PutEventsResultEntry,
} from './types';
import { validateEntry, validateRequest } from './validation';

/** Lambda retries a failed asynchronous invocation twice; here the waits are short so tests stay fast. */
const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [100, 200];
const EVENT_BUS_ARN = /^arn:aws[\w-]*:events:([a-z0-9-]+):(\d{12}):event-bus\/(.+)$/;

interface Subscription {
  readonly pattern: BusEventPattern;
  readonly busName: string;
  readonly listener: BusListener;
}

/**
 * The EventBridge PutEvents side of the local edge plus rules with Lambda targets, in memory.
 *
 * Deviation from AWS, on purpose: an entry for a bus that does not exist fails with ResourceNotFoundException
 * instead of being accepted and silently dropped, so a typo in a local setup shows up at once.
 */
export class LocalEventBus {
  private readonly accountId: string;
  private readonly region: string;
  private readonly buses: Set<string>;
  private readonly retryDelaysMs: readonly number[];
  private readonly now: () => Date;
  private readonly subscriptions = new Set<Subscription>();
  private readonly policies = new Map<string, PolicyDocument>();
  private readonly accepted: LocalBusEvent[] = [];
  private readonly failures: FailedDelivery[] = [];
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(options: LocalEventBusOptions) {
    this.accountId = options.accountId;
    this.region = options.region;
    this.buses = new Set(['default', ...(options.busNames ?? [])]);
    this.retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.now = options.now ?? (() => new Date());
  }

  busArn(busName: string): string {
    return `arn:aws:events:${this.region}:${this.accountId}:event-bus/${busName}`;
  }

  /**
   * Attaches a resource policy to a bus (PutPermission with a whole policy): from then on PutEvents over HTTP is
   * decided by it (see authorize). A bus without one lets every caller of the account put, as in AWS.
   */
  setPolicy(busName: string, document: PolicyDocument): void {
    if (!this.buses.has(busName)) throw new Error(`Event bus ${busName} does not exist.`);
    this.policies.set(busName, document);
  }

  /**
   * Whether `caller` may make this PutEvents call, by the policy of every bus its entries name. One evaluation per
   * bus with every value of its entries (events:source and events:detail-type are multivalued keys for PutEvents in
   * the Service Authorization Reference), so one entry a policy denies fails the whole call, as an authorization
   * of the request does: AWS answers AccessDeniedException for the call, not a failed entry. Entries for buses
   * without a policy, or that do not exist, are left to put(). Resolves to the first refusal, or undefined.
   */
  async authorize(
    entries: readonly PutEventsEntry[],
    caller: AuthenticatedCaller,
  ): Promise<BusAccessDenial | undefined> {
    const byBus = new Map<string, PutEventsEntry[]>();
    for (const entry of entries) {
      const busName = this.resolveBusName(entry.EventBusName);
      if (!this.policies.has(busName)) continue;
      byBus.set(busName, [...(byBus.get(busName) ?? []), entry]);
    }
    for (const [busName, busEntries] of byBus) {
      const values = (field: 'Source' | 'DetailType') =>
        busEntries.flatMap((entry) => (entry[field] === undefined ? [] : [entry[field]]));
      const busArn = this.busArn(busName);
      const decision = await evaluateResourcePolicy(this.policies.get(busName) as PolicyDocument, {
        caller,
        action: 'events:PutEvents',
        resourceArn: busArn,
        resourceAccount: this.accountId,
        context: { 'events:source': values('Source'), 'events:detail-type': values('DetailType') },
      });
      if (!decision.allowed) return { busArn, explicit: decision.explicit };
    }
    return undefined;
  }

  /**
   * PutEvents in process: the same validation and result as over HTTP, but no policy is evaluated: this is the
   * tests' and the handlers' plumbing, not an AWS call (PutEvents over HTTP is authorized first). Throws
   * EventBusValidationError.
   * `sender` is who signed the call: its account is the events' `account`, as EventBridge stamps it; in-process
   * puts without one come from the bus's own account.
   */
  put(entries: readonly PutEventsEntry[], sender?: Pick<AuthenticatedCaller, 'account'>): PutEventsResult {
    validateRequest(entries);
    const account = sender?.account ?? this.accountId;
    const results = entries.map((entry) => this.accept(entry, account));
    return {
      FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length,
      Entries: results,
    };
  }

  /**
   * An AWS service's own event, as the service puts it on the account's bus: CloudTrail's for an API call, for
   * one. PutEvents refuses the `aws.` sources to everyone else (NotAuthorizedForSourceException), so they come
   * in here only. Answers the event's id.
   */
  putServiceEvent(entry: PutEventsEntry): string {
    const result = this.accept(entry, this.accountId, { service: true });
    if ('ErrorCode' in result) throw new Error(`The service event was refused: ${result.ErrorMessage}`);
    return result.EventId;
  }

  events(): readonly LocalBusEvent[] {
    return [...this.accepted];
  }

  failedDeliveries(): readonly FailedDelivery[] {
    return [...this.failures];
  }

  /** Like a rule with a Lambda target; returns the function that deletes the rule. */
  subscribe(pattern: BusEventPattern, listener: BusListener): () => void {
    const busName = this.resolveBusName(pattern.busName);
    // PutRule fails on a missing bus too; a rule that can never match is almost always a typo.
    if (!this.buses.has(busName)) throw new Error(`Event bus ${busName} does not exist.`);
    const subscription: Subscription = { pattern, busName, listener };
    this.subscriptions.add(subscription);
    return () => {
      this.subscriptions.delete(subscription);
    };
  }

  /** Resolves once no delivery is running or waiting for a retry. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Forgets recorded events and failures; rules and deliveries in progress are kept. */
  clear(): void {
    this.accepted.length = 0;
    this.failures.length = 0;
  }

  private accept(
    entry: PutEventsEntry,
    account: string,
    options: { readonly service?: boolean } = {},
  ): PutEventsResultEntry {
    const failure = options.service ? undefined : validateEntry(entry);
    if (failure) return failure;
    const busName = this.resolveBusName(entry.EventBusName);
    if (!this.buses.has(busName)) {
      return { ErrorCode: 'ResourceNotFoundException', ErrorMessage: `Event bus ${busName} does not exist.` };
    }
    const id = randomUUID();
    const event: BusEvent = {
      version: '0',
      id,
      'detail-type': entry.DetailType as string,
      source: entry.Source as string,
      account,
      // EventBridge stamps whole seconds.
      time: (entry.Time ?? this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.region,
      resources: [...(entry.Resources ?? [])],
      detail: JSON.parse(entry.Detail as string) as unknown,
    };
    this.accepted.push({ busName, event });
    for (const subscription of this.subscriptions) {
      if (matches(subscription, busName, event)) this.deliver(subscription, busName, event);
    }
    return { EventId: id };
  }

  private resolveBusName(nameOrArn: string | undefined): string {
    if (nameOrArn === undefined || nameOrArn === '') return 'default';
    const arn = EVENT_BUS_ARN.exec(nameOrArn);
    if (!arn) return nameOrArn;
    // A bus ARN in another account or region names a bus this edge does not have.
    return arn[1] === this.region && arn[2] === this.accountId ? (arn[3] ?? nameOrArn) : nameOrArn;
  }

  private deliver(subscription: Subscription, busName: string, event: BusEvent): void {
    // Counted before the first await so that `put(...)` followed by `idle()` waits for this delivery.
    this.inFlight += 1;
    void this.attemptDelivery(subscription, busName, event).finally(() => {
      this.inFlight -= 1;
      if (this.inFlight === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    });
  }

  private async attemptDelivery(subscription: Subscription, busName: string, event: BusEvent): Promise<void> {
    // PutEvents answers before any target runs, as in AWS.
    await new Promise((resolve) => setImmediate(resolve));
    const attempts = this.retryDelaysMs.length + 1;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      try {
        // Each target gets its own copy: one handler mutating the event must not change what another sees.
        await subscription.listener(structuredClone(event));
        return;
      } catch (error) {
        lastError = error;
        const delay = this.retryDelaysMs[attempt - 1];
        if (delay !== undefined) await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    this.failures.push({
      busName,
      event,
      pattern: subscription.pattern,
      attempts,
      error: lastError,
      failedAt: this.now(),
    });
  }
}

function matches(subscription: Subscription, busName: string, event: BusEvent): boolean {
  const { source, detailType } = subscription.pattern;
  return (
    subscription.busName === busName &&
    (source === undefined || source.includes(event.source)) &&
    (detailType === undefined || detailType.includes(event['detail-type']))
  );
}

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { EventBridgeEvent } from 'aws-lambda';
import { type EdgeRequest, type ServiceHandler, sendAwsError, sendJson } from '../http';

const CONTENT_TYPE = 'application/x-amz-json-1.1';
const MAX_ENTRIES = 10;
/** PutEvents counts Time, Source, DetailType, Detail and Resources against this, summed over the request. */
export const MAX_PUT_EVENTS_BYTES = 256 * 1024;
/** The Time field counts as a fixed 14 bytes in AWS's documented entry-size formula. */
const TIME_FIELD_BYTES = 14;
/** Lambda retries a failed asynchronous invocation twice; here the waits are short so tests stay fast. */
const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [100, 200];
const MAX_RENDERED_CHARS = 2048;
const EVENT_BUS_ARN = /^arn:aws[\w-]*:events:([a-z0-9-]+):(\d{12}):event-bus\/(.+)$/;
const EVENT_BUS_NAME =
  /^(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[/.\-_A-Za-z0-9]+$/;

export interface LocalEventBusOptions {
  readonly accountId: string;
  readonly region: string;
  /** Buses besides "default" and "eks-access-broker", which always exist. */
  readonly busNames?: readonly string[];
  /** Waits between delivery attempts; one entry per retry (Lambda async invoke: two retries). */
  readonly retryDelaysMs?: readonly number[];
  readonly now?: () => Date;
}

/** One PutEvents entry as the API takes it; Time is a Date in process and epoch seconds on the wire. */
export interface PutEventsEntry {
  readonly Source?: string;
  readonly DetailType?: string;
  readonly Detail?: string;
  readonly EventBusName?: string;
  readonly Resources?: readonly string[];
  readonly Time?: Date;
  readonly TraceHeader?: string;
}

export type PutEventsResultEntry =
  | { readonly EventId: string }
  | { readonly ErrorCode: string; readonly ErrorMessage: string };

export interface PutEventsResult {
  readonly FailedEntryCount: number;
  readonly Entries: readonly PutEventsResultEntry[];
}

export type BusEvent = EventBridgeEvent<string, unknown>;

export interface LocalBusEvent {
  readonly busName: string;
  readonly event: BusEvent;
}

/** The subset of an EventBridge event pattern the broker's rules need; an omitted field matches anything. */
export interface BusEventPattern {
  readonly source?: readonly string[];
  readonly detailType?: readonly string[];
  /** The bus the rule lives on; "default" when omitted, like PutRule. */
  readonly busName?: string;
}

export type BusListener = (event: BusEvent) => Promise<void>;

export interface FailedDelivery {
  readonly busName: string;
  readonly event: BusEvent;
  readonly pattern: BusEventPattern;
  readonly attempts: number;
  readonly error: unknown;
  readonly failedAt: Date;
}

/** A request-level rejection, raised as the `ValidationException` the SDK would surface. */
export class EventBusValidationError extends Error {
  override readonly name = 'ValidationException';
}

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
  readonly handler: ServiceHandler;
  private readonly accountId: string;
  private readonly region: string;
  private readonly buses: Set<string>;
  private readonly retryDelaysMs: readonly number[];
  private readonly now: () => Date;
  private readonly subscriptions = new Set<Subscription>();
  private readonly accepted: LocalBusEvent[] = [];
  private readonly failures: FailedDelivery[] = [];
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(options: LocalEventBusOptions) {
    this.accountId = options.accountId;
    this.region = options.region;
    this.buses = new Set(['default', 'eks-access-broker', ...(options.busNames ?? [])]);
    this.retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.now = options.now ?? (() => new Date());
    this.handler = (req, res) => this.handle(req, res);
  }

  busArn(busName: string): string {
    return `arn:aws:events:${this.region}:${this.accountId}:event-bus/${busName}`;
  }

  /** PutEvents in process: the same validation and result as over HTTP. Throws EventBusValidationError. */
  put(entries: readonly PutEventsEntry[]): PutEventsResult {
    const requestErrors = validateRequest(entries);
    if (requestErrors.length > 0) throw new EventBusValidationError(validationMessage(requestErrors));
    if (entries.reduce((sum, entry) => sum + entrySize(entry), 0) > MAX_PUT_EVENTS_BYTES) {
      throw new EventBusValidationError('Total size of the entries in the request is over the limit.');
    }
    const results = entries.map((entry) => this.accept(entry));
    return {
      FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length,
      Entries: results,
    };
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

  private accept(entry: PutEventsEntry): PutEventsResultEntry {
    const failure = validateEntry(entry);
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
      account: this.accountId,
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

  private async handle(req: EdgeRequest, res: ServerResponse): Promise<void> {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target !== 'AWSEvents.PutEvents') {
      const operation = target.slice('AWSEvents.'.length);
      sendError(
        res,
        400,
        'UnknownOperationException',
        `The local edge does not emulate EventBridge ${operation}.`,
      );
      return;
    }
    const body = parseBody(req.body);
    if (body === undefined) {
      sendError(res, 400, 'SerializationException', 'The request body is not a JSON object.');
      return;
    }
    const entries = readWireEntries(body.Entries);
    if (typeof entries === 'string') {
      sendError(res, 400, 'SerializationException', entries);
      return;
    }
    let result: PutEventsResult;
    try {
      result = this.put(entries);
    } catch (error) {
      if (error instanceof EventBusValidationError) {
        sendError(res, 400, 'ValidationException', error.message);
        return;
      }
      throw error;
    }
    sendJson(res, 200, result, CONTENT_TYPE);
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

/** Per-entry checks, in the order EventBridge applies them, with its codes and messages. */
function validateEntry(entry: PutEventsEntry): PutEventsResultEntry | undefined {
  for (const field of ['Source', 'DetailType', 'Detail'] as const) {
    if (!entry[field]) {
      return {
        ErrorCode: 'InvalidArgument',
        ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.`,
      };
    }
  }
  if (entry.Source?.toLowerCase().startsWith('aws.')) {
    return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' };
  }
  if (!isJsonObject(entry.Detail as string)) {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  return undefined;
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** Model constraints the service checks before looking at any entry (a ValidationException for the request). */
function validateRequest(entries: readonly PutEventsEntry[]): string[] {
  if (entries.length < 1 || entries.length > MAX_ENTRIES) {
    const bound =
      entries.length < 1 ? 'greater than or equal to 1' : `less than or equal to ${String(MAX_ENTRIES)}`;
    return [
      `Value '${renderEntries(entries)}' at 'entries' failed to satisfy constraint: Member must have length ${bound}`,
    ];
  }
  const errors: string[] = [];
  entries.forEach((entry, index) => {
    const at = (member: string) => `at 'entries.${String(index + 1)}.member.${member}'`;
    const tooLong = (member: string, value: string | undefined, max: number) => {
      if (value !== undefined && value.length > max) {
        errors.push(
          `Value '${value}' ${at(member)} failed to satisfy constraint: Member must have length less than or equal to ${String(max)}`,
        );
      }
    };
    tooLong('source', entry.Source, 256);
    tooLong('detailType', entry.DetailType, 128);
    tooLong('eventBusName', entry.EventBusName, 1600);
    if (entry.EventBusName && !EVENT_BUS_NAME.test(entry.EventBusName)) {
      errors.push(
        `Value '${entry.EventBusName}' ${at('eventBusName')} failed to satisfy constraint: Member must satisfy regular expression pattern: ${EVENT_BUS_NAME.source.slice(1, -1)}`,
      );
    }
  });
  return errors;
}

function validationMessage(errors: readonly string[]): string {
  const count = errors.length === 1 ? '1 validation error' : `${String(errors.length)} validation errors`;
  return `${count} detected: ${errors.join('; ')}`;
}

/** The Java toString AWS echoes in its constraint messages, close enough to recognise the request. */
function renderEntries(entries: readonly PutEventsEntry[]): string {
  const field = (value: string | undefined) => (value === undefined ? 'null' : value);
  const items = entries.map(
    (entry) =>
      `PutEventsRequestEntry(time=${entry.Time ? entry.Time.toISOString() : 'null'}, source=${field(entry.Source)}, ` +
      `resources=[${(entry.Resources ?? []).join(', ')}], detailType=${field(entry.DetailType)}, ` +
      `detail=${field(entry.Detail)}, eventBusName=${field(entry.EventBusName)}, traceHeader=${field(entry.TraceHeader)})`,
  );
  const rendered = `[${items.join(', ')}]`;
  // Ten entries can carry 256 KiB of detail; the message only needs to show which request it was.
  return rendered.length > MAX_RENDERED_CHARS ? `${rendered.slice(0, MAX_RENDERED_CHARS)}...` : rendered;
}

function entrySize(entry: PutEventsEntry): number {
  const bytes = (value: string | undefined) => (value === undefined ? 0 : Buffer.byteLength(value, 'utf8'));
  return (
    (entry.Time ? TIME_FIELD_BYTES : 0) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((sum, resource) => sum + bytes(resource), 0)
  );
}

function parseBody(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return {};
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Wire entries to PutEventsEntry, or the reason the JSON does not fit the model. */
function readWireEntries(value: unknown): PutEventsEntry[] | string {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return 'Entries must be a list.';
  const entries: PutEventsEntry[] = [];
  for (const item of value) {
    if (!isRecord(item)) return 'Each entry must be a structure.';
    const strings: Record<string, string> = {};
    for (const key of ['Source', 'DetailType', 'Detail', 'EventBusName', 'TraceHeader'] as const) {
      const field = item[key];
      if (field === undefined || field === null) continue;
      if (typeof field !== 'string') return `${key} must be a string.`;
      strings[key] = field;
    }
    const resources = item.Resources;
    if (
      resources !== undefined &&
      resources !== null &&
      !(Array.isArray(resources) && resources.every((r) => typeof r === 'string'))
    ) {
      return 'Resources must be a list of strings.';
    }
    const time = readTimestamp(item.Time);
    if (time === null) return 'Time must be a timestamp.';
    entries.push({
      ...strings,
      ...(Array.isArray(resources) ? { Resources: resources as string[] } : {}),
      ...(time ? { Time: time } : {}),
    });
  }
  return entries;
}

/** JSON protocols send timestamps as epoch seconds; some clients send ISO strings. null means unreadable. */
function readTimestamp(value: unknown): Date | undefined | null {
  if (value === undefined || value === null) return undefined;
  const date =
    typeof value === 'number'
      ? new Date(value * 1000)
      : typeof value === 'string'
        ? new Date(value)
        : undefined;
  return date && !Number.isNaN(date.getTime()) ? date : null;
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  sendAwsError(res, status, type, message, { contentType: CONTENT_TYPE, extraBody: { __type: type } });
}

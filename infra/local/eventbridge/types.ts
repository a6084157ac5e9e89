import type { EventBridgeEvent } from 'aws-lambda';

export interface LocalEventBusOptions {
  readonly accountId: string;
  readonly region: string;
  /** Buses besides "default", which always exists. */
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

/** A PutEvents call a bus policy refused: which bus, and whether a Deny statement did. */
export interface BusAccessDenial {
  readonly busArn: string;
  readonly explicit: boolean;
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

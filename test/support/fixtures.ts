import { readFileSync } from 'node:fs';
import type { EventBridgeEvent, SQSEvent } from 'aws-lambda';

type RequestEvent = EventBridgeEvent<string, Record<string, unknown>>;

/** A sample event from events/, as integrators send it: the fixtures of the handler tests. */
export function sampleEvent(name: string): RequestEvent {
  return JSON.parse(readFileSync(`events/${name}`, 'utf8')) as RequestEvent;
}

export function sampleSqsEvent(name: string): SQSEvent {
  return JSON.parse(readFileSync(`events/${name}`, 'utf8')) as SQSEvent;
}

/** The sample with some detail fields replaced (each test uses its own requestId and principal). */
export function withDetail(event: RequestEvent, changes: Record<string, unknown>): RequestEvent {
  return { ...event, id: crypto.randomUUID(), detail: { ...event.detail, ...changes } };
}

let counter = 0;

/** A principal no other test uses, so tests sharing one lease table never share a subject. */
export function freshPrincipal(prefix = 'tester'): string {
  counter += 1;
  return `arn:aws:iam::111122223333:role/${prefix}-${process.pid}-${counter}`;
}

export function freshRequestId(prefix = 'REQ'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

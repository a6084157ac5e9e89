import { randomUUID } from 'node:crypto';
import type { EventBridgeEvent } from 'aws-lambda';
import type { LeaseStore } from '../../functions/adapters/lease-table';
import type { AppDeps } from '../../functions/app/deps';
import { DETAIL_TYPES } from '../../functions/core/contract';
import type { LocalBroker } from '../../infra/local/broker';
import type { RequestCounts } from '../support/request-counter';

/** The source the access rules accept (infra/access-rules.yaml). */
export const SOURCE = 'com.example.ticketing';
export const CLUSTER = 'demo';
export const ACCOUNT = '111122223333';
export const VIEW_POLICY = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
/** The intake queue's event source mapping (batch size, maximum concurrency), as configured in run.ts. */
export const INTAKE = { batchSize: 10, concurrency: 4 } as const;
/** The EKS latency every benchmark runs with, so that counts translate into a floor of time. */
export const EKS_LATENCY_MS = 50;

/** One line of the results table. `pass` is absent for what is reported without a bar. */
export interface Row {
  readonly bench: string;
  readonly metric: string;
  readonly value: number | string;
  readonly bar?: string;
  readonly pass?: boolean;
}

export interface BenchContext {
  readonly local: LocalBroker;
  /** The runtime the in-process handlers use (functions/runtime.ts). */
  readonly deps: AppDeps;
  readonly store: LeaseStore;
  /** What the runtime's DynamoDB client has sent (SDK middleware): compare before and after. */
  readonly dynamoDb: RequestCounts;
  /** Unique per run, so request ids and principals never collide with an earlier run on a kept database. */
  readonly runId: string;
  readonly rows: Row[];
  readonly log: (line: string) => void;
}

export function row(
  rows: Row[],
  bench: string,
  metric: string,
  value: number | string,
  check?: { readonly bar: string; readonly pass: boolean },
): void {
  rows.push({ bench, metric, value, ...(check ? { bar: check.bar, pass: check.pass } : {}) });
}

export function principalArn(runId: string, name: string): string {
  return `arn:aws:iam::${ACCOUNT}:role/bench-${runId}-${name}`;
}

export interface GrantDetail {
  readonly requestId: string;
  readonly principalArn: string;
  readonly namespaces?: readonly string[];
  readonly durationSeconds: number;
  /** The integration's source; the ticketing integration's by default. */
  readonly source?: string;
}

/** A grant request as a ticketing integration puts it on the bus (the contract of PRODUCT.md). */
export function grantEvent(grant: GrantDetail): EventBridgeEvent<string, Record<string, unknown>> {
  return busEvent(grant.source ?? SOURCE, DETAIL_TYPES.grant, {
    requestId: grant.requestId,
    clusterName: CLUSTER,
    principalArn: grant.principalArn,
    policyArn: 'AmazonEKSViewPolicy',
    accessScope: { type: 'namespace', namespaces: [...(grant.namespaces ?? ['team-a'])] },
    durationSeconds: grant.durationSeconds,
    requestedBy: 'bench@example.com',
    reason: 'benchmark',
  });
}

export function revokeEvent(
  requestId: string,
  source: string = SOURCE,
): EventBridgeEvent<string, Record<string, unknown>> {
  return busEvent(source, DETAIL_TYPES.revoke, {
    requestId,
    requestedBy: 'bench@example.com',
    reason: 'done',
  });
}

function busEvent(
  source: string,
  detailType: string,
  detail: Record<string, unknown>,
): EventBridgeEvent<string, Record<string, unknown>> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': detailType,
    source,
    account: ACCOUNT,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'us-east-1',
    resources: [],
    detail,
  };
}

/** The SQS body of a request: the envelope EventBridge itself would deliver to the queue. */
export function sqsBody(event: EventBridgeEvent<string, Record<string, unknown>>): string {
  return JSON.stringify({ source: event.source, 'detail-type': event['detail-type'], detail: event.detail });
}

/** Nearest-rank percentile (p in 0..100) of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once `done()` holds, polling; rejects with `what` after `timeoutMs`. */
export async function waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Runs `fn` over `items` with at most `concurrency` at a time. */
export async function inParallel<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LeaseStore, leaseDocumentClient } from '../../functions/adapters/lease-table';
import { bulkItems, type ItemOptions } from '../../functions/adapters/lease-table/items';
import type { AppDeps } from '../../functions/app/deps';
import { sweep } from '../../functions/app/expiry';
import type { DueLease } from '../../functions/app/ports';
import { type Lease, OWNER_TAG_KEY, OWNER_TAG_VALUE } from '../../functions/core/model';
import { ensureLeaseTable } from '../../infra/local/lease-table';
import { countRequests, type RequestCounts } from '../support/request-counter';
import {
  type BenchContext,
  CLUSTER,
  EKS_LATENCY_MS,
  inParallel,
  median,
  principalArn,
  round,
  row,
  VIEW_POLICY,
} from './support';

const BENCH = '5 sweep scaling';
const SIZES = [10_000, 100_000] as const;
const DUE_PERCENT = 1;
/** Leases of the control query: the same number due in both tables. */
const CONTROL_DUE = 100;
const REPEATS = 7;
const BATCH = 25;
const WRITERS = 16;
const DUE_SHARDS = 8;
/** The items a LeaseStore with `dueShards: DUE_SHARDS` writes (the retention does not touch live leases). */
const ITEM_OPTIONS: ItemOptions = { dueShards: DUE_SHARDS, retentionSeconds: 90 * 86_400 };

interface Measured {
  readonly size: number;
  readonly due: number;
  readonly seedSeconds: number;
  readonly queryItemsRead: number;
  readonly queryMs: number;
  readonly controlItemsRead: number;
  readonly controlMs: number;
  readonly sweepRuns: number;
  readonly revoked: number;
  readonly sweepDueItemsRead: number;
  readonly sweepMs: number;
  readonly eksCalls: number;
  readonly dynamoDbRequests: number;
}

/**
 * Two lease tables of 10,000 and 100,000 leases, 1% due, loaded with BatchWriteItem in the store's own item
 * format (bulkItems of functions/adapters/lease-table/items.ts). The due leases are real: their entries exist in the EKS emulator and their
 * subjects' state says the broker created them. Measured apart:
 * - the due query alone (LeaseStore.dueKeys, what the sweeper runs): items read per due lease, and time; a
 *   control query for the same 100 due leases in both tables shows the time does not follow the table size;
 * - the whole sweep (sweep() of functions/app/expiry.ts, its runs of 200 until nothing is due): the items its
 *   due queries read per lease revoked, and the revocation work (EKS calls, DynamoDB requests, time).
 */
export async function sweepScaling(ctx: BenchContext): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const raw = new DynamoDBClient({});
  const client = leaseDocumentClient(raw);
  // The requests of both tables, counted as SDK middleware: the tables are measured one at a time.
  const counts = countRequests(client);
  const results: Measured[] = [];
  ctx.local.edge.eks.faults.configure({ latency: { fixedMs: EKS_LATENCY_MS } });
  try {
    const tables: Seeded[] = [];
    for (const size of SIZES) tables.push(await seedTable(ctx, raw, client, size, now));
    // Both tables loaded first, then their queries taken in turns, so neither runs on a colder JVM.
    const queries = await timeQueries(tables, now, counts);
    for (const [index, table] of tables.entries()) {
      const timed = queries[index];
      if (!timed) throw new Error('no query timings');
      results.push({ ...table.measured, ...timed, ...(await sweepTable(ctx, table, counts)) });
    }
  } finally {
    ctx.local.edge.eks.faults.configure({});
    raw.destroy();
  }

  for (const m of results) {
    const label = `${m.size / 1000}k leases, ${m.due} due`;
    row(ctx.rows, BENCH, `${label}: seeded in (s, this machine)`, round(m.seedSeconds, 1));
    row(ctx.rows, BENCH, `${label}: due query items read / due`, round(m.queryItemsRead / m.due), {
      bar: '<= 1.1',
      pass: m.queryItemsRead / m.due <= 1.1,
    });
    row(ctx.rows, BENCH, `${label}: due query time (ms, median of ${REPEATS})`, round(m.queryMs, 1));
    row(ctx.rows, BENCH, `${label}: sweep runs of 200 until none due`, m.sweepRuns);
    row(
      ctx.rows,
      BENCH,
      `${label}: sweep due-query items read / lease revoked`,
      round(m.sweepDueItemsRead / m.revoked),
      {
        bar: '<= 1.1',
        pass: m.revoked === m.due && m.sweepDueItemsRead / m.revoked <= 1.1,
      },
    );
    row(ctx.rows, BENCH, `${label}: revoked`, m.revoked, { bar: `${m.due}`, pass: m.revoked === m.due });
    row(ctx.rows, BENCH, `${label}: revocation EKS calls / lease`, round(m.eksCalls / m.revoked));
    row(
      ctx.rows,
      BENCH,
      `${label}: DynamoDB requests / lease revoked, besides the due query`,
      round(m.dynamoDbRequests / m.revoked),
    );
    row(ctx.rows, BENCH, `${label}: whole sweep time (s, this machine)`, round(m.sweepMs / 1000, 1));
  }
  const [small, large] = results;
  if (!small || !large) return;
  const tableRatio = large.size / small.size;
  const dueRatio = large.due / small.due;
  const queryRatio = large.queryMs / small.queryMs;
  const controlRatio = large.controlMs / small.controlMs;
  row(
    ctx.rows,
    BENCH,
    `due query time 100k / 10k (table x${tableRatio}, due x${dueRatio})`,
    round(queryRatio),
  );
  row(ctx.rows, BENCH, 'due query time per due lease, 100k / 10k', round(queryRatio / dueRatio), {
    bar: '<= 1.5 (grows with due)',
    pass: queryRatio / dueRatio <= 1.5,
  });
  row(
    ctx.rows,
    BENCH,
    `same ${CONTROL_DUE} due: query time 100k / 10k table (items read ${large.controlItemsRead} vs ${small.controlItemsRead})`,
    round(controlRatio),
    {
      bar: '<= 1.5 (not with table)',
      pass: controlRatio <= 1.5 && large.controlItemsRead === small.controlItemsRead,
    },
  );
  const sweepRatio = large.sweepMs / small.sweepMs;
  row(ctx.rows, BENCH, 'whole sweep time 100k / 10k', round(sweepRatio));
  row(ctx.rows, BENCH, 'whole sweep time per lease revoked, 100k / 10k', round(sweepRatio / dueRatio), {
    bar: '<= 1.5 (grows with due)',
    pass: sweepRatio / dueRatio <= 1.5,
  });
}

interface Seeded {
  readonly store: LeaseStore;
  readonly tableName: string;
  readonly measured: { readonly size: number; readonly due: number; readonly seedSeconds: number };
}

async function seedTable(
  ctx: BenchContext,
  raw: DynamoDBClient,
  client: DynamoDBDocumentClient,
  size: number,
  now: number,
): Promise<Seeded> {
  const tableName = `bench-sweep-${size}-${ctx.runId}`;
  await ensureLeaseTable(raw, tableName);
  const store = new LeaseStore({ client, tableName, dueShards: DUE_SHARDS });
  const due = (size * DUE_PERCENT) / 100;

  ctx.log(`  seeding ${size} leases (${due} due) into ${tableName}`);
  const t0 = performance.now();
  const items: Record<string, unknown>[] = [];
  for (let i = 0; i < size; i++) {
    const isDue = i < due;
    const principal = principalArn(
      ctx.runId,
      isDue ? `sweep-${size}-${i}` : `sweep-${size}-live-${i % 5000}`,
    );
    // Due: one a second up to a second ago, oldest first. Live: from an hour to a week from now.
    const expiresAt = isDue ? now - due + i : now + 3600 + Math.floor((i * 7 * 86_400) / size);
    const lease = seededLease(`BENCH-${ctx.runId}-sweep-${size}-${i}`, principal, expiresAt);
    if (isDue) {
      const seeded = bulkItems(lease, ITEM_OPTIONS, { entryOwned: true, touched: { [VIEW_POLICY]: null } });
      items.push(seeded.lease, seeded.pointer, ...(seeded.subject ? [seeded.subject] : []));
      ctx.local.edge.eks.createAccessEntry({
        clusterName: CLUSTER,
        principalArn: principal,
        type: 'STANDARD',
        tags: { [OWNER_TAG_KEY]: OWNER_TAG_VALUE },
      });
      ctx.local.edge.eks.associateAccessPolicy({
        clusterName: CLUSTER,
        principalArn: principal,
        policyArn: VIEW_POLICY,
        accessScope: { type: 'namespace', namespaces: ['team-a'] },
      });
    } else {
      // Only the lease item: the sweeper never reads the pointers or the history of leases that are not due.
      items.push(bulkItems(lease, ITEM_OPTIONS).lease);
    }
  }
  const chunks: Record<string, unknown>[][] = [];
  for (let offset = 0; offset < items.length; offset += BATCH)
    chunks.push(items.slice(offset, offset + BATCH));
  await inParallel(chunks, WRITERS, (chunk) => batchWrite(client, tableName, chunk));
  return { store, tableName, measured: { size, due, seedSeconds: (performance.now() - t0) / 1000 } };
}

/**
 * The due query alone, as the sweeper sends it: for every due lease of a table at once, and (the control)
 * for its 100 oldest. Each table's queries are taken in turns with the other's, REPEATS times, after a
 * warm-up; the median time is kept.
 */
async function timeQueries(
  tables: readonly Seeded[],
  now: number,
  counts: RequestCounts,
): Promise<{ queryItemsRead: number; queryMs: number; controlItemsRead: number; controlMs: number }[]> {
  const query = async (table: Seeded, at: number, limit: number) => {
    const reads = counts.itemsRead;
    const started = performance.now();
    const found: DueLease[] = await table.store.dueKeys(at, limit);
    const ms = performance.now() - started;
    if (found.length !== limit) {
      throw new Error(`${table.tableName}: expected ${limit} due, found ${found.length}`);
    }
    return { ms, itemsRead: counts.itemsRead - reads };
  };
  const runs = tables.map(() => ({
    full: [] as number[],
    control: [] as number[],
    fullReads: 0,
    controlReads: 0,
  }));
  for (let repeat = -1; repeat < REPEATS; repeat++) {
    for (const [index, table] of tables.entries()) {
      const due = table.measured.due;
      const full = await query(table, now, due);
      const control = await query(table, now - due + CONTROL_DUE - 1, CONTROL_DUE);
      const mine = runs[index];
      if (!mine || repeat < 0) continue; // the first round warms up
      mine.full.push(full.ms);
      mine.control.push(control.ms);
      mine.fullReads = full.itemsRead;
      mine.controlReads = control.itemsRead;
    }
  }
  return runs.map((r) => ({
    queryItemsRead: r.fullReads,
    queryMs: median(r.full),
    controlItemsRead: r.controlReads,
    controlMs: median(r.control),
  }));
}

/** The whole sweep with the runtime's adapters on this table, run after run as its schedule would. */
async function sweepTable(
  ctx: BenchContext,
  table: Seeded,
  counts: RequestCounts,
): Promise<{
  sweepRuns: number;
  revoked: number;
  sweepDueItemsRead: number;
  sweepMs: number;
  eksCalls: number;
  dynamoDbRequests: number;
}> {
  const { store, tableName } = table;
  const counting = new DueReadCounter(store, counts);
  const deps: AppDeps = { ...ctx.deps, store: counting.store, locks: store };
  const eksBefore = ctx.local.edge.eks.totalCalls();
  const requestsBefore = counts.requests;
  let runs = 0;
  let revoked = 0;
  const started = performance.now();
  for (;;) {
    const report = await sweep(deps);
    if (report.due === 0) break;
    runs++;
    revoked += report.revoked;
    if (report.errors > 0 || runs > 20) {
      throw new Error(`${tableName}: the sweep did not drain: ${JSON.stringify(report)}`);
    }
  }
  return {
    sweepRuns: runs,
    revoked,
    sweepDueItemsRead: counting.itemsRead,
    sweepMs: performance.now() - started,
    eksCalls: ctx.local.edge.eks.totalCalls() - eksBefore,
    dynamoDbRequests: counts.requests - requestsBefore - counting.requests,
  };
}

/**
 * Counts what the sweep's due queries read. sweep() awaits its due query before it starts any revocation,
 * so the client's counts move only for the query while it runs.
 */
class DueReadCounter {
  itemsRead = 0;
  requests = 0;
  readonly store: LeaseStore;

  constructor(inner: LeaseStore, counts: RequestCounts) {
    this.store = Object.create(inner) as LeaseStore;
    this.store.dueKeys = async (now: number, limit: number) => {
      const reads = counts.itemsRead;
      const requests = counts.requests;
      const found = await inner.dueKeys(now, limit);
      this.itemsRead += counts.itemsRead - reads;
      this.requests += counts.requests - requests;
      return found;
    };
  }
}

function seededLease(requestId: string, principal: string, expiresAt: number): Lease {
  return {
    requestId,
    clusterName: CLUSTER,
    principalArn: principal,
    policyArn: VIEW_POLICY,
    accessScope: { type: 'namespace', namespaces: ['team-a'] },
    status: 'active',
    breakGlass: false,
    requestedBy: 'bench@example.com',
    reason: 'benchmark',
    ruleId: 'developers-view-edit',
    maxDurationSeconds: 28_800,
    durationSeconds: 3600,
    requestedAt: expiresAt - 3600,
    grantedAt: expiresAt - 3600,
    expiresAt,
    fingerprint: requestId,
    version: 1,
  };
}

async function batchWrite(
  client: DynamoDBDocumentClient,
  tableName: string,
  items: readonly Record<string, unknown>[],
): Promise<void> {
  let pending = items.map((Item) => ({ PutRequest: { Item } }));
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 8) throw new Error(`BatchWriteItem left ${pending.length} items unprocessed`);
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
    const output = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
    pending = (output.UnprocessedItems?.[tableName] ?? []).flatMap((request) =>
      request.PutRequest?.Item ? [{ PutRequest: { Item: request.PutRequest.Item } }] : [],
    );
  }
}

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { EventBridgeEvent } from 'aws-lambda';
import { signProof } from '../../functions/cli/proof';
import { STS_CALL_QUERY } from '../../functions/core/proof';
import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { runtime } from '../../functions/runtime';
import { lambdaContext } from '../../infra/local/lambda-context';
import {
  ACCOUNT,
  type BenchContext,
  EKS_LATENCY_MS,
  grantEvent,
  percentile,
  revokeEvent,
  round,
  row,
  SOURCE,
} from './support';

const BENCH = '8 cost of a proof';
/** Grants of each kind measured, one asserted and one proven per round. */
const ROUNDS = 100;
/** Rounds not counted: they warm up DynamoDB Local's JIT and the edge's signature checks when run alone. */
const WARM_UP = 20;
/** The self-service integration's source (infra/access-rules.yaml): its requests must be proven. */
const SELF_SERVICE_SOURCE = 'com.example.self-service';
/** The local developer identity (infra/local/identities.json): a role/dev-* principal, its secret its id. */
const DEV_BOB = { accessKeyId: 'devbob', secretAccessKey: 'devbob' } as const;
const DEV_BOB_ARN = `arn:aws:iam::${ACCOUNT}:role/dev-bob`;

type Kind = 'asserted' | 'proven';

interface Sample {
  readonly status: string;
  readonly latencyMs: number;
  readonly stsCalls: number;
  readonly dynamoDbRequests: number;
  readonly eksCalls: number;
}

/**
 * What a requester's proof costs the intake: grants of the same shape (View on team-a for role/dev-bob, 1 h)
 * sent through the EventBridge intake handler one after the other, asserted by the ticketing integration or
 * proven through self-service (the proof signed as the CLI signs it, with devbob's key, before the clock
 * starts). The two kinds alternate, and which goes first alternates each round, so both see the same warm
 * caches and the same drift of DynamoDB Local. Each grant is revoked (not measured, EKS answering at once)
 * before the next, so every grant is a fresh grant of the same subject.
 *
 * STS calls are counted from outside the broker: node's fetch announces every request it creates on the
 * `undici:request:create` diagnostics channel, whichever reference to fetch the adapter captured. The edge's
 * STS answers without injected latency, so the latency ratio is the broker's own added work (the round trip
 * to the edge's STS, its signature check and the nonce write), not the network latency of the real STS.
 */
export async function proofCost(ctx: BenchContext): Promise<void> {
  const audience = runtime().config.audience;
  const sts = countStsCalls(ctx.local.edge.url);
  const samples: Record<Kind, Sample[]> = { asserted: [], proven: [] };
  try {
    for (let i = 0; i < WARM_UP + ROUNDS; i++) {
      const kinds: readonly Kind[] = i % 2 === 0 ? ['asserted', 'proven'] : ['proven', 'asserted'];
      for (const kind of kinds) {
        const sample = await grantThenRevoke(ctx, kind, i, audience, sts);
        if (i >= WARM_UP) samples[kind].push(sample);
      }
    }
  } finally {
    sts.close();
    ctx.local.edge.eks.faults.configure({});
  }

  const { asserted, proven } = samples;
  const granted = [...asserted, ...proven].filter((s) => s.status === 'granted').length;
  row(
    ctx.rows,
    BENCH,
    `grants asserted (ticketing) + proven (self-service), alternating, after ${WARM_UP} warm-up rounds`,
    `${asserted.length} + ${proven.length}`,
    { bar: 'all granted', pass: granted === 2 * ROUNDS },
  );
  row(ctx.rows, BENCH, 'STS calls per asserted request', mean(asserted, 'stsCalls'), {
    bar: '0 (each)',
    pass: asserted.every((s) => s.stsCalls === 0),
  });
  row(ctx.rows, BENCH, 'STS calls per proven request', mean(proven, 'stsCalls'), {
    bar: '1 (each)',
    pass: proven.every((s) => s.stsCalls === 1),
  });
  row(ctx.rows, BENCH, 'DynamoDB requests per asserted request', mean(asserted, 'dynamoDbRequests'));
  row(ctx.rows, BENCH, 'DynamoDB requests per proven request', mean(proven, 'dynamoDbRequests'));
  const extra = mean(proven, 'dynamoDbRequests') - mean(asserted, 'dynamoDbRequests');
  row(ctx.rows, BENCH, 'extra DynamoDB requests per proven request (the nonce write)', round(extra), {
    bar: '1',
    pass: extra === 1,
  });
  const eks = { asserted: mean(asserted, 'eksCalls'), proven: mean(proven, 'eksCalls') };
  row(ctx.rows, BENCH, 'EKS calls per request, asserted / proven', `${eks.asserted} / ${eks.proven}`, {
    bar: 'equal',
    pass: eks.asserted === eks.proven,
  });
  for (const p of [50, 99]) {
    const latency = { asserted: latencyAt(asserted, p), proven: latencyAt(proven, p) };
    row(
      ctx.rows,
      BENCH,
      `p${p} latency proven / asserted (same run, EKS answering after ${EKS_LATENCY_MS} ms)`,
      round(latency.proven / latency.asserted),
    );
    row(
      ctx.rows,
      BENCH,
      `p${p} latency asserted / proven (ms, this machine)`,
      `${round(latency.asserted, 1)} / ${round(latency.proven, 1)}`,
    );
  }
}

/** One grant of `kind`, measured, then its revocation by the same integration (and requester), not measured. */
async function grantThenRevoke(
  ctx: BenchContext,
  kind: Kind,
  index: number,
  audience: string,
  sts: StsCallCount,
): Promise<Sample> {
  const source = kind === 'proven' ? SELF_SERVICE_SOURCE : SOURCE;
  const requestId = `BENCH-${ctx.runId}-proof-${kind}-${index}`;
  const grant = await send(
    ctx,
    kind,
    audience,
    grantEvent({ requestId, principalArn: DEV_BOB_ARN, durationSeconds: 3600, source }),
  );

  const eks = ctx.local.edge.eks;
  eks.faults.configure({ latency: { fixedMs: EKS_LATENCY_MS } });
  const before = { sts: sts.calls, dynamoDb: ctx.dynamoDb.requests, eks: eks.totalCalls() };
  const t0 = performance.now();
  const result = (await eventBridgeHandler(grant, lambdaContext('bench'))) as { status?: string };
  const latencyMs = performance.now() - t0;
  // Counted once the outcome events are delivered, so nothing the grant set off is left out.
  await ctx.local.edge.bus.idle();
  const sample: Sample = {
    status: String(result.status),
    latencyMs,
    stsCalls: sts.calls - before.sts,
    dynamoDbRequests: ctx.dynamoDb.requests - before.dynamoDb,
    eksCalls: eks.totalCalls() - before.eks,
  };
  eks.faults.configure({});

  const revoke = await send(ctx, kind, audience, revokeEvent(requestId, source));
  const revoked = (await eventBridgeHandler(revoke, lambdaContext('bench'))) as { status?: string };
  // A lease left behind would make the next grant of the subject a second lease, not a fresh one.
  if (revoked.status !== 'revoked') {
    throw new Error(
      `${kind} grant ${requestId} (${sample.status}) was not revoked: ${String(revoked.status)}`,
    );
  }
  return sample;
}

/** The event as it is sent: a proven one carries devbob's proof, signed as the CLI signs it. */
async function send(
  ctx: BenchContext,
  kind: Kind,
  audience: string,
  event: EventBridgeEvent<string, Record<string, unknown>>,
): Promise<EventBridgeEvent<string, Record<string, unknown>>> {
  if (kind === 'asserted') return event;
  const proof = await signProof(event.detail, {
    credentials: DEV_BOB,
    region: ctx.local.edge.region,
    audience,
    endpoint: ctx.local.edge.url,
  });
  return { ...event, detail: { ...event.detail, proof } };
}

interface StsCallCount {
  readonly calls: number;
  close(): void;
}

const REQUEST_CREATED = 'undici:request:create';

/** Counts the GetCallerIdentity requests node's fetch sends to the edge from this process. */
function countStsCalls(edgeUrl: string): StsCallCount {
  const origin = new URL(edgeUrl).origin;
  const action = `Action=${STS_CALL_QUERY.Action}`;
  const counter = {
    calls: 0,
    close: () => unsubscribe(REQUEST_CREATED, onRequest),
  };
  function onRequest(message: unknown): void {
    const request = (message as { request?: { origin?: unknown; path?: unknown } }).request;
    if (String(request?.origin) !== origin || typeof request?.path !== 'string') return;
    const query = request.path.slice(request.path.indexOf('?') + 1).split('&');
    if (query.includes(action)) counter.calls += 1;
  }
  subscribe(REQUEST_CREATED, onRequest);
  return counter;
}

function mean(samples: readonly Sample[], key: 'stsCalls' | 'dynamoDbRequests' | 'eksCalls'): number {
  return samples.reduce((sum, s) => sum + s[key], 0) / samples.length;
}

function latencyAt(samples: readonly Sample[], p: number): number {
  return percentile(
    samples.map((s) => s.latencyMs),
    p,
  );
}

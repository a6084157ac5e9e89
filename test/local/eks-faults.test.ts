import {
  CreateAccessEntryCommand,
  DescribeClusterCommand,
  ListAccessPoliciesCommand,
} from '@aws-sdk/client-eks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Edge, startEdge } from '../../infra/local/edge';
import { FaultInjector } from '../../infra/local/eks/faults';
import { caught, eksClient } from '../support/aws';

const ROLE = 'arn:aws:iam::111122223333:role/developer';

let edge: Edge;

beforeAll(async () => {
  edge = await startEdge({ port: 0, dynamodb: false });
});

afterEach(() => {
  edge.eks.faults.configure({});
  edge.eks.reset();
});

afterAll(async () => {
  await edge.close();
});

function demoEntries(): number {
  return edge.eks.snapshot().find((c) => c.clusterName === 'demo')?.entries.length ?? -1;
}

describe('latency', () => {
  it('delays every affected call by the fixed latency', async () => {
    const eks = eksClient(edge.url);
    edge.eks.faults.configure({ latency: { fixedMs: 120 } });

    const started = performance.now();
    await eks.send(new DescribeClusterCommand({ name: 'demo' }));
    await eks.send(new DescribeClusterCommand({ name: 'demo' }));
    const elapsed = performance.now() - started;

    expect(elapsed).toBeGreaterThanOrEqual(240);
    expect(edge.eks.faults.counts.delayedMs).toBe(240);
  });

  it('draws random latency within its bounds, only for the listed operations', () => {
    const faults = new FaultInjector({
      latency: { minMs: 10, maxMs: 20 },
      operations: ['DescribeCluster'],
      seed: 7,
    });

    const draws = Array.from({ length: 200 }, () => faults.latencyMs('DescribeCluster'));

    expect(Math.min(...draws)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...draws)).toBeLessThanOrEqual(20);
    expect(new Set(draws).size).toBeGreaterThan(100);
    expect(faults.latencyMs('ListAccessPolicies')).toBe(0);
  });
});

describe('rate limit', () => {
  it('holds the token bucket: a burst beyond it is answered ThrottlingException 429', async () => {
    const eks = eksClient(edge.url, { maxAttempts: 1 });
    edge.eks.faults.configure({ rateLimit: { ratePerSecond: 5, burst: 5 } });

    const started = performance.now();
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () => eks.send(new DescribeClusterCommand({ name: 'demo' }))),
    );
    const elapsedSeconds = (performance.now() - started) / 1000;

    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const throttled = results.flatMap((r) =>
      r.status === 'rejected' ? [r.reason as Error & { $metadata?: { httpStatusCode?: number } }] : [],
    );
    // The bucket allows its burst plus what refills while the calls are in flight, never more.
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(ok).toBeLessThanOrEqual(5 + Math.ceil(elapsedSeconds * 5));
    expect(throttled.length).toBe(30 - ok);
    expect(
      throttled.every((e) => e.name === 'ThrottlingException' && e.$metadata?.httpStatusCode === 429),
    ).toBe(true);
    expect(edge.eks.faults.counts.throttled).toBe(30 - ok);
    eks.destroy();
  });

  it('is absorbed by the SDK retries at a low call rate', async () => {
    const eks = eksClient(edge.url, { maxAttempts: 6 });
    edge.eks.faults.configure({ rateLimit: { ratePerSecond: 20, burst: 2 } });

    const results = await Promise.all(
      Array.from({ length: 8 }, () => eks.send(new ListAccessPoliciesCommand({ maxResults: 1 }))),
    );

    expect(results).toHaveLength(8);
    expect(edge.eks.faults.counts.throttled).toBeGreaterThan(0);
    eks.destroy();
  });
});

describe('server errors and dropped connections', () => {
  it('answers ServerException 500 and changes nothing', async () => {
    const eks = eksClient(edge.url, { maxAttempts: 1 });
    edge.eks.faults.configure({ serverErrorRate: 1 });

    const error = await caught(() =>
      eks.send(new CreateAccessEntryCommand({ clusterName: 'demo', principalArn: ROLE })),
    );

    expect(error.name).toBe('ServerException');
    expect(error.$metadata?.httpStatusCode).toBe(500);
    expect(demoEntries()).toBe(0);
    eks.destroy();
  });

  it('lets the SDK retries absorb occasional 5xx with a seeded, repeatable draw', async () => {
    const eks = eksClient(edge.url, { maxAttempts: 5 });
    edge.eks.faults.configure({ serverErrorRate: 0.3, seed: 42 });

    for (let i = 0; i < 10; i++) {
      await eks.send(new CreateAccessEntryCommand({ clusterName: 'demo', principalArn: `${ROLE}-${i}` }));
    }

    expect(demoEntries()).toBe(10);
    expect(edge.eks.faults.counts.serverErrors).toBeGreaterThan(0);
    eks.destroy();
  });

  it('drops the connection before doing anything', async () => {
    const eks = eksClient(edge.url, { maxAttempts: 1 });
    edge.eks.faults.configure({ dropRate: 1 });

    const error = await caught(() =>
      eks.send(new CreateAccessEntryCommand({ clusterName: 'demo', principalArn: ROLE })),
    );

    expect(error.$metadata?.httpStatusCode).toBeUndefined();
    expect(demoEntries()).toBe(0);
    expect(edge.eks.faults.counts.dropped).toBe(1);
    eks.destroy();
  });

  it('drops the connection after a mutation took effect: the caller cannot tell it happened', async () => {
    const eks = eksClient(edge.url, { maxAttempts: 1 });
    edge.eks.faults.configure({ dropAfterCommitRate: 1, operations: ['CreateAccessEntry'] });

    await caught(() => eks.send(new CreateAccessEntryCommand({ clusterName: 'demo', principalArn: ROLE })));

    expect(demoEntries()).toBe(1);
    expect(edge.eks.mutations().at(-1)).toMatchObject({ operation: 'CreateAccessEntry', outcome: 'applied' });
    // Reads are untouched by a fault scoped to CreateAccessEntry.
    await expect(eks.send(new DescribeClusterCommand({ name: 'demo' }))).resolves.toBeDefined();
    eks.destroy();
  });

  it('lets an SDK retry after a lost answer land on the same entry through its clientRequestToken', async () => {
    const eks = eksClient(edge.url, { maxAttempts: 3 });
    // With seed 8 the first draw (0.16) drops after commit and the second (0.63) does not.
    edge.eks.faults.configure({ dropAfterCommitRate: 0.5, operations: ['CreateAccessEntry'], seed: 8 });

    const out = await eks.send(new CreateAccessEntryCommand({ clusterName: 'demo', principalArn: ROLE }));

    expect(out.accessEntry?.principalArn).toBe(ROLE);
    expect(edge.eks.faults.counts.droppedAfterCommit).toBe(1);
    expect(edge.eks.mutations().filter((m) => m.replayed)).not.toHaveLength(0);
    expect(demoEntries()).toBe(1);
    eks.destroy();
  });

  it('refuses fault settings that are not probabilities', () => {
    expect(() => edge.eks.faults.configure({ serverErrorRate: 1.5 })).toThrow(/between 0 and 1/);
    expect(() => edge.eks.faults.configure({ rateLimit: { ratePerSecond: 0 } })).toThrow(/ratePerSecond/);
  });
});

describe('the admin endpoint', () => {
  it('sets faults and reads counts over HTTP, for benchmarks running in another process', async () => {
    const put = await fetch(`${edge.url}/_edge/eks/faults`, {
      method: 'PUT',
      body: JSON.stringify({ serverErrorRate: 1, operations: ['DescribeCluster'] }),
    });
    const eks = eksClient(edge.url, { maxAttempts: 1 });
    await caught(() => eks.send(new DescribeClusterCommand({ name: 'demo' })));

    const calls = (await (await fetch(`${edge.url}/_edge/eks/calls`)).json()) as {
      calls: Record<string, number>;
      faults: { serverErrors: number };
    };
    const bad = await fetch(`${edge.url}/_edge/eks/faults`, { method: 'PUT', body: '{"dropRate":7}' });

    expect(put.status).toBe(200);
    expect(calls.calls.DescribeCluster).toBe(1);
    expect(calls.faults.serverErrors).toBe(1);
    expect(bad.status).toBe(400);
    eks.destroy();
  });
});

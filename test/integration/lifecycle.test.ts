import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_TIMER_DELAY_SECONDS } from '../../functions/adapters/expiry-timers';
import type { LeaseStore } from '../../functions/adapters/lease-table';
import type { AppDeps } from '../../functions/app/deps';
import { checkDrift, DriftCheckError } from '../../functions/app/drift';
import { onTimer, sweep } from '../../functions/app/expiry';
import { forgetLease } from '../../functions/app/forget';
import { type HandleResult, handleRequest } from '../../functions/app/handle-request';
import type { MetricName } from '../../functions/app/metrics';
import { loadConfig } from '../../functions/config/environment';
import { parseRequest } from '../../functions/core/contract';
import type { BrokerRequest } from '../../functions/core/model';
import type { TimerMessage } from '../../functions/core/timer-message';
import { createRuntime } from '../../functions/runtime';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { TICKETING_CALLER } from '../support/callers';
import { freshPrincipal, freshRequestId, sampleEvent, withDetail } from '../support/fixtures';
import { countRequests, type RequestCounts } from '../support/request-counter';

const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';

let local: LocalBroker;
let deps: AppDeps;
let store: LeaseStore;
/** The DynamoDB requests of the runtime's lease table, and the items they read. */
let dynamo: RequestCounts;
const clock = { ms: 0 };
const armed: { timer: TimerMessage; delay: number }[] = [];
const metrics: { name: MetricName; value: number }[] = [];

beforeAll(async () => {
  local = await startLocalBroker({ port: 0, sweepIntervalMs: 0 });
  const runtime = createRuntime(loadConfig());
  store = runtime.store;
  dynamo = countRequests(runtime.dynamodb);
  deps = {
    ...runtime.deps,
    clock: () => clock.ms,
    timers: {
      maxDelaySeconds: MAX_TIMER_DELAY_SECONDS,
      arm: async (timer, delay) => {
        armed.push({ timer, delay });
      },
    },
    metrics: { add: (name, value = 1) => metrics.push({ name, value }) },
    lockWaitMs: 300,
  };
});

let testIndex = 0;

beforeEach(() => {
  // Each test starts months before the previous one: leases left live by earlier tests (which share the
  // table) expire after their own test's "now", so they are never due in a later test.
  testIndex += 1;
  clock.ms = Date.UTC(2100, 0, 1) - testIndex * 10_000_000 * 1000;
  armed.length = 0;
  metrics.length = 0;
  local.edge.eks.faults.configure({});
});

afterAll(async () => {
  await local.close();
});

const seconds = () => Math.floor(clock.ms / 1000);
const advance = (s: number) => {
  clock.ms += s * 1000;
};

function request(file: string, changes: Record<string, unknown>): BrokerRequest {
  const parsed = parseRequest(withDetail(sampleEvent(file), changes), {
    allowedSources: ['com.example.ticketing'],
  });
  if (!parsed.ok) throw new Error(`bad test request: ${parsed.rejection.reason}`);
  return parsed.request;
}

async function grant(principalArn: string, changes: Record<string, unknown> = {}): Promise<string> {
  const requestId = freshRequestId('LEASE');
  const result = await handleRequest(
    deps,
    request('grant-namespaced.json', {
      requestId,
      principalArn,
      policyArn: 'AmazonEKSViewPolicy',
      ...changes,
    }),
    TICKETING_CALLER,
  );
  expect(result.status).toBe('granted');
  return requestId;
}

function extendRequest(
  requestId: string,
  durationSeconds: number,
  reason = 'need more time',
): Promise<HandleResult> {
  return handleRequest(
    deps,
    request('extend.json', { requestId, durationSeconds, reason }),
    TICKETING_CALLER,
  );
}

function policiesOf(principalArn: string) {
  const demo = local.edge.eks.snapshot().find((c) => c.clusterName === 'demo');
  return demo?.entries
    .find((e) => e.principalArn === principalArn)
    ?.policies.map((p) => [p.policyArn, p.accessScope]);
}

function outcomeTypes(requestId: string): string[] {
  return local
    .outcomes()
    .filter((e) => e.detail.requestId === requestId)
    .map((e) => e['detail-type']);
}

describe('expiry', () => {
  it('ends a lease at its expiry through the sweeper: access gone, Access Revoked (expired) with the lag', async () => {
    const principalArn = freshPrincipal();
    const requestId = await grant(principalArn, { durationSeconds: 3600 });
    advance(3599);
    const early = await sweep(deps);

    advance(2);
    const report = await sweep(deps);

    expect(early.revoked).toBe(0);
    expect(report).toMatchObject({ due: 1, revoked: 1, errors: 0 });
    expect(policiesOf(principalArn)).toBeUndefined();
    expect(outcomeTypes(requestId)).toEqual(['Access Granted', 'Access Revoked']);
    expect(local.outcomes().at(-1)?.detail).toMatchObject({ reason: 'expired' });
    expect(metrics).toContainEqual({ name: 'RevocationLagSeconds', value: 1 });
    const lease = await deps.store.findLease(requestId);
    expect(lease).toMatchObject({ status: 'ended', endReason: 'expired', endedAt: seconds() });
    expect((await store.history(requestId)).map((e) => e.type)).toEqual(['requested', 'granted', 'expired']);
  });

  it('narrows the scope when the first of two overlapping leases expires, then deletes the entry', async () => {
    const principalArn = freshPrincipal();
    await grant(principalArn, {
      durationSeconds: 600,
      accessScope: { type: 'namespace', namespaces: ['a'] },
    });
    await grant(principalArn, {
      durationSeconds: 1200,
      accessScope: { type: 'namespace', namespaces: ['b'] },
    });
    const both = policiesOf(principalArn);

    advance(601);
    await sweep(deps);
    const one = policiesOf(principalArn);
    advance(600);
    await sweep(deps);

    expect(both).toEqual([[VIEW, { type: 'namespace', namespaces: ['a', 'b'] }]]);
    expect(one).toEqual([[VIEW, { type: 'namespace', namespaces: ['b'] }]]);
    expect(policiesOf(principalArn)).toBeUndefined();
  });

  it('restores a pre-existing entry to its baseline when the lease expires', async () => {
    const principalArn = freshPrincipal('baseline');
    local.edge.eks.createAccessEntry({ clusterName: 'demo', principalArn });
    local.edge.eks.associateAccessPolicy({
      clusterName: 'demo',
      principalArn,
      policyArn: VIEW,
      accessScope: { type: 'namespace', namespaces: ['ops'] },
    });
    await grant(principalArn, { durationSeconds: 600, accessScope: { type: 'cluster' } });
    const during = policiesOf(principalArn);

    advance(601);
    await sweep(deps);

    expect(during).toEqual([[VIEW, { type: 'cluster', namespaces: [] }]]);
    expect(policiesOf(principalArn)).toEqual([[VIEW, { type: 'namespace', namespaces: ['ops'] }]]);
  });
});

describe('precise timers', () => {
  it('arms a timer at grant for a short lease, and the timer ends it at its expiry', async () => {
    const principalArn = freshPrincipal();
    const requestId = await grant(principalArn, { durationSeconds: 120 });
    const [timer] = armed;

    advance(120);
    const result = await onTimer(deps, timer?.timer ?? { requestId: '', expiresAt: 0 });

    expect(timer).toEqual({ timer: { requestId, expiresAt: seconds() }, delay: 119 });
    expect(result.status).toBe('revoked');
    expect(policiesOf(principalArn)).toBeUndefined();
  });

  it('does not arm a long lease at grant; the sweeper arms it once it enters the 15-minute window', async () => {
    const requestId = await grant(freshPrincipal(), { durationSeconds: 3600 });
    const atGrant = armed.length;

    advance(3600 - 900 + 30);
    const report = await sweep(deps);

    expect(atGrant).toBe(0);
    expect(report.timersArmed).toBe(1);
    expect(armed[0]).toEqual({ timer: { requestId, expiresAt: seconds() + 870 }, delay: 869 });
  });

  it('ignores a stale timer of a lease that was extended, and re-arms one that fired early', async () => {
    const principalArn = freshPrincipal();
    const requestId = await grant(principalArn, { durationSeconds: 300 });
    const oldTimer = armed[0]?.timer ?? { requestId, expiresAt: 0 };
    await extendRequest(requestId, 300);
    const newTimer = armed[1]?.timer ?? { requestId, expiresAt: 0 };
    // One timer armed at the grant, one at the extension, 300 s apart.
    expect(armed).toHaveLength(2);
    expect(newTimer.expiresAt - oldTimer.expiresAt).toBe(300);

    advance(300);
    const stale = await onTimer(deps, oldTimer);
    const early = await onTimer(deps, newTimer);

    expect(stale.status).toBe('stale');
    expect(early.status).toBe('rearmed');
    expect(armed[2]).toEqual({ timer: newTimer, delay: 299 });
    expect(policiesOf(principalArn)).toHaveLength(1);
  });
});

describe('revoke and extend', () => {
  it('revokes before expiry; a repeated revoke changes nothing', async () => {
    const principalArn = freshPrincipal();
    const requestId = await grant(principalArn);

    const first = await handleRequest(deps, request('revoke.json', { requestId }), TICKETING_CALLER);
    const again = await handleRequest(deps, request('revoke.json', { requestId }), TICKETING_CALLER);

    expect(first.status).toBe('revoked');
    expect(again.status).toBe('duplicate');
    expect(policiesOf(principalArn)).toBeUndefined();
    expect(outcomeTypes(requestId)).toEqual(['Access Granted', 'Access Revoked']);
  });

  it('extends within the cap once per distinct request, and rejects an extension past the cap', async () => {
    const requestId = await grant(freshPrincipal(), { durationSeconds: 3600 });
    const expiresAt = seconds() + 3600;

    const extended = await extendRequest(requestId, 3600);
    const repeated = await extendRequest(requestId, 3600);
    const tooFar = await extendRequest(requestId, 7 * 3600, 'a lot more time');

    expect(extended).toMatchObject({ status: 'extended', lease: { expiresAt: expiresAt + 3600 } });
    expect(repeated.status).toBe('duplicate');
    expect(tooFar).toMatchObject({ status: 'rejected', rejection: { code: 'EXTENSION_CAP_EXCEEDED' } });
    expect((await deps.store.findLease(requestId))?.expiresAt).toBe(expiresAt + 3600);
    expect(outcomeTypes(requestId)).toEqual(['Access Granted', 'Access Extended', 'Access Grant Rejected']);
  });

  it('rejects revoke and extend of a request it does not know', async () => {
    const requestId = freshRequestId('UNKNOWN');

    const revoke = await handleRequest(deps, request('revoke.json', { requestId }), TICKETING_CALLER);
    const extend = await extendRequest(requestId, 60);

    expect(revoke).toMatchObject({ status: 'rejected', rejection: { code: 'UNKNOWN_REQUEST' } });
    expect(extend).toMatchObject({ status: 'rejected', rejection: { code: 'UNKNOWN_REQUEST' } });
  });
});

describe('revocation failures', () => {
  it('retries with backoff, turns irrevocable after the budget with an event and a metric, then recovers', async () => {
    const principalArn = freshPrincipal();
    const requestId = await grant(principalArn, { durationSeconds: 600 });
    local.edge.eks.faults.configure({
      serverErrorRate: 1,
      operations: ['DeleteAccessEntry', 'DisassociateAccessPolicy', 'AssociateAccessPolicy'],
    });
    advance(601);

    const attempts: string[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      const report = await sweep(deps);
      attempts.push(report.irrevocable ? 'irrevocable' : report.retryScheduled ? 'retry' : 'none');
      const lease = await deps.store.findLease(requestId);
      advance((lease?.nextAttemptAt ?? seconds()) - seconds());
    }
    const irrevocable = await deps.store.findLease(requestId);
    local.edge.eks.faults.configure({});
    const recovered = await sweep(deps);

    expect(attempts).toEqual(['retry', 'retry', 'retry', 'retry', 'irrevocable']);
    expect(irrevocable).toMatchObject({ status: 'irrevocable', revokeAttempts: 5 });
    expect(irrevocable?.lastError).toContain('ServerException');
    expect(metrics.filter((m) => m.name === 'IrrevocableLeases')).toHaveLength(1);
    expect(recovered.revoked).toBe(1);
    expect(policiesOf(principalArn)).toBeUndefined();
    expect(outcomeTypes(requestId)).toEqual(['Access Granted', 'Access Revocation Failed', 'Access Revoked']);
    expect(await deps.store.findLease(requestId)).toMatchObject({ status: 'ended', endReason: 'expired' });
  });

  it('keeps a requested revocation "requested" while it is retried, and lets an operator forget it', async () => {
    const principalArn = freshPrincipal();
    const requestId = await grant(principalArn);
    local.edge.eks.faults.configure({ serverErrorRate: 1, operations: ['DeleteAccessEntry'] });

    const revoking = await handleRequest(deps, request('revoke.json', { requestId }), TICKETING_CALLER);
    const forgotten = await forgetLease(
      deps,
      requestId,
      'ops@example.com',
      'EKS keeps refusing; removed by hand',
    );

    expect(revoking).toMatchObject({
      status: 'revoking',
      lease: { endReason: 'requested', revokeAttempts: 1 },
    });
    expect(forgotten).toMatchObject({ status: 'ended', endReason: 'forgotten' });
    expect((await store.history(requestId)).map((e) => [e.type, e.actor])).toContainEqual([
      'forgotten',
      'ops@example.com',
    ]);
  });
});

describe('drift', () => {
  it('recreates an entry deleted by hand while its lease is active, with Access Drift Repaired', async () => {
    const principalArn = freshPrincipal();
    const requestId = await grant(principalArn, { accessScope: { type: 'namespace', namespaces: ['a'] } });
    local.edge.eks.deleteAccessEntry('demo', principalArn);

    const report = await checkDrift(deps);
    const again = await checkDrift(deps);

    expect(report.repaired).toBeGreaterThanOrEqual(1);
    expect(again.repaired).toBe(0);
    expect(policiesOf(principalArn)).toEqual([[VIEW, { type: 'namespace', namespaces: ['a'] }]]);
    const repaired = local
      .outcomes()
      .filter((e) => e['detail-type'] === 'Access Drift Repaired' && e.detail.principalArn === principalArn);
    expect(repaired).toHaveLength(1);
    expect(repaired[0]?.detail.requestIds).toEqual([requestId]);
  });

  it('checks every subject even when one of them fails, then reports the failure', async () => {
    const healthy = freshPrincipal();
    const taken = freshPrincipal();
    await grant(healthy, { accessScope: { type: 'namespace', namespaces: ['a'] } });
    await grant(taken, { accessScope: { type: 'namespace', namespaces: ['a'] } });
    local.edge.eks.deleteAccessEntry('demo', healthy);
    // A node entry put in place of the broker's: the broker may never change it, so that subject fails.
    local.edge.eks.deleteAccessEntry('demo', taken);
    local.edge.eks.createAccessEntry({ clusterName: 'demo', principalArn: taken, type: 'EC2_LINUX' });

    const failure = await checkDrift(deps).then(
      () => undefined,
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(DriftCheckError);
    const { report, failures } = failure as DriftCheckError;
    expect(report.errors).toBe(1);
    expect(report.repaired).toBeGreaterThanOrEqual(1);
    expect(failures.map((error) => (error as Error).name)).toEqual(['SubjectNotManageableError']);
    expect(policiesOf(healthy)).toEqual([[VIEW, { type: 'namespace', namespaces: ['a'] }]]);
    local.edge.eks.deleteAccessEntry('demo', taken);
  });

  it('puts back a scope narrowed by hand', async () => {
    const principalArn = freshPrincipal();
    await grant(principalArn, { accessScope: { type: 'namespace', namespaces: ['a', 'b'] } });
    local.edge.eks.associateAccessPolicy({
      clusterName: 'demo',
      principalArn,
      policyArn: VIEW,
      accessScope: { type: 'namespace', namespaces: ['a'] },
    });

    await checkDrift(deps);

    expect(policiesOf(principalArn)).toEqual([[VIEW, { type: 'namespace', namespaces: ['a', 'b'] }]]);
  });
});

describe('the sweep reads what is due, not the table', () => {
  it('reads the same number of items for 5 due leases whether 20 or 200 leases are live', async () => {
    const readsFor = async (live: number): Promise<number> => {
      const base = seconds();
      for (let i = 0; i < live; i++) {
        const requestId = freshRequestId('BULK');
        const lease = {
          requestId,
          clusterName: 'demo',
          principalArn: freshPrincipal('bulk'),
          policyArn: VIEW,
          accessScope: { type: 'cluster' as const },
          status: 'active' as const,
          breakGlass: false,
          requestedBy: 'bench',
          reason: 'bulk',
          ruleId: 'developers-view-edit',
          maxDurationSeconds: 28800,
          durationSeconds: i < 5 ? 10 : 20000,
          requestedAt: base,
          grantedAt: base,
          expiresAt: base + (i < 5 ? 10 : 20000),
          fingerprint: requestId,
          version: 1,
        };
        await deps.store.createLease(lease, { type: 'requested', at: clock.ms, actor: 'test', requestId });
      }
      advance(11);
      const before = dynamo.itemsRead;
      const report = await sweep(deps, { limit: 100 });
      expect(report.due).toBe(5);
      return dynamo.itemsRead - before;
    };

    const small = await readsFor(20);
    clock.ms -= 1_000_000 * 1000; // back in time, so the first batch's live leases are not due
    const large = await readsFor(200);

    expect(large).toBe(small);
  });
});

import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { EventBridgeEvent, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { takeLock } from '../../functions/adapters/lease-table/subject-lock';
import { OWNER_TAG_KEY } from '../../functions/core/model';
import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { handler as sqsHandler } from '../../functions/handlers/sqs-intake';
import { logger, runtime } from '../../functions/runtime';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { lambdaContext } from '../../infra/local/lambda-context';
import { LOCAL_CREDENTIALS } from '../support/aws';
import { freshPrincipal, freshRequestId, sampleEvent, sampleSqsEvent, withDetail } from '../support/fixtures';
import { signedByLocal } from '../support/proofs';

const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
const EDIT = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy';
const ADMIN = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy';

let broker: LocalBroker;

beforeAll(async () => {
  broker = await startLocalBroker({ port: 0, sweepIntervalMs: 0 });
  // A subject held by another invocation is given back quickly in these tests.
  process.env.LOCK_WAIT_MS = '300';
});

afterAll(async () => {
  await broker.close();
});

type RequestEvent = EventBridgeEvent<string, Record<string, unknown>>;

async function send(event: RequestEvent): Promise<string> {
  const result = (await eventBridgeHandler(event, lambdaContext('eventbridge-intake'))) as { status: string };
  return result.status;
}

function grant(changes: Record<string, unknown> = {}): RequestEvent {
  return withDetail(sampleEvent('grant-namespaced.json'), {
    requestId: freshRequestId('GRANT'),
    principalArn: freshPrincipal(),
    ...changes,
  });
}

function revoke(requestId: string): RequestEvent {
  return withDetail(sampleEvent('revoke.json'), { requestId });
}

function entryOf(principalArn: string) {
  const demo = broker.edge.eks.snapshot().find((c) => c.clusterName === 'demo');
  return demo?.entries.find((e) => e.principalArn === principalArn);
}

function outcomesFor(requestId: string): EventBridgeEvent<string, Record<string, unknown>>[] {
  return broker.outcomes().filter((e) => e.detail.requestId === requestId);
}

function mutationsOf(principalArn: string) {
  return broker.edge.eks
    .mutations()
    .filter((m) => m.principalArn === principalArn && m.outcome === 'applied');
}

function eksCalls(): number {
  return broker.edge.eks.totalCalls();
}

describe('a fresh grant', () => {
  it('creates a tagged entry and the requested association with 2 EKS calls, and publishes Access Granted', async () => {
    const event = grant();
    const { requestId, principalArn } = event.detail as { requestId: string; principalArn: string };
    const callsBefore = eksCalls();

    const status = await send(event);

    expect(status).toBe('granted');
    const entry = entryOf(principalArn);
    expect(entry?.tags).toEqual({ [OWNER_TAG_KEY]: 'true' });
    expect(entry?.policies.map((p) => [p.policyArn, p.accessScope])).toEqual([
      [EDIT, { type: 'namespace', namespaces: ['team-a', 'team-b'] }],
    ]);
    expect(eksCalls() - callsBefore).toBe(2);
    expect(mutationsOf(principalArn).map((m) => m.operation)).toEqual([
      'CreateAccessEntry',
      'AssociateAccessPolicy',
    ]);
    const [granted, ...others] = outcomesFor(requestId);
    expect(others).toEqual([]);
    expect(granted?.['detail-type']).toBe('Access Granted');
    expect(granted?.detail).toMatchObject({
      clusterName: 'demo',
      principalArn,
      policyArn: EDIT,
      effectiveScope: { type: 'namespace', namespaces: ['team-a', 'team-b'] },
      durationSeconds: 14400,
    });
    const expiresAt = Date.parse(String(granted?.detail.expiresAt));
    expect(Math.abs(expiresAt - (Date.now() + 14400_000))).toBeLessThan(10_000);
    const lease = await runtime().store.findLease(requestId);
    expect(lease).toMatchObject({
      status: 'active',
      ruleId: 'developers-view-edit',
      maxDurationSeconds: 28800,
    });
    expect((await runtime().store.history(requestId)).map((a) => a.type)).toEqual(['requested', 'granted']);
  });

  it('changes nothing on a duplicate delivery: no EKS call, no second outcome', async () => {
    const event = grant();
    const { requestId } = event.detail as { requestId: string };
    await send(event);
    const callsBefore = eksCalls();
    const mutationsBefore = broker.edge.eks.mutations().length;

    const status = await send({ ...event, id: crypto.randomUUID() });

    expect(status).toBe('duplicate');
    expect(eksCalls()).toBe(callsBefore);
    expect(broker.edge.eks.mutations()).toHaveLength(mutationsBefore);
    expect(outcomesFor(requestId).map((e) => e['detail-type'])).toEqual(['Access Granted']);
  });

  it('rejects the same requestId with different content, and changes nothing', async () => {
    const event = grant();
    const { requestId, principalArn } = event.detail as { requestId: string; principalArn: string };
    await send(event);
    const callsBefore = eksCalls();

    const status = await send(withDetail(event, { durationSeconds: 60 }));

    expect(status).toBe('rejected');
    expect(eksCalls()).toBe(callsBefore);
    expect(outcomesFor(requestId).map((e) => [e['detail-type'], e.detail.code])).toEqual([
      ['Access Granted', undefined],
      ['Access Grant Rejected', 'IDEMPOTENCY_CONFLICT'],
    ]);
    expect((await runtime().store.findLease(requestId))?.durationSeconds).toBe(14400);
    expect(mutationsOf(principalArn)).toHaveLength(2);
  });
});

describe('overlapping leases', () => {
  it('merges two namespaced leases of one policy, narrows when one is revoked, deletes the entry after the last', async () => {
    const principalArn = freshPrincipal();
    const first = grant({
      principalArn,
      policyArn: 'AmazonEKSViewPolicy',
      accessScope: { type: 'namespace', namespaces: ['a'] },
    });
    const second = grant({
      principalArn,
      policyArn: 'AmazonEKSViewPolicy',
      accessScope: { type: 'namespace', namespaces: ['b'] },
    });
    const firstId = String(first.detail.requestId);
    const secondId = String(second.detail.requestId);

    await send(first);
    const callsBefore = eksCalls();
    await send(second);
    const secondLeaseCalls = eksCalls() - callsBefore;
    const merged = entryOf(principalArn)?.policies;
    await send(revoke(firstId));
    const narrowed = entryOf(principalArn)?.policies;
    await send(revoke(secondId));

    expect(merged?.map((p) => p.accessScope)).toEqual([{ type: 'namespace', namespaces: ['a', 'b'] }]);
    expect(secondLeaseCalls).toBeLessThanOrEqual(2);
    expect(narrowed?.map((p) => p.accessScope)).toEqual([{ type: 'namespace', namespaces: ['b'] }]);
    expect(entryOf(principalArn)).toBeUndefined();
    expect(mutationsOf(principalArn).map((m) => m.operation)).toEqual([
      'CreateAccessEntry',
      'AssociateAccessPolicy',
      'AssociateAccessPolicy',
      'AssociateAccessPolicy',
      'DeleteAccessEntry',
    ]);
    expect(outcomesFor(firstId).map((e) => e['detail-type'])).toEqual(['Access Granted', 'Access Revoked']);
    expect(outcomesFor(secondId).at(-1)?.detail).toMatchObject({ reason: 'requested' });
  });

  it('leaves a pre-existing entry and association exactly as they were once its leases end', async () => {
    const principalArn = freshPrincipal('platform');
    broker.edge.eks.createAccessEntry({
      clusterName: 'demo',
      principalArn,
      kubernetesGroups: ['viewers'],
      tags: { team: 'platform' },
    });
    broker.edge.eks.associateAccessPolicy({
      clusterName: 'demo',
      principalArn,
      policyArn: VIEW,
      accessScope: { type: 'namespace', namespaces: ['platform'] },
    });
    const before = entryOf(principalArn);
    const view = grant({
      principalArn,
      policyArn: 'AmazonEKSViewPolicy',
      accessScope: { type: 'namespace', namespaces: ['team-x'] },
    });
    const edit = grant({ principalArn, policyArn: 'AmazonEKSEditPolicy', accessScope: { type: 'cluster' } });

    await send(view);
    await send(edit);
    const during = entryOf(principalArn)?.policies.map((p) => [p.policyArn, p.accessScope]);
    await send(revoke(String(view.detail.requestId)));
    await send(revoke(String(edit.detail.requestId)));

    expect(during).toEqual([
      [EDIT, { type: 'cluster', namespaces: [] }],
      [VIEW, { type: 'namespace', namespaces: ['platform', 'team-x'] }],
    ]);
    const after = entryOf(principalArn);
    expect(after?.policies.map((p) => [p.policyArn, p.accessScope])).toEqual(
      before?.policies.map((p) => [p.policyArn, p.accessScope]),
    );
    expect({ ...after, policies: undefined, modifiedAt: undefined }).toEqual({
      ...before,
      policies: undefined,
      modifiedAt: undefined,
    });
    expect(mutationsOf(principalArn).some((m) => m.operation === 'DeleteAccessEntry')).toBe(false);
  });
});

describe('rejections', () => {
  it.each([
    [
      'a policy outside the ceiling of the ticketing integration',
      {
        policyArn: 'AmazonEKSClusterAdminPolicy',
        accessScope: { type: 'cluster' },
        principalArn: freshPrincipal('oncall'),
      },
      'NOT_ALLOWED',
    ],
    ['a cluster the rules do not declare', { clusterName: 'prod' }, 'UNKNOWN_CLUSTER'],
    ['a duration over the rule maximum', { durationSeconds: 28801 }, 'DURATION_TOO_LONG'],
    ['a principal no rule names', { principalArn: 'arn:aws:iam::999999999999:role/outsider' }, 'NOT_ALLOWED'],
    [
      'an STS session instead of a role',
      { principalArn: 'arn:aws:sts::111122223333:assumed-role/dev/alice' },
      'INVALID_FIELD',
    ],
  ])('rejects %s with %s, with no EKS call and no lease', async (_case, changes, code) => {
    const event = grant(changes);
    const requestId = String(event.detail.requestId);
    const callsBefore = eksCalls();

    const status = await send(event);

    expect(status).toBe('rejected');
    expect(eksCalls()).toBe(callsBefore);
    expect(await runtime().store.findLease(requestId)).toBeUndefined();
    const [rejected] = outcomesFor(requestId);
    expect(rejected?.['detail-type']).toBe('Access Grant Rejected');
    expect(rejected?.detail.code).toBe(code);
    expect(String(rejected?.detail.reason).length).toBeGreaterThan(10);
  });

  it('rejects an event from a source that is not on the allow-list', async () => {
    const event = { ...grant(), source: 'com.example.untrusted' };
    const requestId = String(event.detail.requestId);

    const status = await send(event);

    expect(status).toBe('rejected');
    expect(outcomesFor(requestId)[0]?.detail).toMatchObject({ code: 'SOURCE_NOT_ALLOWED' });
  });

  it('rejects each invalid sample in events/invalid with its expected code and field', async () => {
    const expected = (await import('../../events/invalid/expected.json')).default as Record<
      string,
      { code: string; field: string }
    >;
    for (const [file, { code, field }] of Object.entries(expected)) {
      const event = sampleEvent(`invalid/${file}`);
      const before = broker.outcomes().length;

      const status = await send(event);

      const outcome = broker.outcomes()[before];
      expect(status, file).toBe('rejected');
      expect(outcome?.detail, file).toMatchObject({ code, field });
    }
  });
});

describe('break-glass and failures', () => {
  it('grants break-glass access loudly: Access Granted and Break Glass Access Granted', async () => {
    // Through the on-call integration, by alice for herself, proven with her own key (break-glass rules are self).
    const principalArn = 'arn:aws:iam::111122223333:role/oncall-alice';
    const event = await signedByLocal(
      withDetail(sampleEvent('grant-break-glass.json'), { requestId: freshRequestId('BG'), principalArn }),
      'oncallalice',
      broker.edge.url,
    );

    const status = await send(event);

    expect(status).toBe('granted');
    expect(outcomesFor(String(event.detail.requestId)).map((e) => e['detail-type'])).toEqual([
      'Access Granted',
      'Break Glass Access Granted',
    ]);
    expect(entryOf(principalArn)?.policies.map((p) => p.policyArn)).toEqual([ADMIN]);
  });

  it('ends with Access Grant Failed carrying the EKS message when EKS refuses, leaving nothing behind', async () => {
    const event = grant();
    const principalArn = String(event.detail.principalArn);
    broker.edge.eks.setPrincipalMissing(principalArn);

    const status = await send(event);

    expect(status).toBe('failed');
    const [failed] = outcomesFor(String(event.detail.requestId));
    expect(failed?.['detail-type']).toBe('Access Grant Failed');
    expect(String(failed?.detail.error)).toContain(
      'The specified principalArn is invalid: invalid principal.',
    );
    expect(entryOf(principalArn)).toBeUndefined();
    expect((await runtime().store.findLease(String(event.detail.requestId)))?.status).toBe('ended');
  });

  it('never touches a node entry of the principal and reports the grant as failed', async () => {
    const principalArn = freshPrincipal('node');
    broker.edge.eks.createAccessEntry({ clusterName: 'demo', principalArn, type: 'EC2_LINUX' });
    const mutationsBefore = mutationsOf(principalArn).length;

    const event = grant({ principalArn });

    const status = await send(event);

    expect(status).toBe('failed');
    expect(mutationsOf(principalArn)).toHaveLength(mutationsBefore);
    expect(entryOf(principalArn)?.type).toBe('EC2_LINUX');
    const outcomes = outcomesFor(String(event.detail.requestId));
    expect(outcomes.map((e) => e['detail-type'])).toEqual(['Access Grant Failed']);
    expect(String(outcomes[0]?.detail.error)).toContain('EC2_LINUX');
  });
});

describe('the SQS intake', () => {
  it('reports only the record that must be retried, with its error logged; a bad record is rejected, not retried', async () => {
    const sample = sampleSqsEvent('sqs-batch.json');
    const busy = grant();
    const busyPrincipal = String(busy.detail.principalArn);
    const ok = grant();
    const records = [
      {
        ...sample.Records[0],
        messageId: 'ok',
        body: JSON.stringify({ source: ok.source, 'detail-type': ok['detail-type'], detail: ok.detail }),
      },
      { ...sample.Records[1], messageId: 'bad' },
      {
        ...sample.Records[0],
        messageId: 'busy',
        body: JSON.stringify({
          source: busy.source,
          'detail-type': busy['detail-type'],
          detail: busy.detail,
        }),
      },
    ];
    // Another invocation holds the busy subject.
    await takeLock(
      { client: runtime().dynamodb, tableName: runtime().config.leaseTableName },
      { clusterName: 'demo', principalArn: busyPrincipal },
      'someone-else',
      Math.floor(Date.now() / 1000),
      60,
    );

    const errors = vi.spyOn(logger, 'error');

    const response = await sqsHandler({ Records: records } as SQSEvent, lambdaContext('sqs-intake'));

    const logged = [...errors.mock.calls];
    errors.mockRestore();
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'busy' }] });
    expect(logged).toEqual([
      [
        'record failed: it comes back after the visibility timeout',
        expect.objectContaining({
          messageId: 'busy',
          error: expect.objectContaining({ name: 'SubjectBusyError' }),
        }),
      ],
    ]);
    expect(outcomesFor(String(ok.detail.requestId)).map((e) => e['detail-type'])).toEqual(['Access Granted']);
    expect(
      broker
        .outcomes()
        .some((e) => e.detail.requestId === 'JIRA-OPS-1301:grant' && e.detail.code === 'INVALID_FIELD'),
    ).toBe(true);
    expect(entryOf(busyPrincipal)).toBeUndefined();
  });
});

describe('local mode', () => {
  it('handles a request put on the local bus and one sent to the local queue, as Lambda would', async () => {
    const viaBus = grant();
    const viaQueue = grant();
    const events = new EventBridgeClient({
      endpoint: broker.edge.url,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    const sqs = new SQSClient({
      endpoint: broker.edge.url,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });

    await events.send(
      new PutEventsCommand({
        Entries: [
          { Source: viaBus.source, DetailType: viaBus['detail-type'], Detail: JSON.stringify(viaBus.detail) },
        ],
      }),
    );
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: `${broker.edge.url}/111122223333/eks-access-broker-requests`,
        MessageBody: JSON.stringify({
          source: viaQueue.source,
          'detail-type': viaQueue['detail-type'],
          detail: viaQueue.detail,
        }),
      }),
    );
    await broker.edge.bus.idle();
    await broker.edge.queues.idle('eks-access-broker-requests', { timeoutMs: 20_000 });
    await broker.edge.bus.idle();

    for (const event of [viaBus, viaQueue]) {
      expect(outcomesFor(String(event.detail.requestId)).map((e) => e['detail-type'])).toEqual([
        'Access Granted',
      ]);
      expect(entryOf(String(event.detail.principalArn))?.policies).toHaveLength(1);
    }
    events.destroy();
    sqs.destroy();
  });

  it('revokes a short grant put on the bus within seconds of its expiry, through the precise timer', async () => {
    const event = grant({ durationSeconds: 2 });
    const requestId = String(event.detail.requestId);
    const events = new EventBridgeClient({
      endpoint: broker.edge.url,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });

    await events.send(
      new PutEventsCommand({
        Entries: [
          { Source: event.source, DetailType: event['detail-type'], Detail: JSON.stringify(event.detail) },
        ],
      }),
    );
    const deadline = Date.now() + 15_000;
    while (
      Date.now() < deadline &&
      !outcomesFor(requestId).some((e) => e['detail-type'] === 'Access Revoked')
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const [granted, revoked] = outcomesFor(requestId);
    expect(granted?.['detail-type']).toBe('Access Granted');
    expect(revoked?.['detail-type']).toBe('Access Revoked');
    const lagMs =
      Date.parse(String(revoked?.detail.revokedAt)) - Date.parse(String(revoked?.detail.expiresAt));
    expect(lagMs).toBeGreaterThanOrEqual(0);
    expect(lagMs).toBeLessThanOrEqual(5_000);
    expect(entryOf(String(event.detail.principalArn))).toBeUndefined();
    // The outcome is published just before the lease is saved as ended.
    while (Date.now() < deadline && (await runtime().store.findLease(requestId))?.status !== 'ended') {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await runtime().store.findLease(requestId)).toMatchObject({
      status: 'ended',
      endReason: 'expired',
    });
    events.destroy();
  });
});

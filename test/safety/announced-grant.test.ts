import {
  DeleteAccessEntryCommand,
  DisassociateAccessPolicyCommand,
  type EKSClient,
  ThrottlingException,
} from '@aws-sdk/client-eks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeadLetter, settleDeadLetter } from '../../functions/app/dead-letter';
import type { IntakeDeps } from '../../functions/app/deps';
import { sweep } from '../../functions/app/expiry';
import { takeRequest } from '../../functions/app/intake';
import { MAX_RECEIVE_COUNT } from '../../functions/config/defaults';
import type { Outcome } from '../../functions/core/outcomes';
import { localSenderId } from '../support/callers';
import { CrashError, type InvocationClients, type InvocationTrace, invocation } from '../support/crash';
import { checkNoEarlyLoss } from '../support/invariants';
import { type SafetyWorld, startSafetyWorld } from '../support/safety-world';

/**
 * Issue 14, on DynamoDB Local and the EKS emulator over HTTP: a grant applies its access, publishes
 * `Access Granted`, and dies before its final lease save; its lock, still held by the dead invocation, makes the
 * next deliveries find the subject busy, the last ones die too, and the message is dead-lettered; the
 * dead-letter function then meets a throttled EKS. Once `Access Granted` is out, the dead-letter path must
 * neither take the access back nor answer `Access Grant Failed`: the grant is finished, and EKS keeps its access
 * until the lease expires. The same sequence runs in the simulator (test/sim/announced-grant.test.ts).
 */
const EDIT = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy';
const VISIBILITY_SECONDS = 20;
const DURATION_SECONDS = 3600;

let world: SafetyWorld;

beforeAll(async () => {
  world = await startSafetyWorld({ lockWaitMs: 50 });
});

afterAll(async () => {
  await world?.close();
});

function grantBody(requestId: string, principalArn: string): string {
  return JSON.stringify({
    source: 'com.example.ticketing',
    'detail-type': 'Access Grant Requested',
    detail: {
      requestId,
      clusterName: 'demo',
      principalArn,
      policyArn: 'AmazonEKSEditPolicy',
      accessScope: { type: 'namespace', namespaces: ['a'] },
      durationSeconds: DURATION_SECONDS,
      requestedBy: 'alice@example.com',
      reason: 'issue 14 regression',
    },
  });
}

/**
 * The EKS client with throttling where the issue met it: the dead-letter function's first call, and the first
 * call that would take access back (DeleteAccessEntry or DisassociateAccessPolicy).
 */
function throttled(client: EKSClient, counts: { calls: number; takeBacks: number }): EKSClient {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== 'send' || typeof value !== 'function') return value;
      return async (command: object, ...rest: unknown[]) => {
        const first = counts.calls++ === 0;
        const takeBack =
          command instanceof DeleteAccessEntryCommand || command instanceof DisassociateAccessPolicyCommand;
        if (takeBack) counts.takeBacks++;
        if (first || (takeBack && counts.takeBacks === 1)) {
          throw new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 429 } });
        }
        return Reflect.apply(value, target, [command, ...rest]);
      };
    },
  });
}

describe('a grant announced and then cut off before its lease was saved (issue 14)', () => {
  it('is finished by the dead-letter function through a throttled EKS: never rolled back, never answered failed', async () => {
    // Arrange
    const id = `${process.pid}-${Date.now()}`;
    const principalArn = `arn:aws:iam::111122223333:role/announced-${id}`;
    const requestId = `ANNOUNCED-${id}`;
    const delivery = { sqsBody: grantBody(requestId, principalArn), senderId: localSenderId() };
    const eks = world.local.edge.eks;
    const published: Outcome[] = [];
    const run = async <T>(
      crashAt: number | undefined,
      fn: (deps: IntakeDeps) => Promise<T>,
      clients: InvocationClients = world.clients,
    ): Promise<{ value?: T; error?: unknown; trace: InvocationTrace }> => {
      const { deps, trace } = invocation(world.deps, clients, crashAt);
      try {
        return { value: await fn({ ...world.deps, ...deps }), trace };
      } catch (error) {
        return { error, trace };
      } finally {
        published.push(...trace.published);
      }
    };
    // Where "after publishing" is: the side effects of the same grant, run to its end for another principal.
    const probe = await run(undefined, (deps) =>
      takeRequest(deps, {
        sqsBody: grantBody(`${requestId}-probe`, `${principalArn}-probe`),
        senderId: localSenderId(),
      }),
    );
    const afterPublish = probe.trace.effects.indexOf('publish') + 1;
    published.length = 0;
    const seqBefore = eks.mutations().at(-1)?.seq ?? 0;

    // Act: the first delivery dies between publishing and saving; then busy, busy, dead, dead.
    const deliveries = [await run(afterPublish, (deps) => takeRequest(deps, delivery))];
    for (const crashAt of [undefined, undefined, 0, 0]) {
      world.clock.advance(VISIBILITY_SECONDS);
      deliveries.push(await run(crashAt, (deps) => takeRequest(deps, delivery)));
    }
    const pending = await world.deps.store.findLease(requestId);
    const letter: DeadLetter = { body: delivery.sqsBody, queue: 'requests', senderId: delivery.senderId };
    const counts = { calls: 0, takeBacks: 0 };
    const eksClient = throttled(world.clients.eks, counts);
    const attempts = [];
    for (let attempt = 1; attempt <= MAX_RECEIVE_COUNT; attempt++) {
      world.clock.advance(VISIBILITY_SECONDS);
      const settled = await run(undefined, (deps) => settleDeadLetter(deps, letter), {
        ...world.clients,
        eks: eksClient,
      });
      attempts.push(settled);
      if (settled.error === undefined) break;
    }
    const settled = attempts.at(-1);
    const afterDeadLetter = eks.snapshot()[0]?.entries.find((e) => e.principalArn === principalArn);
    const lease = await world.deps.store.findLease(requestId);
    const history = await world.store.history(requestId);
    const noEarlyLoss = checkNoEarlyLoss(eks.mutations(), lease ? [{ lease, history }] : []);
    // Then the lease runs out as any other: the sweeper takes the access back with `Access Revoked`.
    world.clock.advance(DURATION_SECONDS + 60);
    const swept = await run(undefined, (deps) => sweep(deps, { intervalSeconds: 60 }));

    // Assert: the sequence the issue describes did happen.
    expect(deliveries[0]?.trace.crashedAt).toMatch(/^dynamodb\./);
    expect(deliveries[0]?.trace.published.map((o) => o.detailType)).toEqual(['Access Granted']);
    expect(deliveries.slice(1, 3).map((d) => (d.error as Error | undefined)?.name)).toEqual([
      'SubjectBusyError',
      'SubjectBusyError',
    ]);
    expect(deliveries.slice(3).map((d) => d.error instanceof CrashError)).toEqual([true, true]);
    expect(pending?.status).toBe('pending');
    expect(attempts[0]?.error).toMatchObject({ name: 'RetryableError' });
    // And the dead letter finished the grant: the access stayed, the answer stayed "granted".
    expect(settled?.value).toMatchObject({ status: 'granted', lease: { requestId, status: 'active' } });
    expect(counts.takeBacks).toBe(0);
    expect(afterDeadLetter?.policies.map((p) => [p.policyArn, p.accessScope])).toEqual([
      [EDIT, { type: 'namespace', namespaces: ['a'] }],
    ]);
    expect(history.map((e) => [e.type, e.actor])).toEqual([
      ['requested', 'alice@example.com'],
      ['granted', 'dead-letter'],
    ]);
    expect(noEarlyLoss).toEqual([]);
    const takenBack = eks
      .mutations()
      .filter((m) => m.seq > seqBefore && m.principalArn === principalArn && m.outcome === 'applied')
      .map((m) => m.operation);
    expect(takenBack).toEqual(['CreateAccessEntry', 'AssociateAccessPolicy', 'DeleteAccessEntry']);
    expect(swept.error).toBeUndefined();
    expect(
      published.filter((o) => o.detail.requestId === requestId).map((o) => [o.detailType, o.detail.reason]),
    ).toEqual([
      ['Access Granted', undefined],
      ['Access Granted', undefined],
      ['Access Revoked', 'expired'],
    ]);
  }, 60_000);
});

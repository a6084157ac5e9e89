/**
 * Drift repaired from CloudTrail's events, end to end on the local broker: a person changes an access entry
 * with the AWS SDK, the edge puts the event CloudTrail would on its default bus, and the drift-event function
 * puts back what the leases need; the broker's own calls put none.
 */
import { DeleteAccessEntryCommand, DisassociateAccessPolicyCommand, EKSClient } from '@aws-sdk/client-eks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { lambdaContext } from '../../infra/local/lambda-context';
import { freshPrincipal, freshRequestId, sampleEvent, withDetail } from '../support/fixtures';
import { waitFor } from '../support/poll';

const EDIT = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy';
const BOB_SESSION = 'arn:aws:sts::111122223333:assumed-role/dev-bob/devbob';

let local: LocalBroker;
let bob: EKSClient;

beforeAll(async () => {
  local = await startLocalBroker({ port: 0, sweepIntervalMs: 0 });
  // A developer's own key: not the broker's.
  bob = new EKSClient({
    endpoint: local.edge.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'devbob', secretAccessKey: 'devbob' },
  });
});

afterAll(async () => {
  bob.destroy();
  await local.close();
});

async function grant(principalArn: string): Promise<string> {
  const requestId = freshRequestId('DRIFT');
  const event = withDetail(sampleEvent('grant-namespaced.json'), { requestId, principalArn });
  const result = (await eventBridgeHandler(event, lambdaContext('test'))) as { status?: string };
  expect(result.status).toBe('granted');
  return requestId;
}

function policiesOf(principalArn: string) {
  const demo = local.edge.eks.snapshot().find((cluster) => cluster.clusterName === 'demo');
  return demo?.entries
    .find((entry) => entry.principalArn === principalArn)
    ?.policies.map((policy) => [policy.policyArn, policy.accessScope]);
}

function repairsOf(principalArn: string) {
  return local
    .outcomes()
    .filter((e) => e['detail-type'] === 'Access Drift Repaired' && e.detail.principalArn === principalArn);
}

/** CloudTrail's events on the default bus for calls on the principal's entry (a path label comes encoded). */
function trailOf(principalArn: string) {
  return local.edge.bus
    .events()
    .map(({ event }) => event)
    .filter((event) => {
      const request = (event.detail as { requestParameters?: { principalArn?: string } }).requestParameters;
      return event.source === 'aws.eks' && decodeURIComponent(request?.principalArn ?? '') === principalArn;
    });
}

describe('drift repaired from CloudTrail events (local edge)', () => {
  it('puts back a policy someone disassociated by hand, within seconds, and names who did', async () => {
    // Arrange
    const principalArn = freshPrincipal();
    const requestId = await grant(principalArn);

    // Act
    await bob.send(
      new DisassociateAccessPolicyCommand({ clusterName: 'demo', principalArn, policyArn: EDIT }),
    );
    const [repaired] = await waitFor(
      'the repair',
      () => repairsOf(principalArn)[0] && repairsOf(principalArn),
      5_000,
    );

    // Assert
    expect(repaired?.detail).toMatchObject({
      requestIds: [requestId],
      actions: [{ kind: 'associate', policyArn: EDIT }],
      change: { eventName: 'DisassociateAccessPolicy', changedBy: BOB_SESSION },
    });
    expect(policiesOf(principalArn)).toEqual([
      [EDIT, { type: 'namespace', namespaces: ['team-a', 'team-b'] }],
    ]);
    // The trail holds bob's call only: the broker's grant and repair are its own.
    expect(trailOf(principalArn).map((event) => (event.detail as { eventName: string }).eventName)).toEqual([
      'DisassociateAccessPolicy',
    ]);
  });

  it('recreates an entry someone deleted by hand', async () => {
    // Arrange
    const principalArn = freshPrincipal();
    await grant(principalArn);

    // Act
    await bob.send(new DeleteAccessEntryCommand({ clusterName: 'demo', principalArn }));
    await waitFor('the repair', () => repairsOf(principalArn).length > 0, 5_000);

    // Assert
    expect(policiesOf(principalArn)).toEqual([
      [EDIT, { type: 'namespace', namespaces: ['team-a', 'team-b'] }],
    ]);
  });

  it('leaves alone an entry the broker holds no lease for', async () => {
    // Arrange: bob's own entry, made by hand, then removed.
    const principalArn = freshPrincipal();
    local.edge.eks.createAccessEntry({ clusterName: 'demo', principalArn, type: 'STANDARD' });

    // Act
    await bob.send(new DeleteAccessEntryCommand({ clusterName: 'demo', principalArn }));
    await local.edge.bus.idle();

    // Assert
    expect(trailOf(principalArn)).toHaveLength(1);
    expect(repairsOf(principalArn)).toEqual([]);
    expect(policiesOf(principalArn)).toBeUndefined();
  });
});

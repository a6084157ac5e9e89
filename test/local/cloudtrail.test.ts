import {
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  EKSClient,
} from '@aws-sdk/client-eks';
import { afterEach, describe, expect, it } from 'vitest';
import { readAccessEntryChange } from '../../functions/core/access-change';
import { type Edge, startEdge } from '../../infra/local/edge';
import { BROKER_LOCAL_CREDENTIALS } from '../../infra/local/identities';

const BROKER_ROLE = 'arn:aws:iam::111122223333:role/eks-access-broker-local';
const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
const DEV = 'arn:aws:iam::111122223333:role/dev';

let edge: Edge | undefined;

afterEach(async () => {
  await edge?.close();
  edge = undefined;
});

function clientOf(started: Edge, key: string): EKSClient {
  return new EKSClient({
    endpoint: started.url,
    region: 'us-east-1',
    credentials: { accessKeyId: key, secretAccessKey: key },
    maxAttempts: 1,
  });
}

function trail(started: Edge) {
  return started.bus
    .events()
    .filter(({ event }) => event.source === 'aws.eks')
    .map(({ busName, event }) => ({ busName, event }));
}

describe('the local trail: CloudTrail events of mutating EKS calls, on the default bus', () => {
  it('puts one per call that changed something, in the shape the drift-event function reads', async () => {
    // Arrange
    edge = await startEdge({ port: 0, dynamodb: false, cloudTrail: { exceptPrincipals: [BROKER_ROLE] } });
    const bob = clientOf(edge, 'devbob');

    // Act
    await bob.send(new CreateAccessEntryCommand({ clusterName: 'demo', principalArn: DEV }));
    await bob.send(
      new AssociateAccessPolicyCommand({
        clusterName: 'demo',
        principalArn: DEV,
        policyArn: VIEW,
        accessScope: { type: 'cluster' },
      }),
    );
    const refused = await bob
      .send(new CreateAccessEntryCommand({ clusterName: 'demo', principalArn: DEV }))
      .then(
        () => undefined,
        (error: unknown) => error,
      );

    // Assert
    expect(refused).toBeDefined();
    const events = trail(edge);
    expect(events.map(({ busName }) => busName)).toEqual(['default', 'default']);
    const [created, associated] = events.map(({ event }) => event);
    expect(created?.['detail-type']).toBe('AWS API Call via CloudTrail');
    expect(associated?.detail).toMatchObject({
      eventSource: 'eks.amazonaws.com',
      eventName: 'AssociateAccessPolicy',
      userIdentity: {
        type: 'AssumedRole',
        arn: 'arn:aws:sts::111122223333:assumed-role/dev-bob/devbob',
        sessionContext: { sessionIssuer: { arn: 'arn:aws:iam::111122223333:role/dev-bob' } },
      },
      // A path label as it travelled; the body's members as sent.
      requestParameters: { name: 'demo', principalArn: encodeURIComponent(DEV), policyArn: VIEW },
      recipientAccountId: '111122223333',
    });
    expect(events.map(({ event }) => readAccessEntryChange(event))).toEqual([
      { change: expect.objectContaining({ principalArn: DEV, eventName: 'CreateAccessEntry' }) },
      { change: expect.objectContaining({ principalArn: DEV, eventName: 'AssociateAccessPolicy' }) },
    ]);
  });

  it("leaves out the calls of the principals it is told are the broker's, and puts none without a trail", async () => {
    // Arrange
    edge = await startEdge({ port: 0, dynamodb: false, cloudTrail: { exceptPrincipals: [BROKER_ROLE] } });
    const untrailed = await startEdge({ port: 0, dynamodb: false, cloudTrail: false });
    try {
      // Act
      await clientOf(edge, BROKER_LOCAL_CREDENTIALS.accessKeyId).send(
        new CreateAccessEntryCommand({ clusterName: 'demo', principalArn: DEV }),
      );
      await clientOf(untrailed, 'devbob').send(
        new CreateAccessEntryCommand({ clusterName: 'demo', principalArn: DEV }),
      );
      await clientOf(untrailed, 'devbob').send(
        new DeleteAccessEntryCommand({ clusterName: 'demo', principalArn: DEV }),
      );

      // Assert
      expect(trail(edge)).toEqual([]);
      expect(trail(untrailed)).toEqual([]);
    } finally {
      await untrailed.close();
    }
  });
});

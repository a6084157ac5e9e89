import {
  AccessDeniedException,
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  DescribeAccessEntryCommand,
  DescribeClusterCommand,
  DisassociateAccessPolicyCommand,
  EKSClient,
  InvalidParameterException,
  ListAssociatedAccessPoliciesCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  ThrottlingException,
} from '@aws-sdk/client-eks';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AccessPolicyNotFoundError,
  AssociationRefusedError,
  ClusterNotFoundError,
  EksAccess,
  EksRequestError,
  EntryAppearedError,
  PrincipalRefusedError,
} from '../../functions/adapters/eks-access';
import { ConcurrentModificationError, PermanentError, RetryableError } from '../../functions/core/errors';
import { OWNER_TAG_KEY, OWNER_TAG_VALUE } from '../../functions/core/model';

const SUBJECT = { clusterName: 'demo', principalArn: 'arn:aws:iam::111122223333:role/dev' };
const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
const meta = { $metadata: {} };
const ENTRY_NOT_FOUND =
  "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.";

const eksMock = mockClient(EKSClient);
const client = new EKSClient({ region: 'us-east-1' });

function adapter(sleeps: number[] = []): EksAccess {
  return new EksAccess({
    clientFor: () => client,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 1,
    baseDelayMs: 100,
  });
}

function notFound(message = ENTRY_NOT_FOUND) {
  return new ResourceNotFoundException({ message, $metadata: { httpStatusCode: 404 } });
}

function invalidParameter(message: string) {
  return new InvalidParameterException({ message, $metadata: { httpStatusCode: 400 } });
}

afterEach(() => {
  eksMock.reset();
});

describe('EksAccess.readActual', () => {
  it('answers null for a principal without an entry, with one call', async () => {
    // Arrange
    eksMock.on(DescribeAccessEntryCommand).rejects(notFound());

    // Act
    const actual = await adapter().readActual(SUBJECT);

    // Assert
    expect(actual).toBeNull();
    expect(eksMock).toHaveReceivedCommandTimes(DescribeAccessEntryCommand, 1);
    expect(eksMock).toHaveReceivedCommandTimes(ListAssociatedAccessPoliciesCommand, 0);
    expect(eksMock).toHaveReceivedCommandTimes(DescribeClusterCommand, 0);
  });

  it('reads the entry and every page of its associations', async () => {
    // Arrange
    eksMock
      .on(DescribeAccessEntryCommand)
      .resolves({ accessEntry: { type: 'STANDARD', tags: { team: 'a' } } })
      .on(ListAssociatedAccessPoliciesCommand)
      .resolvesOnce({
        associatedAccessPolicies: [
          { policyArn: VIEW, accessScope: { type: 'namespace', namespaces: ['a'] } },
        ],
        nextToken: 'page-2',
      })
      .resolvesOnce({
        associatedAccessPolicies: [{ policyArn: 'p2', accessScope: { type: 'cluster', namespaces: [] } }],
      });

    // Act
    const actual = await adapter().readActual(SUBJECT);

    // Assert
    expect(actual).toEqual({
      entryType: 'STANDARD',
      tags: { team: 'a' },
      associations: [
        { policyArn: VIEW, accessScope: { type: 'namespace', namespaces: ['a'] } },
        { policyArn: 'p2', accessScope: { type: 'cluster' } },
      ],
    });
    expect(eksMock).toHaveReceivedNthCommandWith(ListAssociatedAccessPoliciesCommand, 2, {
      ...SUBJECT,
      maxResults: 100,
      nextToken: 'page-2',
    });
  });

  it('does not list policies of a node entry', async () => {
    // Arrange
    eksMock.on(DescribeAccessEntryCommand).resolves({ accessEntry: { type: 'EC2_LINUX' } });

    // Act
    const actual = await adapter().readActual(SUBJECT);

    // Assert
    expect(actual).toEqual({ entryType: 'EC2_LINUX', tags: {}, associations: [] });
    expect(eksMock).toHaveReceivedCommandTimes(ListAssociatedAccessPoliciesCommand, 0);
  });

  it('reports an entry that vanished between its describe and its policies as a concurrent change', async () => {
    // Arrange
    eksMock
      .on(DescribeAccessEntryCommand)
      .resolves({ accessEntry: { type: 'STANDARD' } })
      .on(ListAssociatedAccessPoliciesCommand)
      .rejects(notFound());

    // Act
    const error = await adapter()
      .readActual(SUBJECT)
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(ConcurrentModificationError);
  });

  it('makes a principalArn EKS finds malformed a permanent error, not a missing entry', async () => {
    // Arrange: EKS answers a 400 about the format, not a 404, for a principalArn that is no IAM ARN.
    eksMock
      .on(DescribeAccessEntryCommand)
      .rejects(invalidParameter('The principalArn parameter format is not valid'));

    // Act
    const error = await adapter()
      .readActual(SUBJECT)
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(EksRequestError);
    expect((error as Error).message).toContain('The principalArn parameter format is not valid');
  });

  it('turns throttling left over after the SDK retries into a RetryableError that keeps its cause', async () => {
    // Arrange
    const throttled = new ThrottlingException({
      message: 'Rate exceeded',
      $metadata: { httpStatusCode: 429 },
    });
    eksMock.on(DescribeAccessEntryCommand).rejects(throttled);

    // Act
    const error = await adapter()
      .readActual(SUBJECT)
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).cause).toBe(throttled);
  });

  it('treats a dropped connection as retryable and a bug as itself', async () => {
    // Arrange
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    eksMock.on(DescribeAccessEntryCommand).rejectsOnce(reset).rejectsOnce(new TypeError('bug'));

    // Act
    const first = await adapter()
      .readActual(SUBJECT)
      .catch((e: unknown) => e);
    const second = await adapter()
      .readActual(SUBJECT)
      .catch((e: unknown) => e);

    // Assert
    expect(first).toBeInstanceOf(RetryableError);
    expect(second).toBeInstanceOf(TypeError);
  });
});

describe('a missing cluster, told from a missing entry without reading a message', () => {
  it.each([
    ['the documented text', 'No cluster found for name: demo.'],
    ["the missing entry's own text", ENTRY_NOT_FOUND],
  ])(
    'is a ClusterNotFoundError when nothing else rests on the 404 (EKS answering %s)',
    async (_case, message) => {
      // Arrange: the entry read is a 404; a plan of nothing follows (a revocation of what looks gone).
      eksMock
        .on(DescribeAccessEntryCommand)
        .rejects(notFound(message))
        .on(DescribeClusterCommand)
        .rejects(notFound('No cluster found for name: demo.'));
      const eks = adapter();

      // Act
      const actual = await eks.readActual(SUBJECT);
      const error = await eks.apply(SUBJECT, []).catch((e: unknown) => e);

      // Assert
      expect(actual).toBeNull();
      expect(error).toBeInstanceOf(ClusterNotFoundError);
      expect(error).toBeInstanceOf(PermanentError);
      expect((error as Error).message).toContain('EKS has no cluster demo');
    },
  );

  it('is confirmed present once, then a 404 on the entry means no entry', async () => {
    // Arrange
    eksMock.on(DescribeAccessEntryCommand).rejects(notFound()).on(DescribeClusterCommand).resolves(meta);
    const eks = adapter();

    // Act
    await eks.readActual(SUBJECT);
    await eks.apply(SUBJECT, []);
    await eks.readActual(SUBJECT);
    await eks.apply(SUBJECT, []);

    // Assert
    expect(eksMock).toHaveReceivedCommandTimes(DescribeClusterCommand, 1);
    expect(eksMock).toHaveReceivedCommandWith(DescribeClusterCommand, { name: 'demo' });
  });

  it('costs a fresh grant no extra call: its create proves the cluster', async () => {
    // Arrange
    eksMock
      .on(DescribeAccessEntryCommand)
      .rejects(notFound('No cluster found for name: demo.'))
      .on(CreateAccessEntryCommand)
      .resolves(meta)
      .on(AssociateAccessPolicyCommand)
      .resolves(meta);
    const eks = adapter();

    // Act
    await eks.readActual(SUBJECT);
    await eks.apply(SUBJECT, [
      { kind: 'createEntry' },
      { kind: 'associate', policyArn: VIEW, accessScope: { type: 'cluster' } },
    ]);

    // Assert
    expect(eksMock.calls()).toHaveLength(3);
    expect(eksMock).toHaveReceivedCommandTimes(DescribeClusterCommand, 0);
  });

  it('is a ClusterNotFoundError at once when CreateAccessEntry answers 404, whose only path label is the cluster', async () => {
    // Arrange
    eksMock.on(CreateAccessEntryCommand).rejects(notFound(ENTRY_NOT_FOUND));

    // Act
    const error = await adapter()
      .apply(SUBJECT, [{ kind: 'createEntry' }])
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(ClusterNotFoundError);
    expect(eksMock).toHaveReceivedCommandTimes(CreateAccessEntryCommand, 1);
  });

  it('fails a delete answered 404 when DescribeCluster finds no cluster either', async () => {
    // Arrange
    eksMock
      .on(DeleteAccessEntryCommand)
      .rejects(notFound())
      .on(DescribeClusterCommand)
      .rejects(notFound('No cluster found for name: demo.'));

    // Act
    const error = await adapter()
      .apply(SUBJECT, [{ kind: 'deleteEntry' }])
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(ClusterNotFoundError);
  });

  it('keeps a DescribeCluster the broker may not call a permanent error that says so', async () => {
    // Arrange
    eksMock
      .on(DescribeAccessEntryCommand)
      .rejects(notFound())
      .on(DescribeClusterCommand)
      .rejects(
        new AccessDeniedException({
          message: 'not authorized to perform: eks:DescribeCluster',
          $metadata: { httpStatusCode: 403 },
        }),
      );
    const eks = adapter();

    // Act
    await eks.readActual(SUBJECT);
    const error = await eks.apply(SUBJECT, []).catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(EksRequestError);
    expect((error as Error).message).toContain('DescribeCluster: AccessDeniedException');
  });
});

describe('EksAccess.apply', () => {
  it('creates a tagged STANDARD entry and associates exactly the planned scope', async () => {
    // Arrange
    eksMock.on(CreateAccessEntryCommand).resolves(meta).on(AssociateAccessPolicyCommand).resolves(meta);

    // Act
    await adapter().apply(SUBJECT, [
      { kind: 'createEntry' },
      { kind: 'associate', policyArn: VIEW, accessScope: { type: 'namespace', namespaces: ['a', 'b'] } },
    ]);

    // Assert
    expect(eksMock).toHaveReceivedCommandWith(CreateAccessEntryCommand, {
      ...SUBJECT,
      type: 'STANDARD',
      tags: { [OWNER_TAG_KEY]: OWNER_TAG_VALUE },
    });
    expect(eksMock).toHaveReceivedCommandWith(AssociateAccessPolicyCommand, {
      ...SUBJECT,
      policyArn: VIEW,
      accessScope: { type: 'namespace', namespaces: ['a', 'b'] },
    });
  });

  it('never adopts an entry that appeared: ResourceInUse means read and plan again', async () => {
    // Arrange
    eksMock
      .on(CreateAccessEntryCommand)
      .rejects(new ResourceInUseException({ message: 'in use', $metadata: { httpStatusCode: 409 } }));

    // Act
    const error = await adapter()
      .apply(SUBJECT, [
        { kind: 'createEntry' },
        { kind: 'associate', policyArn: VIEW, accessScope: { type: 'cluster' } },
      ])
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(EntryAppearedError);
    expect(error).toBeInstanceOf(RetryableError);
    expect(eksMock).toHaveReceivedCommandTimes(AssociateAccessPolicyCommand, 0);
  });

  it('retries a 404 from associate right after its own create, with growing jittered backoff', async () => {
    // Arrange
    const sleeps: number[] = [];
    eksMock
      .on(CreateAccessEntryCommand)
      .resolves(meta)
      .on(AssociateAccessPolicyCommand)
      .rejectsOnce(notFound())
      .rejectsOnce(notFound())
      .resolves(meta);

    // Act
    await adapter(sleeps).apply(SUBJECT, [
      { kind: 'createEntry' },
      { kind: 'associate', policyArn: VIEW, accessScope: { type: 'cluster' } },
    ]);

    // Assert
    expect(eksMock).toHaveReceivedCommandTimes(AssociateAccessPolicyCommand, 3);
    expect(sleeps).toEqual([100, 200]);
  });

  it('reports an entry that vanished before an associate as a concurrent change, without waiting', async () => {
    // Arrange: the re-read finds no entry, in a cluster that is there.
    const sleeps: number[] = [];
    eksMock
      .on(AssociateAccessPolicyCommand)
      .rejects(notFound())
      .on(DescribeAccessEntryCommand)
      .rejects(notFound())
      .on(DescribeClusterCommand)
      .resolves(meta);

    // Act
    const error = await adapter(sleeps)
      .apply(SUBJECT, [{ kind: 'associate', policyArn: VIEW, accessScope: { type: 'cluster' } }])
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(ConcurrentModificationError);
    expect(sleeps).toEqual([]);
  });

  it('takes a 404 on associate for an unknown policy when the entry is there, and names the policy', async () => {
    // Arrange: EKS answers "The specified policyArn could not be found." as a 404, like a missing entry.
    const sleeps: number[] = [];
    const unknown = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSNoSuchPolicy';
    eksMock
      .on(AssociateAccessPolicyCommand)
      .rejects(notFound('The specified policyArn could not be found.'))
      .on(DescribeAccessEntryCommand)
      .resolves({ accessEntry: { type: 'STANDARD' } });

    // Act
    const error = await adapter(sleeps)
      .apply(SUBJECT, [{ kind: 'associate', policyArn: unknown, accessScope: { type: 'cluster' } }])
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(AccessPolicyNotFoundError);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ policyArn: unknown });
    expect((error as Error).message).toContain(unknown);
    expect(sleeps).toEqual([]);
  });

  it('names the policy and the namespaces of an association EKS refuses', async () => {
    // Arrange: EKS's namespace rules are documented nowhere; whatever it refuses ends the grant clearly.
    eksMock
      .on(AssociateAccessPolicyCommand)
      .rejects(invalidParameter('An access scope can have at most 2 namespaces, got 3.'));

    // Act
    const error = await adapter()
      .apply(SUBJECT, [
        {
          kind: 'associate',
          policyArn: VIEW,
          accessScope: { type: 'namespace', namespaces: ['a', 'b', 'c'] },
        },
      ])
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(AssociationRefusedError);
    expect(error).toBeInstanceOf(EksRequestError);
    expect((error as Error).message).toBe(
      `AssociateAccessPolicy: InvalidParameterException: An access scope can have at most 2 namespaces, got 3. (EKS refused ${VIEW} on namespaces a, b, c)`,
    );
  });

  it('takes 404 on disassociate and delete as done, once the cluster is known to be there', async () => {
    // Arrange
    eksMock
      .on(DisassociateAccessPolicyCommand)
      .rejects(notFound())
      .on(DeleteAccessEntryCommand)
      .rejects(notFound())
      .on(DescribeClusterCommand)
      .resolves(meta);

    // Act
    const done = adapter().apply(SUBJECT, [
      { kind: 'disassociate', policyArn: VIEW },
      { kind: 'deleteEntry' },
    ]);

    // Assert
    await expect(done).resolves.toBeUndefined();
    expect(eksMock).toHaveReceivedCommandWith(DisassociateAccessPolicyCommand, {
      ...SUBJECT,
      policyArn: VIEW,
    });
    expect(eksMock).toHaveReceivedCommandWith(DeleteAccessEntryCommand, SUBJECT);
    expect(eksMock).toHaveReceivedCommandTimes(DescribeClusterCommand, 1);
  });

  it('reads again after a 400 on disassociate: done when the policy is not associated', async () => {
    // Arrange: one way EKS might answer for a policy that is not associated.
    eksMock
      .on(DisassociateAccessPolicyCommand)
      .rejects(invalidParameter('The specified policyArn is not associated with this access entry.'))
      .on(ListAssociatedAccessPoliciesCommand)
      .resolves({ associatedAccessPolicies: [] });

    // Act
    const done = adapter().apply(SUBJECT, [{ kind: 'disassociate', policyArn: VIEW }]);

    // Assert
    await expect(done).resolves.toBeUndefined();
    expect(eksMock).toHaveReceivedCommandTimes(ListAssociatedAccessPoliciesCommand, 1);
  });

  it('keeps a 400 on disassociate a permanent error while the policy is still associated', async () => {
    // Arrange
    eksMock
      .on(DisassociateAccessPolicyCommand)
      .rejects(invalidParameter('something else'))
      .on(ListAssociatedAccessPoliciesCommand)
      .resolves({ associatedAccessPolicies: [{ policyArn: VIEW, accessScope: { type: 'cluster' } }] });

    // Act
    const error = await adapter()
      .apply(SUBJECT, [{ kind: 'disassociate', policyArn: VIEW }])
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(EksRequestError);
    expect((error as Error).message).toBe(
      'DisassociateAccessPolicy: InvalidParameterException: something else',
    );
  });

  it('makes a refusal of EKS a permanent error carrying the EKS message', async () => {
    // Arrange
    eksMock.on(CreateAccessEntryCommand).rejects(
      new AccessDeniedException({
        message: 'not authorized to perform: eks:CreateAccessEntry',
        $metadata: { httpStatusCode: 403 },
      }),
    );

    // Act
    const error = await adapter()
      .apply(SUBJECT, [{ kind: 'createEntry' }])
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(EksRequestError);
    expect(error).toMatchObject({
      operation: 'CreateAccessEntry',
      errorType: 'AccessDeniedException',
      message: 'CreateAccessEntry: AccessDeniedException: not authorized to perform: eks:CreateAccessEntry',
    });
  });
});

describe('a principal EKS refuses as invalid (IAM may not have propagated a new role yet)', () => {
  const refused = () => invalidParameter('The specified principalArn is invalid: invalid principal.');

  it('retries the create with growing waits until EKS takes it', async () => {
    // Arrange
    const sleeps: number[] = [];
    eksMock
      .on(CreateAccessEntryCommand)
      .rejectsOnce(refused())
      .rejectsOnce(refused())
      .rejectsOnce(refused())
      .resolves(meta);

    // Act
    await adapter(sleeps).apply(SUBJECT, [{ kind: 'createEntry' }]);

    // Assert
    expect(eksMock).toHaveReceivedCommandTimes(CreateAccessEntryCommand, 4);
    expect(sleeps).toEqual([500, 1000, 2000]);
  });

  it('gives up within the propagation budget, with a permanent error that says what it may mean', async () => {
    // Arrange
    const sleeps: number[] = [];
    eksMock.on(CreateAccessEntryCommand).rejects(refused());
    const eks = new EksAccess({
      clientFor: () => client,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0,
      principalPropagationMs: 5_000,
    });

    // Act
    const error = await eks.apply(SUBJECT, [{ kind: 'createEntry' }]).catch((e: unknown) => e);

    // Assert: equal jitter (half the ceiling at least) keeps the attempts bounded whatever the draws.
    expect(error).toBeInstanceOf(PrincipalRefusedError);
    expect(error).toBeInstanceOf(PermanentError);
    expect(sleeps).toEqual([250, 500, 1000, 2000]);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(5_000);
    expect((error as Error).message).toBe(
      'CreateAccessEntry: InvalidParameterException: The specified principalArn is invalid: invalid principal. (still refused after 4 s of retries: the IAM principal does not exist, or IAM has not propagated it yet; ask again once it exists)',
    );
  });
});

import {
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  DescribeAccessEntryCommand,
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
import { EksAccess, EksRequestError, EntryAppearedError } from '../../functions/adapters/eks-access';
import { ConcurrentModificationError, RetryableError } from '../../functions/core/errors';
import { OWNER_TAG_KEY, OWNER_TAG_VALUE } from '../../functions/core/model';

const SUBJECT = { clusterName: 'demo', principalArn: 'arn:aws:iam::111122223333:role/dev' };
const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
const meta = { $metadata: {} };

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

function notFound(message = 'The specified principalArn could not be found.') {
  return new ResourceNotFoundException({ message, $metadata: { httpStatusCode: 404 } });
}

afterEach(() => {
  eksMock.reset();
});

describe('EksAccess.readActual', () => {
  it('answers null for a principal without an entry, with one call', async () => {
    eksMock.on(DescribeAccessEntryCommand).rejects(notFound());

    const actual = await adapter().readActual(SUBJECT);

    expect(actual).toBeNull();
    expect(eksMock).toHaveReceivedCommandTimes(DescribeAccessEntryCommand, 1);
    expect(eksMock).toHaveReceivedCommandTimes(ListAssociatedAccessPoliciesCommand, 0);
  });

  it('reads the entry and every page of its associations', async () => {
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

    const actual = await adapter().readActual(SUBJECT);

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
    eksMock.on(DescribeAccessEntryCommand).resolves({ accessEntry: { type: 'EC2_LINUX' } });

    const actual = await adapter().readActual(SUBJECT);

    expect(actual).toEqual({ entryType: 'EC2_LINUX', tags: {}, associations: [] });
    expect(eksMock).toHaveReceivedCommandTimes(ListAssociatedAccessPoliciesCommand, 0);
  });

  it('treats a missing cluster as a permanent error, not as a missing entry', async () => {
    eksMock.on(DescribeAccessEntryCommand).rejects(notFound('No cluster found for name: demo.'));

    const error = await adapter()
      .readActual(SUBJECT)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EksRequestError);
    expect((error as Error).message).toContain('No cluster found for name: demo.');
  });

  it('turns throttling left over after the SDK retries into a RetryableError that keeps its cause', async () => {
    const throttled = new ThrottlingException({
      message: 'Rate exceeded',
      $metadata: { httpStatusCode: 429 },
    });
    eksMock.on(DescribeAccessEntryCommand).rejects(throttled);

    const error = await adapter()
      .readActual(SUBJECT)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).cause).toBe(throttled);
  });

  it('treats a dropped connection as retryable and a bug as itself', async () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    eksMock.on(DescribeAccessEntryCommand).rejectsOnce(reset).rejectsOnce(new TypeError('bug'));

    const first = await adapter()
      .readActual(SUBJECT)
      .catch((e: unknown) => e);
    const second = await adapter()
      .readActual(SUBJECT)
      .catch((e: unknown) => e);

    expect(first).toBeInstanceOf(RetryableError);
    expect(second).toBeInstanceOf(TypeError);
  });
});

describe('EksAccess.apply', () => {
  it('creates a tagged STANDARD entry and associates exactly the planned scope', async () => {
    eksMock.on(CreateAccessEntryCommand).resolves(meta).on(AssociateAccessPolicyCommand).resolves(meta);

    await adapter().apply(SUBJECT, [
      { kind: 'createEntry' },
      { kind: 'associate', policyArn: VIEW, accessScope: { type: 'namespace', namespaces: ['a', 'b'] } },
    ]);

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
    eksMock
      .on(CreateAccessEntryCommand)
      .rejects(new ResourceInUseException({ message: 'in use', $metadata: { httpStatusCode: 409 } }));

    const error = await adapter()
      .apply(SUBJECT, [
        { kind: 'createEntry' },
        { kind: 'associate', policyArn: VIEW, accessScope: { type: 'cluster' } },
      ])
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EntryAppearedError);
    expect(error).toBeInstanceOf(RetryableError);
    expect(eksMock).toHaveReceivedCommandTimes(AssociateAccessPolicyCommand, 0);
  });

  it('retries a 404 from associate right after its own create, with growing jittered backoff', async () => {
    const sleeps: number[] = [];
    eksMock
      .on(CreateAccessEntryCommand)
      .resolves(meta)
      .on(AssociateAccessPolicyCommand)
      .rejectsOnce(notFound())
      .rejectsOnce(notFound())
      .resolves(meta);

    await adapter(sleeps).apply(SUBJECT, [
      { kind: 'createEntry' },
      { kind: 'associate', policyArn: VIEW, accessScope: { type: 'cluster' } },
    ]);

    expect(eksMock).toHaveReceivedCommandTimes(AssociateAccessPolicyCommand, 3);
    expect(sleeps).toEqual([100, 200]);
  });

  it('reports an entry that vanished before an associate as a concurrent change, without waiting', async () => {
    const sleeps: number[] = [];
    eksMock.on(AssociateAccessPolicyCommand).rejects(notFound());

    const error = await adapter(sleeps)
      .apply(SUBJECT, [{ kind: 'associate', policyArn: VIEW, accessScope: { type: 'cluster' } }])
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConcurrentModificationError);
    expect(sleeps).toEqual([]);
  });

  it('takes 404 on disassociate and delete as done', async () => {
    eksMock
      .on(DisassociateAccessPolicyCommand)
      .rejects(notFound())
      .on(DeleteAccessEntryCommand)
      .rejects(notFound());

    await expect(
      adapter().apply(SUBJECT, [{ kind: 'disassociate', policyArn: VIEW }, { kind: 'deleteEntry' }]),
    ).resolves.toBeUndefined();
    expect(eksMock).toHaveReceivedCommandWith(DisassociateAccessPolicyCommand, {
      ...SUBJECT,
      policyArn: VIEW,
    });
    expect(eksMock).toHaveReceivedCommandWith(DeleteAccessEntryCommand, SUBJECT);
  });

  it('makes a refusal of EKS a permanent error carrying the EKS message', async () => {
    eksMock.on(CreateAccessEntryCommand).rejects(
      new InvalidParameterException({
        message: 'The specified principalArn is invalid: invalid principal.',
        $metadata: { httpStatusCode: 400 },
      }),
    );

    const error = await adapter()
      .apply(SUBJECT, [{ kind: 'createEntry' }])
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EksRequestError);
    expect(error).toMatchObject({
      operation: 'CreateAccessEntry',
      errorType: 'InvalidParameterException',
      message:
        'CreateAccessEntry: InvalidParameterException: The specified principalArn is invalid: invalid principal.',
    });
  });
});

/**
 * The EKS adapter against the emulator (in process, through its restJson binding), once for each answer real
 * EKS might give where no reference settles it (the fault `unsettled`, infra/local/eks/fidelity.md), and for
 * the fidelity cases that change what the broker does. The broker must be right whichever way EKS answers.
 */
import { describe, expect, it } from 'vitest';
import {
  AccessPolicyNotFoundError,
  AssociationRefusedError,
  ClusterNotFoundError,
  PrincipalRefusedError,
} from '../../functions/adapters/eks-access';
import type { EksEmulatorOptions } from '../../infra/local/eks/emulator';
import type { UnsettledAnswers } from '../../infra/local/eks/faults';
import { emulatedEks } from '../support/fakes/emulated-access-api';

const ROLE = 'arn:aws:iam::111122223333:role/developer';
const SUBJECT = { clusterName: 'demo', principalArn: ROLE };
const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
const EDIT = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy';

function world(faults: EksEmulatorOptions['faults'] = {}) {
  const { eks, emulator } = emulatedEks({ faults });
  return { eks, emulator };
}

function policiesOf(emulator: ReturnType<typeof world>['emulator']): string[] {
  const entry = emulator.snapshot()[0]?.entries.find((e) => e.principalArn === ROLE);
  return entry?.policies.map((p) => p.policyArn) ?? [];
}

describe.each<UnsettledAnswers['disassociateNotAssociated']>(['not-found', 'ok', 'invalid-parameter'])(
  'DisassociateAccessPolicy of a policy that is not associated, EKS answering %s',
  (answer) => {
    it('is done, and the policies that are associated stay', async () => {
      // Arrange
      const { eks, emulator } = world({ unsettled: { disassociateNotAssociated: answer } });
      emulator.createAccessEntry(SUBJECT);
      emulator.associateAccessPolicy({
        ...SUBJECT,
        policyArn: EDIT,
        accessScope: { type: 'cluster', namespaces: [] },
      });

      // Act
      const done = eks.apply(SUBJECT, [{ kind: 'disassociate', policyArn: VIEW }]);

      // Assert
      await expect(done).resolves.toBeUndefined();
      expect(policiesOf(emulator)).toEqual([EDIT]);
    });
  },
);

describe.each<UnsettledAnswers['missingCluster']>(['no-cluster-found', 'entry-message'])(
  'a missing cluster, EKS answering the access-entry calls with %s',
  (answer) => {
    it('is never taken for a missing entry: a revocation of what looks gone fails permanently', async () => {
      // Arrange
      const { eks, emulator } = world({ unsettled: { missingCluster: answer } });
      const subject = { clusterName: 'gone', principalArn: ROLE };

      // Act
      const actual = await eks.readActual(subject);
      const error = await eks.apply(subject, []).catch((e: unknown) => e);

      // Assert
      expect(actual).toBeNull();
      expect(error).toBeInstanceOf(ClusterNotFoundError);
      expect(emulator.callCounts().DescribeCluster).toBe(1);
    });

    it('fails a grant permanently at its create', async () => {
      // Arrange
      const { eks } = world({ unsettled: { missingCluster: answer } });

      // Act
      const error = await eks
        .apply({ clusterName: 'gone', principalArn: ROLE }, [{ kind: 'createEntry' }])
        .catch((e: unknown) => e);

      // Assert
      expect(error).toBeInstanceOf(ClusterNotFoundError);
    });

    it('takes a 404 on delete for an entry already gone as done, in a cluster that is there', async () => {
      // Arrange
      const { eks } = world({ unsettled: { missingCluster: answer } });

      // Act
      const done = eks.apply(SUBJECT, [{ kind: 'deleteEntry' }]);

      // Assert
      await expect(done).resolves.toBeUndefined();
    });
  },
);

describe("EKS's namespace rules", () => {
  it("are EKS's to decide: a scope it refuses ends with an error naming the policy and the namespaces", async () => {
    // Arrange: a limit stricter than the request contract's 25.
    const { eks, emulator } = world({ unsettled: { namespaces: { maxPerScope: 2 } } });
    emulator.createAccessEntry(SUBJECT);

    // Act
    const error = await eks
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
    expect((error as Error).message).toContain('at most 2 namespaces');
    expect((error as Error).message).toContain(`EKS refused ${VIEW} on namespaces a, b, c`);
    expect(policiesOf(emulator)).toEqual([]);
  });

  it('let wildcards through when EKS takes them, and refuse them clearly when it does not', async () => {
    // Arrange
    const taking = world();
    const refusing = world({ unsettled: { namespaces: { wildcards: false } } });
    for (const { emulator } of [taking, refusing]) emulator.createAccessEntry(SUBJECT);
    const action = {
      kind: 'associate',
      policyArn: VIEW,
      accessScope: { type: 'namespace', namespaces: ['dev-*'] },
    } as const;

    // Act
    await taking.eks.apply(SUBJECT, [action]);
    const error = await refusing.eks.apply(SUBJECT, [action]).catch((e: unknown) => e);

    // Assert
    expect(policiesOf(taking.emulator)).toEqual([VIEW]);
    expect(error).toBeInstanceOf(AssociationRefusedError);
  });
});

describe('fidelity cases that change what the broker does', () => {
  it('fails an association of a policy EKS does not know, instead of waiting for an entry that is there', async () => {
    // Arrange: EKS answers 404 "The specified policyArn could not be found." for it.
    const { eks, emulator } = world();
    emulator.createAccessEntry(SUBJECT);
    const unknown = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSNoSuchPolicy';

    // Act
    const error = await eks
      .apply(SUBJECT, [{ kind: 'associate', policyArn: unknown, accessScope: { type: 'cluster' } }])
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(AccessPolicyNotFoundError);
    expect((error as Error).message).toContain('The specified policyArn could not be found.');
  });

  it('fails a fresh grant of an unknown policy the same way, after giving EKS time to show the new entry', async () => {
    // Arrange
    const { eks, emulator } = world();
    const unknown = 'arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';

    // Act
    const error = await eks
      .apply(SUBJECT, [
        { kind: 'createEntry' },
        { kind: 'associate', policyArn: unknown, accessScope: { type: 'cluster' } },
      ])
      .catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(AccessPolicyNotFoundError);
    expect(emulator.callCounts().DescribeAccessEntry).toBe(1);
  });

  it('grants to a role IAM propagates late, once EKS takes it', async () => {
    // Arrange
    const { eks, emulator } = world({ newPrincipals: { refusals: 3 } });

    // Act
    await eks.apply(SUBJECT, [
      { kind: 'createEntry' },
      { kind: 'associate', policyArn: VIEW, accessScope: { type: 'cluster' } },
    ]);

    // Assert
    expect(policiesOf(emulator)).toEqual([VIEW]);
    expect(emulator.faults.counts.principalRefusals).toBe(3);
  });

  it('stops retrying a principal EKS keeps refusing, within a bounded number of calls', async () => {
    // Arrange
    const { eks, emulator } = world({ newPrincipals: { refusals: 1_000 } });

    // Act
    const error = await eks.apply(SUBJECT, [{ kind: 'createEntry' }]).catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(PrincipalRefusedError);
    expect(emulator.callCounts().CreateAccessEntry).toBeLessThanOrEqual(10);
  });

  it('reads every association when EKS pages below maxResults', async () => {
    // Arrange
    const { eks, emulator } = world({ maxPageSize: 1 });
    emulator.createAccessEntry(SUBJECT);
    for (const policyArn of [VIEW, EDIT]) {
      emulator.associateAccessPolicy({
        ...SUBJECT,
        policyArn,
        accessScope: { type: 'cluster', namespaces: [] },
      });
    }

    // Act
    const actual = await eks.readActual(SUBJECT);

    // Assert
    expect(actual?.associations.map((a) => a.policyArn)).toEqual([EDIT, VIEW]);
    expect(emulator.callCounts().ListAssociatedAccessPolicies).toBe(2);
  });
});

/**
 * The EKS emulator's fidelity cases of issue 15, each with the source it follows (infra/local/eks/fidelity.md
 * lists them all). Where no source settles an answer, the default is our guess and the fault `unsettled`
 * produces the alternative: both are exercised here, and the broker's side in test/adapters.
 */
import {
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  DescribeAccessEntryCommand,
  DescribeClusterCommand,
  DisassociateAccessPolicyCommand,
  EKSClient,
  ListAccessEntriesCommand,
  ListAccessPoliciesCommand,
  ListAssociatedAccessPoliciesCommand,
  paginateListAccessPolicies,
  paginateListAssociatedAccessPolicies,
  TagResourceCommand,
} from '@aws-sdk/client-eks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Edge, startEdge } from '../../infra/local/edge';
import { EksEmulator } from '../../infra/local/eks/emulator';
import { caught, eksClient, LOCAL_CREDENTIALS } from '../support/aws';

const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/developer`;
const NODE_ROLE = `arn:aws:iam::${ACCOUNT}:role/auto-mode-node-role`;
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const policy = (name: string, partition = 'aws') => `arn:${partition}:eks::aws:cluster-access-policy/${name}`;
const VIEW = policy('AmazonEKSViewPolicy');
const EDIT = policy('AmazonEKSEditPolicy');
const ADMIN = policy('AmazonEKSAdminPolicy');
const ENTRY_NOT_FOUND =
  "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.";

let edge: Edge;
let eks: EKSClient;

beforeAll(async () => {
  edge = await startEdge({
    port: 0,
    dynamodb: false,
    eks: {
      clusters: [
        { name: 'demo', region: 'us-east-1', accountId: ACCOUNT, authenticationMode: 'API_AND_CONFIG_MAP' },
        { name: 'china', region: 'cn-north-1', accountId: ACCOUNT, authenticationMode: 'API' },
      ],
    },
  });
  eks = eksClient(edge.url, { maxAttempts: 1 });
});

afterEach(() => {
  edge.eks.faults.configure({});
  edge.eks.reset();
});

afterAll(async () => {
  eks.destroy();
  await edge.close();
});

async function createEntry(
  principalArn: string,
  extra: Partial<ConstructorParameters<typeof CreateAccessEntryCommand>[0]> = {},
) {
  const out = await eks.send(new CreateAccessEntryCommand({ clusterName: 'demo', principalArn, ...extra }));
  if (!out.accessEntry) throw new Error('no accessEntry in the answer');
  return out.accessEntry;
}

function associate(policyArn: string, namespaces?: string[], clusterName = 'demo', principalArn = ROLE) {
  return eks.send(
    new AssociateAccessPolicyCommand({
      clusterName,
      principalArn,
      policyArn,
      accessScope: namespaces ? { type: 'namespace', namespaces } : { type: 'cluster' },
    }),
  );
}

describe('an unknown or malformed policy ARN (source: the aws CLI answer quoted in public runbooks)', () => {
  // "An error occurred (ResourceNotFoundException) when calling the AssociateAccessPolicy operation: The
  // specified policyArn could not be found." for `arn:aws:eks:aws:cluster-access-policy/...` (one colon too
  // few), and the same for a partition other than the cluster's (a public cfn-lint rule quotes it).
  it.each([
    ['a policy EKS does not have', policy('AmazonEKSRootPolicy'), 'demo'],
    [
      'a malformed ARN (the region colon missing)',
      'arn:aws:eks:aws:cluster-access-policy/AmazonEKSViewPolicy',
      'demo',
    ],
    ["an ARN of another partition than the cluster's", VIEW, 'china'],
  ])('answers 404 ResourceNotFoundException for %s', async (_case, policyArn, clusterName) => {
    // Arrange
    const principalArn = clusterName === 'china' ? `arn:aws-cn:iam::${ACCOUNT}:role/developer` : ROLE;
    await eks.send(new CreateAccessEntryCommand({ clusterName, principalArn }));

    // Act
    const error = await caught(() => associate(policyArn, undefined, clusterName, principalArn));

    // Assert
    expect(error.name).toBe('ResourceNotFoundException');
    expect(error.$metadata?.httpStatusCode).toBe(404);
    expect(error.message).toBe('The specified policyArn could not be found.');
  });
});

describe('a role IAM has not propagated yet (source: aws/eks-hybrid#603, terraform-aws-modules issues)', () => {
  // aws/eks-hybrid#603 makes exactly this answer of CreateAccessEntry retryable: "InvalidParameterException:
  // The specified principalArn is invalid: invalid principal." for a role created moments before.
  it('refuses the first CreateAccessEntry calls as an invalid principal, then accepts the same call', async () => {
    // Arrange
    edge.eks.faults.configure({ newPrincipals: { refusals: 2, principals: [ROLE] } });

    // Act
    const first = await caught(() => createEntry(ROLE));
    const second = await caught(() => createEntry(ROLE));
    const third = await createEntry(ROLE);

    // Assert
    for (const error of [first, second]) {
      expect(error.name).toBe('InvalidParameterException');
      expect(error.$metadata?.httpStatusCode).toBe(400);
      expect(error.message).toBe('The specified principalArn is invalid: invalid principal.');
    }
    expect(third.principalArn).toBe(ROLE);
    expect(edge.eks.faults.counts.principalRefusals).toBe(2);
    // Only the listed principals are new.
    await expect(createEntry(`arn:aws:iam::${ACCOUNT}:role/old-role`)).resolves.toBeDefined();
  });
});

describe('a principalArn that is not an IAM ARN (source: a DescribeAccessEntry answer in a public transcript)', () => {
  // Terraform, handed an access-entry ARN as principalArn: "operation error EKS: DescribeAccessEntry, https
  // response error StatusCode: 400, ... InvalidParameterException: The principalArn parameter format is not
  // valid" (and CreateAccessEntry answers the same for an STS session ARN: aws-samples/appmod-blueprints#319).
  it.each([
    ['not an ARN at all', 'developer'],
    ['an STS session ARN', `arn:aws:sts::${ACCOUNT}:assumed-role/developer/alice`],
    ['an access entry ARN', `arn:aws:eks:us-east-1:${ACCOUNT}:access-entry/demo/user/${ACCOUNT}/svc/0a1b`],
  ])('is a 400 about its format on describe and delete, not a 404 (%s)', async (_case, principalArn) => {
    // Act
    const described = await caught(() =>
      eks.send(new DescribeAccessEntryCommand({ clusterName: 'demo', principalArn })),
    );
    const deleted = await caught(() =>
      eks.send(new DeleteAccessEntryCommand({ clusterName: 'demo', principalArn })),
    );

    // Assert
    for (const error of [described, deleted]) {
      expect(error.name).toBe('InvalidParameterException');
      expect(error.$metadata?.httpStatusCode).toBe(400);
      expect(error.message).toBe('The principalArn parameter format is not valid');
    }
  });

  it('is still a 404 for a well-formed IAM ARN without an entry', async () => {
    const error = await caught(() =>
      eks.send(
        new DescribeAccessEntryCommand({
          clusterName: 'demo',
          principalArn: `arn:aws:iam::${ACCOUNT}:group/ops`,
        }),
      ),
    );

    expect(error.name).toBe('ResourceNotFoundException');
    expect(error.message).toBe(ENTRY_NOT_FOUND);
  });
});

describe('unsettled: DisassociateAccessPolicy of a policy that is not associated (no source)', () => {
  const disassociate = () =>
    eks.send(
      new DisassociateAccessPolicyCommand({ clusterName: 'demo', principalArn: ROLE, policyArn: VIEW }),
    );

  it('answers 404 ResourceNotFoundException by default', async () => {
    await createEntry(ROLE);

    const error = await caught(disassociate);

    expect(error.name).toBe('ResourceNotFoundException');
    expect(error.$metadata?.httpStatusCode).toBe(404);
  });

  it('answers 200 as a no-op under the alternative "ok"', async () => {
    await createEntry(ROLE);
    edge.eks.faults.configure({ unsettled: { disassociateNotAssociated: 'ok' } });

    await expect(disassociate()).resolves.toBeDefined();
  });

  it('answers 400 InvalidParameterException under the alternative "invalid-parameter"', async () => {
    await createEntry(ROLE);
    edge.eks.faults.configure({ unsettled: { disassociateNotAssociated: 'invalid-parameter' } });

    const error = await caught(disassociate);

    expect(error.name).toBe('InvalidParameterException');
    expect(error.$metadata?.httpStatusCode).toBe(400);
  });
});

describe('unsettled: a missing cluster on access-entry calls (source for DescribeCluster: MaterializeInc/materialize#31179)', () => {
  // DescribeCluster's text is quoted in public CI logs: "An error occurred (ResourceNotFoundException) when
  // calling the DescribeCluster operation: No cluster found for name: terraform-aws-test-cluster." What the
  // access-entry calls answer for a missing cluster is quoted nowhere.
  it('answers "No cluster found for name" on DescribeCluster and, by default, on access-entry calls', async () => {
    const cluster = await caught(() => eks.send(new DescribeClusterCommand({ name: 'gone' })));
    const entry = await caught(() =>
      eks.send(new DescribeAccessEntryCommand({ clusterName: 'gone', principalArn: ROLE })),
    );

    for (const error of [cluster, entry]) {
      expect(error.name).toBe('ResourceNotFoundException');
      expect(error.message).toBe('No cluster found for name: gone.');
    }
  });

  it("answers the missing entry's own text on access-entry calls under the alternative, never on DescribeCluster", async () => {
    edge.eks.faults.configure({ unsettled: { missingCluster: 'entry-message' } });

    const entry = await caught(() =>
      eks.send(new DescribeAccessEntryCommand({ clusterName: 'gone', principalArn: ROLE })),
    );
    const cluster = await caught(() => eks.send(new DescribeClusterCommand({ name: 'gone' })));

    expect(entry.name).toBe('ResourceNotFoundException');
    expect(entry.message).toBe(ENTRY_NOT_FOUND);
    expect(cluster.message).toBe('No cluster found for name: gone.');
  });
});

describe("unsettled: EKS's namespace rules (no source beyond the trailing wildcard of the User Guide)", () => {
  it('accepts many namespaces and wildcards by default', async () => {
    await createEntry(ROLE);
    const namespaces = Array.from({ length: 40 }, (_, i) => `team-${i}`);

    const out = await associate(VIEW, [...namespaces, 'dev-*']);

    expect(out.associatedAccessPolicy?.accessScope?.namespaces).toHaveLength(41);
  });

  it('refuses more namespaces than the alternative limit, and wildcards when they are off, with a 400', async () => {
    await createEntry(ROLE);
    edge.eks.faults.configure({ unsettled: { namespaces: { maxPerScope: 2, wildcards: false } } });

    const tooMany = await caught(() => associate(VIEW, ['a', 'b', 'c']));
    const wildcard = await caught(() => associate(VIEW, ['dev-*']));

    for (const error of [tooMany, wildcard]) {
      expect(error.name).toBe('InvalidParameterException');
      expect(error.$metadata?.httpStatusCode).toBe(400);
    }
    await expect(associate(VIEW, ['a', 'b'])).resolves.toBeDefined();
  });
});

describe('entries', () => {
  it('gives an EC2 (Auto Mode) entry system:nodes and system:node:{{SessionName}} (source: a describe-access-entry transcript)', async () => {
    // A public transcript of `aws eks describe-access-entry` for an Auto Mode node role shows
    // "kubernetesGroups": ["system:nodes"], "username": "system:node:{{SessionName}}", "type": "EC2".
    const entry = await createEntry(NODE_ROLE, { type: 'EC2' });

    expect(entry.kubernetesGroups).toEqual(['system:nodes']);
    expect(entry.username).toBe('system:node:{{SessionName}}');
    await expect(
      associate(policy('AmazonEKSAutoNodePolicy'), undefined, 'demo', NODE_ROLE),
    ).resolves.toBeDefined();
  });

  it.each([
    ['john{{SessionName}}', false],
    ['john{{SessionNameRaw}}', false],
    [':john{{SessionName}}', true],
    ['jo:hn{{SessionName}}', true],
    ['john', true],
  ])(
    'judges the custom username %s as the User Guide says (source: "Create access entries")',
    async (username, accepted) => {
      // "If you add either {{SessionName}} or {{SessionNameRaw}} to your username, the username must include a
      // colon before {{SessionName}} ... you can't have a username of john{{SessionName}}."
      const result = createEntry(ROLE, { username });

      if (accepted) {
        await expect(result).resolves.toMatchObject({ username });
      } else {
        const error = await caught(() => result);
        expect(error.name).toBe('InvalidParameterException');
      }
    },
  );

  it('accepts the account root for a STANDARD entry, not for a node type (source: a public runbook)', async () => {
    // A public runbook notes create-access-entry and associate-access-policy succeeding with
    // arn:aws:iam::<account>:root; node types take only IAM roles (the botocore model's principalArn doc).
    const root = await createEntry(ROOT);
    await associate(VIEW, undefined, 'demo', ROOT);
    await eks.send(new DeleteAccessEntryCommand({ clusterName: 'demo', principalArn: ROOT }));
    const node = await caught(() => createEntry(ROOT, { type: 'EC2_LINUX' }));

    expect(root.type).toBe('STANDARD');
    expect(node.name).toBe('InvalidParameterException');
  });

  it('moves modifiedAt forward on update and keeps createdAt (source: the aws CLI update-access-entry example)', () => {
    // The example's answer: createdAt 2025-05-24T11:02:04, modifiedAt 2025-05-24T17:08:01. With the clock
    // pinned, the update still moves modifiedAt on.
    const emulator = new EksEmulator({ now: () => 1_700_000_000_000 });
    const created = emulator.createAccessEntry({ clusterName: 'demo', principalArn: ROLE }).accessEntry;

    const updated = emulator.updateAccessEntry({
      clusterName: 'demo',
      principalArn: ROLE,
      kubernetesGroups: ['dev'],
    }).accessEntry;

    expect(updated.createdAt).toBe(created.createdAt);
    expect(updated.modifiedAt).toBeGreaterThan(created.modifiedAt);
  });

  it('refuses tag values starting with aws:, as tag keys (source: the botocore model, TagMap)', async () => {
    // TagMap: "Do not use aws:, AWS:, or any upper or lowercase combination of such as a prefix for either
    // keys or values as it is reserved for Amazon Web Services use."
    const atCreate = await caught(() => createEntry(ROLE, { tags: { owner: 'AWS:me' } }));
    const entry = await createEntry(ROLE);
    const later = await caught(() =>
      eks.send(new TagResourceCommand({ resourceArn: entry.accessEntryArn, tags: { owner: 'aws:me' } })),
    );

    expect(atCreate.name).toBe('InvalidParameterException');
    expect(later.name).toBe('InvalidParameterException');
  });
});

describe('access policies', () => {
  it.each([
    'AmazonEKSBlockStorageClusterPolicy',
    'AmazonEKSComputeClusterPolicy',
    'AmazonEKSComputePolicy',
    'AmazonEKSBlockStoragePolicy',
    'AmazonEKSHybridPolicy',
    'AmazonEKSClusterInsightsPolicy',
  ])(
    "refuses %s on an entry that is not a service-linked role's (source: awsdocs/amazon-eks-user-guide#1003)",
    async (name) => {
      // "Some of our access entry policies are SLR-only, meaning users can't associate them with an access entry."
      await createEntry(ROLE);

      const error = await caught(() => associate(policy(name)));

      expect(error.name).toBe('InvalidParameterException');
      expect(error.$metadata?.httpStatusCode).toBe(400);
    },
  );

  it('lists the newer policies (sources: User Guide "Security considerations for EKS Capabilities", #1003)', async () => {
    const names: string[] = [];
    for await (const page of paginateListAccessPolicies({ client: eks, pageSize: 7 }, {})) {
      names.push(...(page.accessPolicies ?? []).map((p) => p.name ?? ''));
    }

    expect(names).toEqual(
      expect.arrayContaining([
        'AmazonEKSACKPolicy',
        'AmazonEKSKROPolicy',
        'AmazonEKSArgoCDPolicy',
        'AmazonEKSArgoCDClusterPolicy',
        'AmazonEKSClusterInsightsPolicy',
        'AmazonAIOpsAssistantPolicy',
      ]),
    );
    expect(names).toEqual([...names].sort());
    await createEntry(ROLE);
    await expect(associate(policy('AmazonEKSACKPolicy'))).resolves.toBeDefined();
  });

  it("answers ARNs in the partition of the region the call was signed for (source: User Guide's {arn-aws} ARNs)", async () => {
    // The User Guide writes every access-policy ARN as `{arn-aws}eks::aws:cluster-access-policy/...`, the
    // partition of the reader's region; AssociateAccessPolicy on a cn- cluster accepts only arn:aws-cn: ones.
    const china = new EKSClient({
      endpoint: edge.url,
      region: 'cn-north-1',
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });

    const cn = await china.send(new ListAccessPoliciesCommand({}));
    const commercial = await eks.send(new ListAccessPoliciesCommand({}));
    china.destroy();

    expect(cn.accessPolicies?.find((p) => p.name === 'AmazonEKSViewPolicy')?.arn).toBe(
      policy('AmazonEKSViewPolicy', 'aws-cn'),
    );
    expect(commercial.accessPolicies?.every((p) => p.arn?.startsWith('arn:aws:eks::aws:'))).toBe(true);
  });

  it('pages ListAssociatedAccessPolicies with maxResults and nextToken (source: botocore paginators-1.json)', async () => {
    // paginators-1.json: ListAssociatedAccessPolicies pages on nextToken with maxResults as its limit key.
    await createEntry(ROLE);
    for (const policyArn of [VIEW, EDIT, ADMIN]) await associate(policyArn, ['a']);

    const first = await eks.send(
      new ListAssociatedAccessPoliciesCommand({ clusterName: 'demo', principalArn: ROLE, maxResults: 2 }),
    );
    const all: string[] = [];
    for await (const page of paginateListAssociatedAccessPolicies(
      { client: eks, pageSize: 1 },
      { clusterName: 'demo', principalArn: ROLE },
    )) {
      all.push(...(page.associatedAccessPolicies ?? []).map((p) => p.policyArn ?? ''));
    }

    expect(first.associatedAccessPolicies).toHaveLength(2);
    expect(first.nextToken).toBeDefined();
    expect(all).toEqual([ADMIN, EDIT, VIEW]);
  });

  it('may answer fewer than maxResults with a nextToken (fault maxPageSize)', async () => {
    await createEntry(ROLE);
    await createEntry(NODE_ROLE);
    edge.eks.faults.configure({ maxPageSize: 1 });

    const page = await eks.send(new ListAccessEntriesCommand({ clusterName: 'demo', maxResults: 100 }));

    expect(page.accessEntries).toHaveLength(1);
    expect(page.nextToken).toBeDefined();
  });
});

describe('the fault settings', () => {
  it('refuses a setting it does not know and answers that are not among the alternatives', () => {
    expect(() => edge.eks.faults.configure({ newPrincipal: { refusals: 1 } } as never)).toThrow(
      /newPrincipal/,
    );
    expect(() =>
      edge.eks.faults.configure({ unsettled: { disassociateNotAssociated: 'maybe' } } as never),
    ).toThrow(/not-found, ok, invalid-parameter/);
    expect(() => edge.eks.faults.configure({ maxPageSize: 0 })).toThrow(/maxPageSize/);
  });
});

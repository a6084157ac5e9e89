import {
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  DescribeAccessEntryCommand,
  DescribeClusterCommand,
  DisassociateAccessPolicyCommand,
  type EKSClient,
  ListAccessEntriesCommand,
  ListAccessPoliciesCommand,
  ListAssociatedAccessPoliciesCommand,
  ListClustersCommand,
  ListTagsForResourceCommand,
  paginateListAccessEntries,
  paginateListAccessPolicies,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAccessEntryCommand,
} from '@aws-sdk/client-eks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Edge, startEdge } from '../../infra/local/edge';
import { caught, eksClient } from '../support/aws';
import { signedFetch } from './signed-fetch';

const ACCOUNT = '111122223333';
const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
const EDIT = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy';
const SSO_ROLE = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Dev_0123abcd`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/developer`;
const USER = `arn:aws:iam::444455556666:user/ops/alice`;
const NODE_ROLE = `arn:aws:iam::${ACCOUNT}:role/eks-node-role`;

let edge: Edge;
let eks: EKSClient;

beforeAll(async () => {
  edge = await startEdge({
    port: 0,
    dynamodb: false,
    eks: {
      clusters: [
        { name: 'demo', region: 'us-east-1', accountId: ACCOUNT, authenticationMode: 'API_AND_CONFIG_MAP' },
        { name: 'legacy', region: 'us-east-1', accountId: ACCOUNT, authenticationMode: 'CONFIG_MAP' },
        { name: 'china', region: 'cn-north-1', accountId: ACCOUNT, authenticationMode: 'API' },
      ],
      maxEntriesPerCluster: 20,
      missingPrincipals: [`arn:aws:iam::${ACCOUNT}:role/deleted-role`],
    },
  });
  eks = eksClient(edge.url, { maxAttempts: 1 });
});

afterEach(() => {
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

describe('clusters', () => {
  it('describes a seeded cluster with its access configuration', async () => {
    const { cluster } = await eks.send(new DescribeClusterCommand({ name: 'demo' }));

    expect(cluster?.arn).toBe(`arn:aws:eks:us-east-1:${ACCOUNT}:cluster/demo`);
    expect(cluster?.status).toBe('ACTIVE');
    expect(cluster?.accessConfig).toEqual({
      bootstrapClusterCreatorAdminPermissions: true,
      authenticationMode: 'API_AND_CONFIG_MAP',
    });
    expect(cluster?.createdAt).toBeInstanceOf(Date);
  });

  it('answers 404 with the AWS message for a missing cluster', async () => {
    const error = await caught(() => eks.send(new DescribeClusterCommand({ name: 'nope' })));

    expect(error.name).toBe('ResourceNotFoundException');
    expect(error.$metadata?.httpStatusCode).toBe(404);
    expect(error.message).toBe('No cluster found for name: nope.');
  });

  it('rejects a cluster name with bad characters', async () => {
    const error = await caught(() => eks.send(new ListAccessEntriesCommand({ clusterName: '-bad.name' })));

    expect(error.name).toBe('InvalidParameterException');
    expect(error.message).toContain('^[0-9A-Za-z][A-Za-z0-9-_]*');
  });

  it('lists the clusters', async () => {
    const out = await eks.send(new ListClustersCommand({}));

    expect(out.clusters).toEqual(['china', 'demo', 'legacy']);
  });

  it('refuses every access-entry call on a CONFIG_MAP cluster', async () => {
    const calls = [
      () => eks.send(new CreateAccessEntryCommand({ clusterName: 'legacy', principalArn: ROLE })),
      () => eks.send(new ListAccessEntriesCommand({ clusterName: 'legacy' })),
      () => eks.send(new DescribeAccessEntryCommand({ clusterName: 'legacy', principalArn: ROLE })),
    ];
    for (const call of calls) {
      const error = await caught(call);
      expect(error.name).toBe('InvalidRequestException');
      expect(error.$metadata?.httpStatusCode).toBe(400);
      expect(error.message).toBe(
        "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
      );
    }
  });
});

describe('access entries', () => {
  it('creates a STANDARD entry for a role with a path, kept whole, with the real entry ARN and username', async () => {
    const before = Date.now();
    const entry = await createEntry(SSO_ROLE);

    expect(entry.principalArn).toBe(SSO_ROLE);
    expect(entry.type).toBe('STANDARD');
    expect(entry.kubernetesGroups).toEqual([]);
    expect(entry.tags).toEqual({});
    expect(entry.username).toBe(
      `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Dev_0123abcd/{{SessionName}}`,
    );
    expect(entry.accessEntryArn).toMatch(
      new RegExp(
        `^arn:aws:eks:us-east-1:${ACCOUNT}:access-entry/demo/role/${ACCOUNT}/AWSReservedSSO_Dev_0123abcd/[0-9a-f-]{36}$`,
      ),
    );
    expect(entry.createdAt?.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(entry.createdAt?.getTime()).toBeLessThanOrEqual(Date.now() + 1);

    const described = await eks.send(
      new DescribeAccessEntryCommand({ clusterName: 'demo', principalArn: SSO_ROLE }),
    );
    expect(described.accessEntry).toEqual(entry);
  });

  it('uses the user ARN as the default username of an IAM user from another account', async () => {
    const entry = await createEntry(USER);

    expect(entry.username).toBe(USER);
    expect(entry.accessEntryArn).toContain('/user/444455556666/alice/');
  });

  it('answers 409 ResourceInUseException for a second entry of the same principal', async () => {
    await createEntry(ROLE);

    const error = await caught(() => createEntry(ROLE));

    expect(error.name).toBe('ResourceInUseException');
    expect(error.$metadata?.httpStatusCode).toBe(409);
    expect(error.message).toBe('The specified access entry resource is already in use on this cluster.');
  });

  it('replays a create with the same clientRequestToken instead of failing', async () => {
    const first = await createEntry(ROLE, { clientRequestToken: 'token-1' });

    const second = await createEntry(ROLE, { clientRequestToken: 'token-1' });

    expect(second).toEqual(first);
    const tokenReused = await caught(() => createEntry(USER, { clientRequestToken: 'token-1' }));
    expect(tokenReused.name).toBe('InvalidRequestException');
  });

  it('answers 404 with the AWS message for a missing entry on every entry operation', async () => {
    const calls = [
      () => eks.send(new DescribeAccessEntryCommand({ clusterName: 'demo', principalArn: ROLE })),
      () => eks.send(new UpdateAccessEntryCommand({ clusterName: 'demo', principalArn: ROLE })),
      () => eks.send(new DeleteAccessEntryCommand({ clusterName: 'demo', principalArn: ROLE })),
      () =>
        eks.send(
          new AssociateAccessPolicyCommand({
            clusterName: 'demo',
            principalArn: ROLE,
            policyArn: VIEW,
            accessScope: { type: 'cluster' },
          }),
        ),
      () =>
        eks.send(
          new DisassociateAccessPolicyCommand({ clusterName: 'demo', principalArn: ROLE, policyArn: VIEW }),
        ),
      () => eks.send(new ListAssociatedAccessPoliciesCommand({ clusterName: 'demo', principalArn: ROLE })),
    ];
    for (const call of calls) {
      const error = await caught(call);
      expect(error.name).toBe('ResourceNotFoundException');
      expect(error.$metadata?.httpStatusCode).toBe(404);
      expect(error.message).toBe(
        "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.",
      );
    }
  });

  it.each([
    [
      `arn:aws:sts::${ACCOUNT}:assumed-role/developer/alice`,
      'The principalArn parameter format is not valid',
    ],
    ['not-an-arn', 'The principalArn parameter format is not valid'],
    [
      `arn:aws:iam::${ACCOUNT}:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS`,
      'The caller is not allowed to modify access entries with a principalArn value of a Service Linked Role',
    ],
    [`arn:aws:iam::${ACCOUNT}:group/admins`, 'The specified principalArn is invalid: invalid principal.'],
    [
      `arn:aws:iam::${ACCOUNT}:role/deleted-role`,
      'The specified principalArn is invalid: invalid principal.',
    ],
  ])('refuses principal %s', async (principalArn, message) => {
    const error = await caught(() => createEntry(principalArn));

    expect(error.name).toBe('InvalidParameterException');
    expect(error.$metadata?.httpStatusCode).toBe(400);
    expect(error.message).toBe(message);
  });

  it('refuses system: groups and reserved username prefixes', async () => {
    const group = await caught(() => createEntry(ROLE, { kubernetesGroups: ['dev', 'system:masters'] }));
    const username = await caught(() => createEntry(ROLE, { username: 'system:admin' }));
    const eksName = await caught(() => createEntry(ROLE, { username: 'eks:me' }));

    expect(group.message).toBe(
      'The kubernetes group name system:masters is invalid, it cannot start with system:',
    );
    expect(username.message).toBe('The username must not begin with system:');
    expect(eksName.message).toBe('The username must not begin with eks:');
    expect([group.name, username.name, eksName.name]).toEqual(Array(3).fill('InvalidParameterException'));
  });

  it('updates by replacement: omitted groups are cleared and an omitted username is reset', async () => {
    await createEntry(ROLE, { kubernetesGroups: ['dev'], username: 'developer' });

    const changed = await eks.send(
      new UpdateAccessEntryCommand({ clusterName: 'demo', principalArn: ROLE, kubernetesGroups: ['ops'] }),
    );

    expect(changed.accessEntry?.kubernetesGroups).toEqual(['ops']);
    expect(changed.accessEntry?.username).toBe(
      `arn:aws:sts::${ACCOUNT}:assumed-role/developer/{{SessionName}}`,
    );
    const cleared = await eks.send(new UpdateAccessEntryCommand({ clusterName: 'demo', principalArn: ROLE }));
    expect(cleared.accessEntry?.kubernetesGroups).toEqual([]);
  });

  it('gives EC2_LINUX entries system:nodes and refuses policy calls on them', async () => {
    const node = await createEntry(NODE_ROLE, { type: 'EC2_LINUX' });

    expect(node.kubernetesGroups).toEqual(['system:nodes']);
    expect(node.username).toBe('system:node:{{EC2PrivateDNSName}}');
    const associate = await caught(() =>
      eks.send(
        new AssociateAccessPolicyCommand({
          clusterName: 'demo',
          principalArn: NODE_ROLE,
          policyArn: VIEW,
          accessScope: { type: 'cluster' },
        }),
      ),
    );
    const list = await caught(() =>
      eks.send(new ListAssociatedAccessPoliciesCommand({ clusterName: 'demo', principalArn: NODE_ROLE })),
    );
    for (const error of [associate, list]) {
      expect(error.name).toBe('InvalidParameterException');
      expect(error.message).toBe(
        'This operation can only be performed on Access Entries with a type of "STANDARD".',
      );
    }
  });

  it('refuses node types for principals outside the cluster account and unknown types', async () => {
    const foreign = await caught(() => createEntry(USER, { type: 'EC2_LINUX' }));
    const unknown = await caught(() => createEntry(ROLE, { type: 'PRINTER' }));

    expect(foreign.name).toBe('InvalidParameterException');
    expect(unknown.name).toBe('InvalidParameterException');
  });

  it('answers ResourceLimitExceededException past the entries quota', async () => {
    for (let i = 0; i < 20; i++) await createEntry(`arn:aws:iam::${ACCOUNT}:role/r${i}`);

    const error = await caught(() => createEntry(ROLE));

    expect(error.name).toBe('ResourceLimitExceededException');
    expect(error.$metadata?.httpStatusCode).toBe(400);
  });
});

describe('policy associations', () => {
  it('associates a namespace scope and REPLACES it on re-association, cluster scope with empty namespaces', async () => {
    await createEntry(ROLE);
    const first = await eks.send(
      new AssociateAccessPolicyCommand({
        clusterName: 'demo',
        principalArn: ROLE,
        policyArn: VIEW,
        accessScope: { type: 'namespace', namespaces: ['team-a', 'team-b'] },
      }),
    );

    const replaced = await eks.send(
      new AssociateAccessPolicyCommand({
        clusterName: 'demo',
        principalArn: ROLE,
        policyArn: VIEW,
        accessScope: { type: 'namespace', namespaces: ['team-c'] },
      }),
    );
    const widened = await eks.send(
      new AssociateAccessPolicyCommand({
        clusterName: 'demo',
        principalArn: ROLE,
        policyArn: VIEW,
        accessScope: { type: 'cluster' },
      }),
    );

    expect(first.associatedAccessPolicy?.accessScope).toEqual({
      type: 'namespace',
      namespaces: ['team-a', 'team-b'],
    });
    expect(replaced.associatedAccessPolicy?.accessScope).toEqual({
      type: 'namespace',
      namespaces: ['team-c'],
    });
    expect(widened.associatedAccessPolicy?.accessScope).toEqual({ type: 'cluster', namespaces: [] });
    expect(widened.associatedAccessPolicy?.associatedAt).toEqual(first.associatedAccessPolicy?.associatedAt);
    const listed = await eks.send(
      new ListAssociatedAccessPoliciesCommand({ clusterName: 'demo', principalArn: ROLE }),
    );
    expect(listed.associatedAccessPolicies).toHaveLength(1);
    expect(listed.clusterName).toBe('demo');
    expect(listed.principalArn).toBe(ROLE);
  });

  it.each([
    [{ type: 'cluster' as const, namespaces: ['a'] }, 'cluster scope with namespaces'],
    [{ type: 'namespace' as const, namespaces: [] }, 'namespace scope without namespaces'],
    [{ type: 'namespace' as const, namespaces: ['Not_DNS'] }, 'a namespace that is not DNS-1123'],
  ])('refuses %j (%s)', async (accessScope, _case) => {
    await createEntry(ROLE);

    const error = await caught(() =>
      eks.send(
        new AssociateAccessPolicyCommand({
          clusterName: 'demo',
          principalArn: ROLE,
          policyArn: VIEW,
          accessScope,
        }),
      ),
    );

    expect(error.name).toBe('InvalidParameterException');
  });

  it('accepts trailing-wildcard namespaces and answers 404 for an unknown policy (see eks-fidelity.test.ts)', async () => {
    await createEntry(ROLE);

    const wildcard = await eks.send(
      new AssociateAccessPolicyCommand({
        clusterName: 'demo',
        principalArn: ROLE,
        policyArn: EDIT,
        accessScope: { type: 'namespace', namespaces: ['dev-*'] },
      }),
    );
    const unknown = await caught(() =>
      eks.send(
        new AssociateAccessPolicyCommand({
          clusterName: 'demo',
          principalArn: ROLE,
          policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSRootPolicy',
          accessScope: { type: 'cluster' },
        }),
      ),
    );

    expect(wildcard.associatedAccessPolicy?.accessScope?.namespaces).toEqual(['dev-*']);
    expect(unknown.name).toBe('ResourceNotFoundException');
    expect(unknown.message).toBe('The specified policyArn could not be found.');
  });

  it('uses the partition of the cluster region for policy ARNs', async () => {
    await eks.send(
      new CreateAccessEntryCommand({
        clusterName: 'china',
        principalArn: `arn:aws-cn:iam::${ACCOUNT}:role/x`,
      }),
    );

    const ok = await eks.send(
      new AssociateAccessPolicyCommand({
        clusterName: 'china',
        principalArn: `arn:aws-cn:iam::${ACCOUNT}:role/x`,
        policyArn: 'arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
        accessScope: { type: 'cluster' },
      }),
    );

    expect(ok.associatedAccessPolicy?.policyArn).toBe(
      'arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
    );
  });

  it('disassociates, and answers 404 for a policy that is not associated', async () => {
    await createEntry(ROLE);
    await eks.send(
      new AssociateAccessPolicyCommand({
        clusterName: 'demo',
        principalArn: ROLE,
        policyArn: VIEW,
        accessScope: { type: 'cluster' },
      }),
    );

    await eks.send(
      new DisassociateAccessPolicyCommand({ clusterName: 'demo', principalArn: ROLE, policyArn: VIEW }),
    );
    const again = await caught(() =>
      eks.send(
        new DisassociateAccessPolicyCommand({ clusterName: 'demo', principalArn: ROLE, policyArn: VIEW }),
      ),
    );

    const listed = await eks.send(
      new ListAssociatedAccessPoliciesCommand({ clusterName: 'demo', principalArn: ROLE }),
    );
    expect(listed.associatedAccessPolicies).toEqual([]);
    expect(again.name).toBe('ResourceNotFoundException');
    expect(again.$metadata?.httpStatusCode).toBe(404);
  });

  it('cascades a delete of the entry to its associations', async () => {
    await createEntry(SSO_ROLE);
    for (const policyArn of [VIEW, EDIT]) {
      await eks.send(
        new AssociateAccessPolicyCommand({
          clusterName: 'demo',
          principalArn: SSO_ROLE,
          policyArn,
          accessScope: { type: 'cluster' },
        }),
      );
    }

    await eks.send(new DeleteAccessEntryCommand({ clusterName: 'demo', principalArn: SSO_ROLE }));
    await createEntry(SSO_ROLE);

    const listed = await eks.send(
      new ListAssociatedAccessPoliciesCommand({ clusterName: 'demo', principalArn: SSO_ROLE }),
    );
    expect(listed.associatedAccessPolicies).toEqual([]);
    const deletion = edge.eks.mutations().find((m) => m.operation === 'DeleteAccessEntry');
    expect(deletion?.cascadedPolicyArns).toEqual([EDIT, VIEW]);
  });

  it('filters ListAccessEntries by associated policy', async () => {
    await createEntry(ROLE);
    await createEntry(SSO_ROLE);
    await eks.send(
      new AssociateAccessPolicyCommand({
        clusterName: 'demo',
        principalArn: SSO_ROLE,
        policyArn: EDIT,
        accessScope: { type: 'cluster' },
      }),
    );

    const withEdit = await eks.send(
      new ListAccessEntriesCommand({ clusterName: 'demo', associatedPolicyArn: EDIT }),
    );
    const all = await eks.send(new ListAccessEntriesCommand({ clusterName: 'demo' }));

    expect(withEdit.accessEntries).toEqual([SSO_ROLE]);
    expect(all.accessEntries).toEqual([ROLE, SSO_ROLE].sort());
  });
});

describe('pagination', () => {
  it('pages access entries with maxResults and nextToken, every entry once', async () => {
    const principals = Array.from({ length: 7 }, (_, i) => `arn:aws:iam::${ACCOUNT}:role/team/p${i}`);
    for (const principalArn of principals) await createEntry(principalArn);

    const first = await eks.send(new ListAccessEntriesCommand({ clusterName: 'demo', maxResults: 3 }));
    const pages: string[][] = [];
    for await (const page of paginateListAccessEntries(
      { client: eks, pageSize: 3 },
      { clusterName: 'demo' },
    )) {
      pages.push(page.accessEntries ?? []);
    }

    expect(first.accessEntries).toHaveLength(3);
    expect(first.nextToken).toBeDefined();
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual([...principals].sort());
  });

  it('keeps a cursor stable when entries change between pages', async () => {
    for (let i = 0; i < 4; i++) await createEntry(`arn:aws:iam::${ACCOUNT}:role/p${i}`);
    const first = await eks.send(new ListAccessEntriesCommand({ clusterName: 'demo', maxResults: 2 }));

    await eks.send(
      new DeleteAccessEntryCommand({ clusterName: 'demo', principalArn: `arn:aws:iam::${ACCOUNT}:role/p0` }),
    );
    const second = await eks.send(
      new ListAccessEntriesCommand({ clusterName: 'demo', maxResults: 2, nextToken: first.nextToken }),
    );

    expect(first.accessEntries).toEqual([
      `arn:aws:iam::${ACCOUNT}:role/p0`,
      `arn:aws:iam::${ACCOUNT}:role/p1`,
    ]);
    expect(second.accessEntries).toEqual([
      `arn:aws:iam::${ACCOUNT}:role/p2`,
      `arn:aws:iam::${ACCOUNT}:role/p3`,
    ]);
    expect(second.nextToken).toBeUndefined();
  });

  it.each([0, 101])('refuses maxResults %i', async (maxResults) => {
    const error = await caught(() =>
      eks.send(new ListAccessEntriesCommand({ clusterName: 'demo', maxResults })),
    );

    expect(error.name).toBe('InvalidParameterException');
  });

  it('refuses a nextToken it did not issue', async () => {
    const error = await caught(() => eks.send(new ListAccessPoliciesCommand({ nextToken: 'garbage' })));

    expect(error.name).toBe('InvalidParameterException');
  });

  it('lists the AWS-managed access policies across pages', async () => {
    const policies: { name?: string; arn?: string }[] = [];
    for await (const page of paginateListAccessPolicies({ client: eks, pageSize: 5 }, {})) {
      policies.push(...(page.accessPolicies ?? []));
    }

    const names = policies.map((p) => p.name);
    expect(names).toContain('AmazonEKSClusterAdminPolicy');
    expect(names).toContain('AmazonEKSViewPolicy');
    expect(new Set(names).size).toBe(names.length);
    expect(policies.find((p) => p.name === 'AmazonEKSViewPolicy')?.arn).toBe(VIEW);
  });
});

describe('tags', () => {
  it('sets tags at create and changes them through the tags API', async () => {
    const entry = await createEntry(ROLE, { tags: { 'managed-by': 'eks-access-broker', team: 'a' } });
    const resourceArn = entry.accessEntryArn ?? '';

    await eks.send(new TagResourceCommand({ resourceArn, tags: { ticket: 'OPS-1' } }));
    await eks.send(new UntagResourceCommand({ resourceArn, tagKeys: ['team'] }));

    const { tags } = await eks.send(new ListTagsForResourceCommand({ resourceArn }));
    expect(tags).toEqual({ 'managed-by': 'eks-access-broker', ticket: 'OPS-1' });
    const described = await eks.send(
      new DescribeAccessEntryCommand({ clusterName: 'demo', principalArn: ROLE }),
    );
    expect(described.accessEntry?.tags).toEqual(tags);
  });

  it('refuses tag keys with the aws: prefix and an unknown resource', async () => {
    const reserved = await caught(() => createEntry(ROLE, { tags: { 'AWS:owner': 'me' } }));
    const missing = await caught(() =>
      eks.send(
        new ListTagsForResourceCommand({
          resourceArn: `arn:aws:eks:us-east-1:${ACCOUNT}:access-entry/demo/x`,
        }),
      ),
    );

    expect(reserved.name).toBe('InvalidParameterException');
    expect(missing.name).toBe('NotFoundException');
    expect(missing.$metadata?.httpStatusCode).toBe(404);
  });
});

describe('the wire', () => {
  it('sends epoch-second timestamps, the error type header and no code key in error bodies', async () => {
    await createEntry(ROLE);
    const path = `/clusters/demo/access-entries/${encodeURIComponent(ROLE)}`;

    const ok = await signedFetch(`${edge.url}${path}`, { service: 'eks' });
    const missing = await signedFetch(
      `${edge.url}/clusters/demo/access-entries/${encodeURIComponent(USER)}`,
      {
        service: 'eks',
      },
    );

    const body = (await ok.json()) as { accessEntry: { createdAt: unknown } };
    expect(ok.status).toBe(200);
    expect(typeof body.accessEntry.createdAt).toBe('number');
    expect(Math.abs((body.accessEntry.createdAt as number) - Date.now() / 1000)).toBeLessThan(60);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
    const errorBody = (await missing.json()) as Record<string, unknown>;
    expect(errorBody).not.toHaveProperty('code');
    expect(errorBody.message).toMatch(/could not be found/);
  });

  it('answers a malformed JSON body with a 400 and changes nothing', async () => {
    const res = await signedFetch(`${edge.url}/clusters/demo/access-entries`, {
      service: 'eks',
      method: 'POST',
      body: '{"principalArn":',
    });

    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('BadRequestException');
    expect(edge.eks.snapshot().find((c) => c.clusterName === 'demo')?.entries).toEqual([]);
  });

  it('answers an unknown path with UnknownOperationException', async () => {
    const res = await signedFetch(`${edge.url}/clusters/demo/nodegroups`, { service: 'eks' });

    expect(res.status).toBe(404);
    expect(res.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
  });
});

describe('the mutation log', () => {
  it('records every mutating call with its subject, scope and outcome, and counts calls per operation', async () => {
    await createEntry(ROLE);
    await eks.send(
      new AssociateAccessPolicyCommand({
        clusterName: 'demo',
        principalArn: ROLE,
        policyArn: VIEW,
        accessScope: { type: 'namespace', namespaces: ['a'] },
      }),
    );
    await caught(() => createEntry(ROLE));
    await eks.send(new DescribeAccessEntryCommand({ clusterName: 'demo', principalArn: ROLE }));

    const log = edge.eks
      .mutations()
      .map(({ seq, operation, principalArn, policyArn, accessScope, outcome }) => ({
        seq,
        operation,
        principalArn,
        policyArn,
        accessScope,
        outcome,
      }));
    expect(log).toEqual([
      {
        seq: 1,
        operation: 'CreateAccessEntry',
        principalArn: ROLE,
        policyArn: undefined,
        accessScope: undefined,
        outcome: 'applied',
      },
      {
        seq: 2,
        operation: 'AssociateAccessPolicy',
        principalArn: ROLE,
        policyArn: VIEW,
        accessScope: { type: 'namespace', namespaces: ['a'] },
        outcome: 'applied',
      },
      {
        seq: 3,
        operation: 'CreateAccessEntry',
        principalArn: ROLE,
        policyArn: undefined,
        accessScope: undefined,
        outcome: 'ResourceInUseException',
      },
    ]);
    expect(edge.eks.mutations()[0]?.at).toBeTypeOf('number');
    expect(edge.eks.callCounts()).toMatchObject({
      CreateAccessEntry: 2,
      AssociateAccessPolicy: 1,
      DescribeAccessEntry: 1,
    });
  });
});

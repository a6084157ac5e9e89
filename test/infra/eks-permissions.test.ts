import { describe, expect, it } from 'vitest';
import { loadRulesYaml } from '../../functions/config/access-rules-yaml';
import type { PolicyStatement } from '../../infra/stack/cloudformation';
import { eksStatements, grantableAccess } from '../../infra/stack/eks-permissions';
import { buildStack } from '../../infra/stack/resources';
import { asArray, iamProblems, iamStatements, type Template } from './template-audit';

/** Two clusters managed directly (one in China, its own partition) and one in another account. */
const RULES = loadRulesYaml(
  `
version: 2
integrations:
  - id: ticketing
    principals: ['arn:aws:iam::111122223333:role/ticketing']
    sources: [com.example.ticketing]
    queue: true
    rules: [team-a-view, ops-view-edit, partner-admin]
    requestedBy: asserted
clusters:
  - { name: prod, region: eu-west-1, accountId: '111122223333' }
  - { name: prod-cn, region: cn-north-1, accountId: '222233334444' }
  - name: partner
    region: us-east-1
    accountId: '444455556666'
    roleArn: arn:aws:iam::444455556666:role/eks-access-broker
rules:
  - id: team-a-view
    clusters: ['prod*']
    principals: ['arn:aws:iam::111122223333:role/team-a-*']
    policies: [AmazonEKSViewPolicy]
    namespaces: ['team-a-*']
    maxDurationSeconds: 3600
  - id: ops-view-edit
    clusters: [prod]
    principals: ['arn:aws:iam::111122223333:role/ops']
    policies: [AmazonEKSViewPolicy, AmazonEKSEditPolicy]
    namespaces: [ops]
    clusterScope: true
    maxDurationSeconds: 3600
  - id: partner-admin
    clusters: [partner]
    principals: ['arn:aws:iam::444455556666:role/*']
    policies: [AmazonEKSAdminPolicy]
    namespaces: ['*']
    maxDurationSeconds: 3600
`,
  'test-rules.yaml',
);

const cluster = (name: string) => {
  const found = RULES.clusters.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no cluster ${name}`);
  return found;
};

function stackTemplate(): Template {
  const stack = buildStack({
    stage: 'test',
    rules: RULES,
    eventBusName: 'eks-access-broker-test-bus',
    timeoutSeconds: { sqsIntake: 30, expiryTimer: 30, deadLetter: 30, writeBack: 20 },
  });
  // Through JSON, as osls hands it to CloudFormation: a template is data, not shared objects.
  return JSON.parse(JSON.stringify({ Resources: stack.Resources })) as Template;
}

function eksStatement(template: Template, sid: string) {
  const found = iamStatements(template).find(({ statement }) => statement.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found.statement as { -readonly [K in keyof PolicyStatement]: unknown };
}

describe('EKS permissions derived from the access rules', () => {
  it('unions the namespaces and principals of every rule that grants a policy on a cluster', () => {
    // Act
    const access = grantableAccess(RULES, cluster('prod'));

    // Assert
    expect(access).toEqual([
      {
        scope: 'cluster',
        principals: ['arn:aws:iam::111122223333:role/ops'],
        policyArns: [
          'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy',
          'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
        ],
      },
      {
        scope: 'namespace',
        namespaces: ['ops'],
        principals: ['arn:aws:iam::111122223333:role/ops'],
        policyArns: ['arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy'],
      },
      {
        scope: 'namespace',
        namespaces: ['ops', 'team-a-*'],
        principals: ['arn:aws:iam::111122223333:role/ops', 'arn:aws:iam::111122223333:role/team-a-*'],
        policyArns: ['arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy'],
      },
    ]);
  });

  it("uses each cluster's partition, region and account, and only assumes the cross-account role", () => {
    // Act
    const statements = eksStatements(RULES);

    // Assert
    const resources = new Set(statements.flatMap((statement) => statement.Resource.map(String)));
    expect([...resources].sort()).toEqual(
      [
        'arn:aws:eks:eu-west-1:111122223333:cluster/prod',
        'arn:aws:eks:eu-west-1:111122223333:access-entry/prod/*',
        'arn:aws-cn:eks:cn-north-1:222233334444:cluster/prod-cn',
        'arn:aws-cn:eks:cn-north-1:222233334444:access-entry/prod-cn/*',
        'arn:aws:iam::444455556666:role/eks-access-broker',
      ].sort(),
    );
    const cn = grantableAccess(RULES, cluster('prod-cn'));
    expect(cn.flatMap((access) => access.policyArns)).toEqual([
      'arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
    ]);
    expect(statements.find((statement) => statement.Sid === 'AssumeClusterRoles')?.Action).toEqual([
      'sts:AssumeRole',
    ]);
  });

  it('holds tagging, disassociation and deletion to STANDARD entries of the principals the rules grant', () => {
    // Act
    const statements = eksStatements(RULES);

    // Assert
    const bySid = (sid: string) => statements.find((statement) => statement.Sid === sid)?.Condition;
    const prodPrincipals = ['arn:aws:iam::111122223333:role/ops', 'arn:aws:iam::111122223333:role/team-a-*'];
    expect(bySid('TagOwnedAccessEntries0')).toEqual({
      StringEquals: { 'aws:RequestTag/eks-access-broker/managed': 'true' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['eks-access-broker/managed'] },
      StringEqualsIfExists: { 'eks:accessEntryType': 'STANDARD' },
      StringLikeIfExists: { 'eks:principalArn': prodPrincipals },
    });
    expect(bySid('DisassociateGrantable0')).toMatchObject({
      ArnEquals: { 'eks:policyArn': expect.arrayContaining([expect.stringContaining('ClusterAdminPolicy')]) },
      StringEquals: { 'eks:accessEntryType': 'STANDARD' },
      StringLike: { 'eks:principalArn': prodPrincipals },
    });
    expect(bySid('DeleteOwnedAccessEntries0')).toEqual({
      StringEquals: {
        'aws:ResourceTag/eks-access-broker/managed': 'true',
        'eks:accessEntryType': 'STANDARD',
      },
      StringLike: { 'eks:principalArn': prodPrincipals },
    });
    // prod-cn is granted to team-a only.
    expect(bySid('DeleteOwnedAccessEntries1')?.StringLike).toEqual({
      'eks:principalArn': ['arn:aws:iam::111122223333:role/team-a-*'],
    });
  });

  it('passes the audit the packaged template is held to', () => {
    expect(iamProblems(stackTemplate(), RULES)).toEqual([]);
  });
});

describe('the IAM audit of the template test', () => {
  it('fails on Resource "*" in an EKS statement', () => {
    // Arrange
    const template = stackTemplate();
    eksStatement(template, 'DisassociateGrantable0').Resource = '*';

    // Act
    const problems = iamProblems(template, RULES);

    // Assert
    expect(problems).toContain('EksAccessPolicy/DisassociateGrantable0: Resource "*"');
  });

  it('fails on a cluster the rules do not declare, a wildcard action or a missing policy condition', () => {
    // Arrange
    const template = stackTemplate();
    const read = eksStatement(template, 'ReadAccessEntries0');
    read.Resource = [...asArray(read.Resource), 'arn:aws:eks:eu-west-1:111122223333:access-entry/other/*'];
    eksStatement(template, 'DeleteOwnedAccessEntries0').Action = ['eks:Delete*'];
    eksStatement(template, 'AssociateGrantable0x0').Condition = {
      StringEquals: { 'eks:accessScope': 'cluster' },
    };

    // Act
    const problems = iamProblems(template, RULES);

    // Assert
    expect(problems).toEqual(
      expect.arrayContaining([
        'EksAccessPolicy/ReadAccessEntries0: EKS resource "arn:aws:eks:eu-west-1:111122223333:access-entry/other/*" is not a configured cluster\'s',
        'EksAccessPolicy/DeleteOwnedAccessEntries0: wildcard action eks:Delete*',
        'EksAccessPolicy/AssociateGrantable0x0: AssociateAccessPolicy without eks:policyArn',
      ]),
    );
  });

  it('fails on a CreateAccessEntry that may set Kubernetes groups or a username, or any entry type', () => {
    // Arrange
    const template = stackTemplate();
    const create = eksStatement(template, 'CreateOwnedAccessEntries0');
    const condition = structuredClone(create.Condition) as Record<string, Record<string, unknown>>;
    delete condition.Null;
    delete condition.StringEquals?.['eks:accessEntryType'];
    create.Condition = condition;

    // Act
    const problems = iamProblems(template, RULES);

    // Assert
    expect(problems).toEqual(
      expect.arrayContaining([
        'EksAccessPolicy/CreateOwnedAccessEntries0: CreateAccessEntry not limited to STANDARD entries',
        'EksAccessPolicy/CreateOwnedAccessEntries0: CreateAccessEntry may set Kubernetes groups or a username',
      ]),
    );
  });

  it('fails on a deletion, disassociation or tag of entries of any type or any principal', () => {
    // Arrange
    const template = stackTemplate();
    const remove = (sid: string, operator: string, key: string) => {
      const statement = eksStatement(template, sid);
      const condition = structuredClone(statement.Condition) as Record<string, Record<string, unknown>>;
      delete condition[operator]?.[key];
      statement.Condition = condition;
    };
    remove('DeleteOwnedAccessEntries0', 'StringEquals', 'eks:accessEntryType');
    remove('DisassociateGrantable0', 'StringLike', 'eks:principalArn');
    const tag = eksStatement(template, 'TagOwnedAccessEntries0');
    const condition = structuredClone(tag.Condition) as Record<string, Record<string, unknown>>;
    condition.StringLikeIfExists = { 'eks:principalArn': ['arn:aws:iam::111122223333:role/*'] };
    tag.Condition = condition;

    // Act
    const problems = iamProblems(template, RULES);

    // Assert
    expect(problems).toEqual(
      expect.arrayContaining([
        'EksAccessPolicy/DeleteOwnedAccessEntries0: eks:DeleteAccessEntry not limited to STANDARD entries',
        "EksAccessPolicy/DisassociateGrantable0: eks:DisassociateAccessPolicy not limited to the rules' principals",
        'EksAccessPolicy/TagOwnedAccessEntries0: eks:TagResource on principal arn:aws:iam::111122223333:role/*, which no rule grants on arn:aws:eks:eu-west-1:111122223333:access-entry/prod/*',
      ]),
    );
  });

  it('fails when the associable policies differ from what the rules grant', () => {
    // Arrange
    const template = stackTemplate();
    const statement = eksStatement(template, 'AssociateGrantable0x0');
    statement.Condition = {
      ArnEquals: { 'eks:policyArn': ['arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy'] },
      StringEquals: { 'eks:accessScope': 'cluster' },
    };

    // Act
    const problems = iamProblems(template, RULES);

    // Assert
    expect(problems.some((problem) => problem.includes('differ from the rules'))).toBe(true);
  });
});

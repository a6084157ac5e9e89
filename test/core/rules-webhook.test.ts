import { describe, expect, it } from 'vitest';
import { loadRulesYaml } from '../../functions/config/access-rules-yaml';
import { ConfigurationError } from '../../functions/core/errors';

/** A file with one integration of each kind: Jira and PagerDuty webhooks, and a plain bus integration. */
const WEBHOOKS = `
version: 2
clusters:
  - name: demo
    region: us-east-1
    accountId: '111122223333'
breakGlass:
  minReasonLength: 20
  maxDurationSeconds: 3600
integrations:
  - id: jira
    description: Jira approvals
    requestedBy: read-back
    rules: [view]
    webhook:
      vendor: jira
      secret: /broker/jira/webhook-secret
      url: https://example.atlassian.net/
      user: broker@example.com
      token: secretsmanager:broker/jira-token
      projects: [ACCESS, OPS_2]
      statuses:
        approved: [Approved]
        closed: [Done, Declined]
        extend: [Extension Approved]
      approverGroup: approvers
      fields:
        cluster: customfield_10100
        principal: customfield_10101
        policy: customfield_10102
        namespaces: customfield_10103
        durationHours: customfield_10104
        extensionHours: customfield_10105
      owners:
        - principal: 'arn:aws:iam::111122223333:role/dev-alice*'
          accountIds: ['712020:4f1e6c55-0a57-4d7c-9c0a-a11ce0000001']
  - id: pagerduty
    requestedBy: read-back
    breakGlass: true
    rules: [admin]
    webhook:
      vendor: pagerduty
      secret: secretsmanager:arn:aws:secretsmanager:us-east-1:111122223333:secret:pd-webhook-AbCdEf
      url: http://127.0.0.1:4581
      token: /broker/pagerduty/api-key
      from: broker@example.com
      services: [{ id: PSVC001, cluster: demo }]
      users: [{ id: PUSR0AL, principal: 'arn:aws:iam::111122223333:role/oncall-alice' }]
      policy: arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy
      durationSeconds: 1800
  - id: app
    principals: ['arn:aws:iam::111122223333:role/app']
    sources: [com.example.app]
    rules: [view]
    requestedBy: asserted
rules:
  - id: view
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [AmazonEKSViewPolicy]
    namespaces: ['*']
    maxDurationSeconds: 3600
  - id: admin
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/oncall-*']
    policies: [AmazonEKSClusterAdminPolicy]
    clusterScope: true
    maxDurationSeconds: 3600
    breakGlassOnly: true
    requireProof: false
    self: false
`;

/** WEBHOOKS with each `[from, to]` replaced; `from` must occur exactly once, so no case tests the file unchanged. */
function edit(...replacements: readonly (readonly [string, string])[]): string {
  return replacements.reduce((text, [from, to]) => {
    const count = text.split(from).length - 1;
    if (count !== 1) throw new Error(`${JSON.stringify(from)} occurs ${count} times`);
    return text.replace(from, to);
  }, WEBHOOKS);
}

/** The problems a ConfigurationError lists, one per line. */
function problemsOf(yamlText: string): string[] {
  try {
    loadRulesYaml(yamlText, 'test.yaml');
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    return error.message
      .split('\n')
      .slice(1)
      .map((line) => line.replace(/^ {2}- /, ''));
  }
  throw new Error('expected loadRulesYaml to throw a ConfigurationError');
}

const SECRET_REF_MESSAGE =
  'must name where the secret is kept: an SSM parameter (/path/name) or secretsmanager:<name or ARN>';
const URL_MESSAGE = 'must be an https URL (http only for 127.0.0.1 or localhost)';
const FIELD_MESSAGE =
  'must be a Jira field id (customfield_10100, or a system field such as summary), not its name';

describe('webhook integrations in the access rules', () => {
  it('parses a Jira and a PagerDuty integration to exactly their configuration', () => {
    // Act
    const rules = loadRulesYaml(WEBHOOKS, 'webhooks.yaml');

    // Assert
    expect(rules.integrations).toStrictEqual([
      {
        id: 'jira',
        description: 'Jira approvals',
        principals: [],
        sources: [],
        queue: false,
        rules: ['view'],
        breakGlass: false,
        requestedBy: 'read-back',
        webhook: {
          vendor: 'jira',
          secret: '/broker/jira/webhook-secret',
          url: 'https://example.atlassian.net',
          user: 'broker@example.com',
          token: 'secretsmanager:broker/jira-token',
          projects: ['ACCESS', 'OPS_2'],
          statuses: { approved: ['Approved'], closed: ['Done', 'Declined'], extend: ['Extension Approved'] },
          approverGroup: 'approvers',
          fields: {
            cluster: 'customfield_10100',
            principal: 'customfield_10101',
            policy: 'customfield_10102',
            namespaces: 'customfield_10103',
            durationHours: 'customfield_10104',
            extensionHours: 'customfield_10105',
          },
          owners: [
            {
              principal: 'arn:aws:iam::111122223333:role/dev-alice*',
              accountIds: ['712020:4f1e6c55-0a57-4d7c-9c0a-a11ce0000001'],
            },
          ],
        },
      },
      {
        id: 'pagerduty',
        principals: [],
        sources: [],
        queue: false,
        rules: ['admin'],
        breakGlass: true,
        requestedBy: 'read-back',
        webhook: {
          vendor: 'pagerduty',
          secret: 'secretsmanager:arn:aws:secretsmanager:us-east-1:111122223333:secret:pd-webhook-AbCdEf',
          url: 'http://127.0.0.1:4581',
          token: '/broker/pagerduty/api-key',
          from: 'broker@example.com',
          services: [{ id: 'PSVC001', cluster: 'demo' }],
          users: [{ id: 'PUSR0AL', principal: 'arn:aws:iam::111122223333:role/oncall-alice' }],
          policy: 'AmazonEKSClusterAdminPolicy',
          durationSeconds: 1800,
        },
      },
      {
        id: 'app',
        principals: ['arn:aws:iam::111122223333:role/app'],
        sources: ['com.example.app'],
        queue: false,
        rules: ['view'],
        breakGlass: false,
        requestedBy: 'asserted',
      },
    ]);
    expect(rules.sources).toEqual(['com.example.app']);
    expect(Object.isFrozen(rules.integrations[0]?.webhook)).toBe(true);
  });

  it('leaves out what a Jira integration does not set, and defaults its owners to none', () => {
    // Arrange
    const yamlText = edit(
      ['        extend: [Extension Approved]\n', ''],
      ['      approverGroup: approvers\n', ''],
      ['        namespaces: customfield_10103\n', ''],
      ['        extensionHours: customfield_10105\n', ''],
      [
        "      owners:\n        - principal: 'arn:aws:iam::111122223333:role/dev-alice*'\n          accountIds: ['712020:4f1e6c55-0a57-4d7c-9c0a-a11ce0000001']\n",
        '',
      ],
    );

    // Act
    const jira = loadRulesYaml(yamlText, 'minimal.yaml').integrations[0];

    // Assert
    expect(jira?.webhook).toStrictEqual({
      vendor: 'jira',
      secret: '/broker/jira/webhook-secret',
      url: 'https://example.atlassian.net',
      user: 'broker@example.com',
      token: 'secretsmanager:broker/jira-token',
      projects: ['ACCESS', 'OPS_2'],
      statuses: { approved: ['Approved'], closed: ['Done', 'Declined'] },
      fields: {
        cluster: 'customfield_10100',
        principal: 'customfield_10101',
        policy: 'customfield_10102',
        durationHours: 'customfield_10104',
      },
      owners: [],
    });
  });

  it('accepts empty principals and sources and queue: false on a webhook integration', () => {
    // Arrange
    const yamlText = edit([
      '    requestedBy: read-back\n    rules: [view]\n',
      '    requestedBy: read-back\n    rules: [view]\n    principals: []\n    sources: []\n    queue: false\n',
    ]);

    // Act
    const jira = loadRulesYaml(yamlText, 'empty.yaml').integrations[0];

    // Assert
    expect(jira && { principals: jira.principals, sources: jira.sources, queue: jira.queue }).toEqual({
      principals: [],
      sources: [],
      queue: false,
    });
  });

  it.each([
    ['an SSM parameter', '/a/b.c_d-e'],
    ['a Secrets Manager name', 'secretsmanager:prod/jira+token=x@y'],
    [
      'a Secrets Manager ARN',
      'secretsmanager:arn:aws-us-gov:secretsmanager:us-gov-west-1:111122223333:secret:x-AbCdEf',
    ],
  ])('accepts %s as a secret reference', (_label, ref) => {
    // Act
    const jira = loadRulesYaml(
      edit(['secret: /broker/jira/webhook-secret', `secret: '${ref}'`]),
      'secret.yaml',
    ).integrations[0];

    // Assert
    expect(jira?.webhook?.secret).toBe(ref);
  });

  it.each([
    ['https://example.atlassian.net', 'https://example.atlassian.net'],
    ['https://proxy.example.com/jira//', 'https://proxy.example.com/jira'],
    ['http://localhost:4580/', 'http://localhost:4580'],
    ['http://127.0.0.1:4580', 'http://127.0.0.1:4580'],
  ])('accepts the vendor URL %s as %s', (url, expected) => {
    // Act
    const jira = loadRulesYaml(edit(['url: https://example.atlassian.net/', `url: '${url}'`]), 'url.yaml')
      .integrations[0];

    // Assert
    expect(jira?.webhook?.url).toBe(expected);
  });

  it('never repeats a secret written where its reference belongs', () => {
    // Act
    const problems = problemsOf(edit(['secret: /broker/jira/webhook-secret', 'secret: hunter2-s3cr3t']));

    // Assert
    expect(problems).toEqual([`integrations[0].webhook.secret: ${SECRET_REF_MESSAGE}`]);
  });

  it.each([
    // The integration
    [
      'principals on a webhook integration',
      edit([
        '    rules: [view]\n    webhook:',
        "    rules: [view]\n    principals: ['arn:aws:iam::111122223333:role/x']\n    webhook:",
      ]),
      'integrations[0].principals: must be empty or left out for a webhook integration: nobody sends for it, the broker reads each ticket back from its vendor',
    ],
    [
      'sources on a webhook integration',
      edit([
        '    rules: [view]\n    webhook:',
        '    rules: [view]\n    sources: [com.example.jira]\n    webhook:',
      ]),
      'integrations[0].sources: must be empty or left out for a webhook integration: its requests never come from the bus',
    ],
    [
      'a webhook integration on the queue',
      edit(['    rules: [view]\n    webhook:', '    rules: [view]\n    queue: true\n    webhook:']),
      "integrations[0].queue: must be false or left out for a webhook integration: only the broker's webhook function queues its requests",
    ],
    [
      'a webhook integration that is not read-back',
      edit(['requestedBy: read-back\n    rules: [view]', 'requestedBy: asserted\n    rules: [view]']),
      'integrations[0].requestedBy: must be read-back for a webhook integration: the broker reads each ticket back from its vendor and takes the request from it',
    ],
    [
      'a webhook integration without requestedBy',
      edit(['    requestedBy: read-back\n    rules: [view]\n', '    rules: [view]\n']),
      'integrations[0].requestedBy: is required',
    ],
    [
      'read-back without a webhook',
      edit(['requestedBy: asserted', 'requestedBy: read-back']),
      'integrations[2].requestedBy: read-back is only for a webhook integration (one with a webhook section): use asserted or proven',
    ],
    [
      'an integration without webhook or principals',
      edit(["    principals: ['arn:aws:iam::111122223333:role/app']\n", '']),
      'integrations[2].principals: is required',
    ],
    [
      'an integration without webhook or sources',
      edit(['    sources: [com.example.app]\n', '']),
      'integrations[2].sources: is required',
    ],
    [
      'an integration id that is not path-safe',
      edit(['- id: jira', '- id: jira/admin']),
      'integrations[0].id: must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit',
    ],
    [
      'a webhook ceiling naming an undeclared rule',
      edit(['rules: [admin]', 'rules: [admin, edit]']),
      'integrations[1].rules[1]: rule "edit" is not declared under rules',
    ],
    [
      'a pagerduty integration that may not break glass',
      edit(['    breakGlass: true\n    rules: [admin]\n', '    rules: [admin]\n']),
      'integrations[1].breakGlass: must be true for a pagerduty integration: its grants are break-glass (to freeze it, set rules: [])',
    ],
    // The webhook section
    [
      'a webhook that is not a mapping',
      WEBHOOKS.replace(
        / {4}webhook:\n {6}vendor: jira\n[\s\S]*?(?= {2}- id: pagerduty)/,
        '    webhook: jira\n',
      ),
      'integrations[0].webhook: must be a mapping with vendor (jira or pagerduty) and its settings',
    ],
    [
      'a webhook without vendor',
      edit(['      vendor: jira\n', '']),
      'integrations[0].webhook.vendor: is required',
    ],
    [
      'an unknown vendor',
      edit(['vendor: jira', 'vendor: servicenow']),
      'integrations[0].webhook.vendor: must be jira or pagerduty',
    ],
    [
      'a PagerDuty key in a Jira webhook',
      edit([
        '      approverGroup: approvers\n',
        '      approverGroup: approvers\n      from: x@example.com\n',
      ]),
      'integrations[0].webhook.from: unknown field',
    ],
    [
      'a Jira key in a PagerDuty webhook',
      edit(['      durationSeconds: 1800\n', '      durationSeconds: 1800\n      projects: [ACCESS]\n']),
      'integrations[1].webhook.projects: unknown field',
    ],
    [
      'an unknown status list',
      edit([
        '        closed: [Done, Declined]\n',
        '        closed: [Done, Declined]\n        reopened: [Open]\n',
      ]),
      'integrations[0].webhook.statuses.reopened: unknown field',
    ],
    [
      'an unknown field part',
      edit([
        '        cluster: customfield_10100\n',
        '        cluster: customfield_10100\n        region: customfield_1\n',
      ]),
      'integrations[0].webhook.fields.region: unknown field',
    ],
    [
      'an unknown owner key',
      edit(["          accountIds: ['712020", "          team: a\n          accountIds: ['712020"]),
      'integrations[0].webhook.owners[0].team: unknown field',
    ],
    [
      'an unknown service key',
      edit(['{ id: PSVC001, cluster: demo }', '{ id: PSVC001, cluster: demo, region: us-east-1 }']),
      'integrations[1].webhook.services[0].region: unknown field',
    ],
    [
      'an unknown user key',
      edit(['{ id: PUSR0AL, principal:', '{ id: PUSR0AL, email: a@example.com, principal:']),
      'integrations[1].webhook.users[0].email: unknown field',
    ],
    [
      'a Jira webhook without its user',
      edit(['      user: broker@example.com\n', '']),
      'integrations[0].webhook.user: is required',
    ],
    [
      'a PagerDuty webhook without from',
      edit(['      from: broker@example.com\n', '']),
      'integrations[1].webhook.from: is required',
    ],
    // Secrets and URLs
    [
      'an empty Secrets Manager reference',
      edit(['token: secretsmanager:broker/jira-token', 'token: "secretsmanager:"']),
      `integrations[0].webhook.token: ${SECRET_REF_MESSAGE}`,
    ],
    [
      'a Secrets Manager reference to another service',
      edit([
        'token: secretsmanager:broker/jira-token',
        'token: secretsmanager:arn:aws:ssm:us-east-1:111122223333:parameter/x',
      ]),
      `integrations[0].webhook.token: ${SECRET_REF_MESSAGE}`,
    ],
    [
      'an SSM name that is not fully qualified',
      edit(['token: /broker/pagerduty/api-key', 'token: broker/pagerduty/api-key']),
      `integrations[1].webhook.token: ${SECRET_REF_MESSAGE}`,
    ],
    [
      'a plain http URL to another host',
      edit(['url: https://example.atlassian.net/', 'url: http://example.atlassian.net']),
      `integrations[0].webhook.url: ${URL_MESSAGE}`,
    ],
    [
      'a URL that is not one',
      edit(['url: http://127.0.0.1:4581', 'url: api.pagerduty.com']),
      `integrations[1].webhook.url: ${URL_MESSAGE}`,
    ],
    [
      'a URL with credentials',
      edit(['url: https://example.atlassian.net/', "url: 'https://bot:pw@example.atlassian.net'"]),
      'integrations[0].webhook.url: must have no user, password, query or fragment: the broker adds the API paths to it',
    ],
    [
      'a URL with a query',
      edit(['url: https://example.atlassian.net/', "url: 'https://example.atlassian.net/?x=1'"]),
      'integrations[0].webhook.url: must have no user, password, query or fragment: the broker adds the API paths to it',
    ],
    [
      'a user that is not an email address',
      edit(['user: broker@example.com', 'user: broker']),
      'integrations[0].webhook.user: must be an email address',
    ],
    [
      'a from that is not an email address',
      edit(['from: broker@example.com', "from: 'broker @example.com'"]),
      'integrations[1].webhook.from: must be an email address',
    ],
    // Jira
    [
      'no project',
      edit(['projects: [ACCESS, OPS_2]', 'projects: []']),
      'integrations[0].webhook.projects: must list at least one project key',
    ],
    [
      'a project key in lower case',
      edit(['projects: [ACCESS, OPS_2]', 'projects: [ACCESS, ops]']),
      'integrations[0].webhook.projects[1]: is not a Jira project key (an upper-case letter, then upper-case letters, digits or _)',
    ],
    [
      'a project listed twice',
      edit(['projects: [ACCESS, OPS_2]', 'projects: [ACCESS, ACCESS]']),
      'integrations[0].webhook.projects[1]: duplicate project "ACCESS" (also at integrations[0].webhook.projects[0])',
    ],
    [
      'no approved status',
      edit(['approved: [Approved]', 'approved: []']),
      'integrations[0].webhook.statuses.approved: must list at least one status',
    ],
    [
      'no closed status',
      edit(['        closed: [Done, Declined]\n', '']),
      'integrations[0].webhook.statuses.closed: is required',
    ],
    [
      'an empty extend list',
      edit(['extend: [Extension Approved]', 'extend: []']),
      'integrations[0].webhook.statuses.extend: must list at least one status, or be left out (no extension)',
    ],
    [
      'an empty status',
      edit(['closed: [Done, Declined]', "closed: [Done, '']"]),
      'integrations[0].webhook.statuses.closed[1]: must not be empty',
    ],
    [
      'a status that both approves and closes',
      edit(['closed: [Done, Declined]', 'closed: [Done, Approved]']),
      'integrations[0].webhook.statuses.closed[1]: status "Approved" is also under statuses.approved: a status either grants, revokes or extends',
    ],
    [
      'a status that both approves and extends',
      edit(['extend: [Extension Approved]', 'extend: [Approved]']),
      'integrations[0].webhook.statuses.extend[0]: status "Approved" is also under statuses.approved: a status either grants, revokes or extends',
    ],
    [
      'a status that both closes and extends',
      edit(['extend: [Extension Approved]', 'extend: [Declined]']),
      'integrations[0].webhook.statuses.extend[0]: status "Declined" is also under statuses.closed: a status either grants, revokes or extends',
    ],
    [
      'a status listed twice',
      edit(['closed: [Done, Declined]', 'closed: [Done, Done]']),
      'integrations[0].webhook.statuses.closed[1]: duplicate status "Done" (also at integrations[0].webhook.statuses.closed[0])',
    ],
    [
      'extension statuses without the extension field',
      edit(['        extensionHours: customfield_10105\n', '']),
      'integrations[0].webhook.fields.extensionHours: is required with statuses.extend: the hours an extension transition adds',
    ],
    [
      'an empty field id',
      edit(['cluster: customfield_10100', "cluster: ''"]),
      `integrations[0].webhook.fields.cluster: ${FIELD_MESSAGE}`,
    ],
    [
      'a field name instead of its id',
      edit(['principal: customfield_10101', "principal: 'Beneficiary role'"]),
      `integrations[0].webhook.fields.principal: ${FIELD_MESSAGE}`,
    ],
    [
      'a missing duration field',
      edit(['        durationHours: customfield_10104\n', '']),
      'integrations[0].webhook.fields.durationHours: is required',
    ],
    [
      'an empty approver group',
      edit(['approverGroup: approvers', "approverGroup: ''"]),
      'integrations[0].webhook.approverGroup: must not be empty',
    ],
    [
      'an owner that is an STS session',
      edit([
        "principal: 'arn:aws:iam::111122223333:role/dev-alice*'",
        "principal: 'arn:aws:sts::111122223333:assumed-role/dev-alice/alice'",
      ]),
      'integrations[0].webhook.owners[0].principal: STS session ARNs never match: requests carry the role ARN (arn:aws:iam::<account>:role/<name>)',
    ],
    [
      'an owner that is a malformed ARN',
      edit([
        "principal: 'arn:aws:iam::111122223333:role/dev-alice*'",
        "principal: 'arn:aws:iam::1111:role/dev-alice'",
      ]),
      'integrations[0].webhook.owners[0].principal: is malformed: the account id must be 12 digits',
    ],
    [
      'an owner without accounts',
      edit(["accountIds: ['712020:4f1e6c55-0a57-4d7c-9c0a-a11ce0000001']", 'accountIds: []']),
      'integrations[0].webhook.owners[0].accountIds: must list at least one Jira account id',
    ],
    [
      'an empty owner account id',
      edit(["accountIds: ['712020:4f1e6c55-0a57-4d7c-9c0a-a11ce0000001']", "accountIds: ['']"]),
      'integrations[0].webhook.owners[0].accountIds[0]: must not be empty',
    ],
    // PagerDuty
    [
      'no service',
      edit(['services: [{ id: PSVC001, cluster: demo }]', 'services: []']),
      'integrations[1].webhook.services: must list at least one service',
    ],
    [
      'a service on an undeclared cluster',
      edit(['{ id: PSVC001, cluster: demo }', '{ id: PSVC001, cluster: prod }']),
      'integrations[1].webhook.services[0].cluster: cluster "prod" is not declared under clusters',
    ],
    [
      'a service cluster that is a glob',
      edit(['{ id: PSVC001, cluster: demo }', "{ id: PSVC001, cluster: 'de*' }"]),
      'integrations[1].webhook.services[0].cluster: is not a valid EKS cluster name',
    ],
    [
      'a service id that is not a PagerDuty id',
      edit(['{ id: PSVC001, cluster: demo }', "{ id: '../x', cluster: demo }"]),
      'integrations[1].webhook.services[0].id: is not a PagerDuty id (upper-case letters and digits, like PABC123)',
    ],
    [
      'a service listed twice',
      edit([
        '{ id: PSVC001, cluster: demo }]',
        '{ id: PSVC001, cluster: demo }, { id: PSVC001, cluster: demo }]',
      ]),
      'integrations[1].webhook.services[1].id: duplicate service "PSVC001" (also at integrations[1].webhook.services[0].id)',
    ],
    [
      'no user',
      edit([
        "users: [{ id: PUSR0AL, principal: 'arn:aws:iam::111122223333:role/oncall-alice' }]",
        'users: []',
      ]),
      'integrations[1].webhook.users: must list at least one user',
    ],
    [
      'a user mapped to an IAM user',
      edit([
        "principal: 'arn:aws:iam::111122223333:role/oncall-alice'",
        "principal: 'arn:aws:iam::111122223333:user/alice'",
      ]),
      'integrations[1].webhook.users[0].principal: must be an IAM role ARN',
    ],
    [
      'a user mapped to a role glob',
      edit([
        "principal: 'arn:aws:iam::111122223333:role/oncall-alice'",
        "principal: 'arn:aws:iam::111122223333:role/oncall-*'",
      ]),
      'integrations[1].webhook.users[0].principal: is malformed: not a valid IAM role name and path',
    ],
    [
      'a user listed twice',
      edit([
        "users: [{ id: PUSR0AL, principal: 'arn:aws:iam::111122223333:role/oncall-alice' }]",
        "users: [{ id: PUSR0AL, principal: 'arn:aws:iam::111122223333:role/oncall-alice' }, { id: PUSR0AL, principal: 'arn:aws:iam::111122223333:role/oncall-bob' }]",
      ]),
      'integrations[1].webhook.users[1].id: duplicate user "PUSR0AL" (also at integrations[1].webhook.users[0].id)',
    ],
    [
      'a policy that is not grantable',
      edit([
        'policy: arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy',
        'policy: AmazonEKSAutoNodePolicy',
      ]),
      'integrations[1].webhook.policy: AmazonEKSAutoNodePolicy is an AWS-managed policy for nodes or AWS services, not grantable to people (grantable: AmazonEKSClusterAdminPolicy, AmazonEKSAdminPolicy, AmazonEKSEditPolicy, AmazonEKSViewPolicy, AmazonEKSAdminViewPolicy, AmazonEKSSecretReaderPolicy)',
    ],
    [
      'a zero duration',
      edit(['durationSeconds: 1800', 'durationSeconds: 0']),
      'integrations[1].webhook.durationSeconds: must be at least 1',
    ],
    [
      'a fractional duration',
      edit(['durationSeconds: 1800', 'durationSeconds: 1.5']),
      'integrations[1].webhook.durationSeconds: must be a whole number',
    ],
    [
      'a duration above the break-glass cap',
      edit(['durationSeconds: 1800', 'durationSeconds: 7200']),
      'integrations[1].webhook.durationSeconds: 7200 is above breakGlass.maxDurationSeconds (3600): every grant of this break-glass integration would be refused',
    ],
  ])('reports %s with its exact problem, and only it', (_label, yamlText, expected) => {
    // Act
    const problems = problemsOf(yamlText);

    // Assert
    expect(problems).toEqual([expected]);
  });
});

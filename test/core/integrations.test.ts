import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadRulesYaml, readRulesYaml } from '../../functions/config/access-rules-yaml';
import {
  accountsOf,
  integrationOfSource,
  listsCaller,
  queueIntegrationOf,
  sameRole,
  webhookIntegration,
} from '../../functions/core/integrations';
import type { Caller, GrantRequest, Rejection } from '../../functions/core/model';
import { type Decision, evaluateGrant } from '../../functions/core/rule-decision';
import type { AccessRules, Integration } from '../../functions/core/rules';

const shipped = readRulesYaml(fileURLToPath(new URL('../../infra/access-rules.yaml', import.meta.url)));

const ACCOUNT = '111122223333';
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const session = (name: string, who = 'someone') => `arn:aws:sts::${ACCOUNT}:assumed-role/${name}/${who}`;
const policy = (name: string) => `arn:aws:eks::aws:cluster-access-policy/${name}`;
const BREAK_GLASS_REASON = 'INC-42: API servers down, need admin to inspect webhooks';

const TICKETING: Caller = { integration: 'ticketing', sender: role('ticketing-integration') };
const ONCALL_ALICE: Caller = {
  integration: 'oncall',
  sender: `${ACCOUNT}:com.example.oncall`,
  proven: session('oncall-alice', 'alice'),
};
const DEV_BOB: Caller = {
  integration: 'self-service',
  sender: `${ACCOUNT}:com.example.self-service`,
  proven: session('dev-bob', 'bob'),
};

function grant(overrides: Partial<GrantRequest> = {}): GrantRequest {
  return {
    kind: 'grant',
    requestId: 'TEST-1:grant',
    clusterName: 'demo',
    principalArn: role('developer'),
    policyArn: policy('AmazonEKSViewPolicy'),
    accessScope: { type: 'namespace', namespaces: ['team-a'] },
    durationSeconds: 3600,
    requestedBy: 'alice@example.com',
    reason: 'Look at the team-a deployments',
    breakGlass: false,
    source: 'com.example.ticketing',
    ...overrides,
  };
}

const breakGlassAdmin = (overrides: Partial<GrantRequest> = {}) =>
  grant({
    principalArn: role('oncall-alice'),
    policyArn: policy('AmazonEKSClusterAdminPolicy'),
    accessScope: { type: 'cluster' },
    breakGlass: true,
    reason: BREAK_GLASS_REASON,
    source: 'com.example.oncall',
    ...overrides,
  });

function allowedRule(decision: Decision): string {
  if (!decision.allowed)
    throw new Error(`expected the grant to be allowed, got ${JSON.stringify(decision.rejection)}`);
  return decision.rule.id;
}

function denied(decision: Decision): Rejection {
  if (decision.allowed)
    throw new Error(`expected the grant to be refused, it was allowed by ${decision.rule.id}`);
  return decision.rejection;
}

describe('integrationOfSource', () => {
  it('finds the integration that owns a source, and none for a source nobody owns', () => {
    expect(integrationOfSource(shipped, 'com.example.ticketing')?.id).toBe('ticketing');
    expect(integrationOfSource(shipped, 'com.example.oncall')?.id).toBe('oncall');
    expect(integrationOfSource(shipped, 'com.example.self-service')?.id).toBe('self-service');
    expect(integrationOfSource(shipped, 'eks-access-broker')).toBeUndefined();
    expect(integrationOfSource(shipped, 'com.example.other')).toBeUndefined();
  });
});

describe('queueIntegrationOf', () => {
  it('resolves a queue sender by its exact ARN, only for integrations that use the queue', () => {
    expect(queueIntegrationOf(shipped, role('ticketing-integration'))?.id).toBe('ticketing');
    // oncall lists role/oncall-*: not a queue integration, and a glob is never a queue sender.
    expect(queueIntegrationOf(shipped, role('oncall-alice'))).toBeUndefined();
    expect(queueIntegrationOf(shipped, role('oncall-*'))).toBeUndefined();
    expect(queueIntegrationOf(shipped, role('ticketing-integration-2'))).toBeUndefined();
    expect(queueIntegrationOf(shipped, role('intruder'))).toBeUndefined();
  });
});

describe('webhookIntegration', () => {
  it('finds a webhook integration by id, with its webhook', () => {
    // Act
    const jira = webhookIntegration(shipped, 'jira');
    const pagerDuty = webhookIntegration(shipped, 'pagerduty');

    // Assert
    expect(jira?.id).toBe('jira');
    expect(jira?.webhook.vendor).toBe('jira');
    expect(pagerDuty?.webhook).toMatchObject({ vendor: 'pagerduty', policy: 'AmazonEKSClusterAdminPolicy' });
  });

  it('finds nothing for an unknown id or an integration that is not a webhook', () => {
    expect(webhookIntegration(shipped, 'servicenow')).toBeUndefined();
    expect(webhookIntegration(shipped, 'ticketing')).toBeUndefined();
    expect(webhookIntegration(shipped, 'JIRA')).toBeUndefined();
  });
});

describe('a webhook integration and the channels', () => {
  // Validation keeps a webhook integration off every channel; these lookups refuse it even if it were not.
  const jira = webhookIntegration(shipped, 'jira');
  if (!jira) throw new Error('the shipped rules declare the jira integration');
  const onEveryChannel: Integration = {
    ...jira,
    principals: [role('jira-bot'), `arn:aws:iam::${ACCOUNT}:role/jira-*`],
    sources: ['com.example.jira'],
    queue: true,
  };
  const rules: AccessRules = { ...shipped, integrations: [onEveryChannel] };

  it('owns no source, sends on no queue, and lists no caller', () => {
    expect(integrationOfSource(rules, 'com.example.jira')).toBeUndefined();
    expect(queueIntegrationOf(rules, role('jira-bot'))).toBeUndefined();
    expect(listsCaller(onEveryChannel, role('jira-bot'))).toBe(false);
    expect(listsCaller(onEveryChannel, session('jira-bot'))).toBe(false);
    expect(listsCaller(jira, session('jira-bot'))).toBe(false);
  });

  it('is none of the channels of the shipped rules', () => {
    expect(shipped.integrations.map((integration) => integration.id)).toContain('jira');
    expect(shipped.sources.map((source) => integrationOfSource(shipped, source)?.id)).toEqual([
      'ticketing',
      'oncall',
      'self-service',
    ]);
  });
});

describe('accountsOf', () => {
  it('lists the accounts of the principals, each once, in file order', () => {
    // Arrange
    const rules = loadRulesYaml(
      `
version: 2
clusters: [{ name: demo, region: us-east-1, accountId: '111122223333' }]
integrations:
  - id: multi
    principals:
      - arn:aws:iam::444455556666:role/a
      - arn:aws:iam::111122223333:role/b-*
      - arn:aws:iam::444455556666:user/c
    sources: [com.example.multi]
    rules: []
    requestedBy: asserted
rules: []
`,
      'multi.yaml',
    );

    // Act / Assert
    expect(rules.integrations.map(accountsOf)).toEqual([['444455556666', '111122223333']]);
    // The webhook integrations (jira, pagerduty) have no principals, so no account sends for them.
    expect(shipped.integrations.map(accountsOf)).toEqual([[ACCOUNT], [ACCOUNT], [ACCOUNT], [], []]);
  });
});

describe('sameRole', () => {
  it.each([
    ['a session of the role', role('dev-bob'), session('dev-bob'), true],
    ['a session of the role, whose ARN has no path', role('team/x/dev-bob'), session('dev-bob'), true],
    [
      'an SSO session of the SSO role',
      role('aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Dev_0123'),
      session('AWSReservedSSO_Dev_0123', 'bob@example.com'),
      true,
    ],
    ['a session of another role', role('dev-bob'), session('dev-alice'), false],
    ['a session of a role whose name only starts alike', role('dev-bob'), session('dev-bobby'), false],
    [
      'a session of the same name in another account',
      role('dev-bob'),
      'arn:aws:sts::444455556666:assumed-role/dev-bob/x',
      false,
    ],
    [
      'a session in another partition',
      role('dev-bob'),
      `arn:aws-cn:sts::${ACCOUNT}:assumed-role/dev-bob/x`,
      false,
    ],
    [
      'a role session for a user of that name',
      `arn:aws:iam::${ACCOUNT}:user/dev-bob`,
      session('dev-bob'),
      false,
    ],
    ['the user itself', `arn:aws:iam::${ACCOUNT}:user/ops/bob`, `arn:aws:iam::${ACCOUNT}:user/ops/bob`, true],
    [
      'a user of the same name at another path',
      `arn:aws:iam::${ACCOUNT}:user/bob`,
      `arn:aws:iam::${ACCOUNT}:user/ops/bob`,
      false,
    ],
    [
      'a session ARN without a session name',
      role('dev-bob'),
      `arn:aws:sts::${ACCOUNT}:assumed-role/dev-bob`,
      false,
    ],
    ['a federated user', role('dev-bob'), `arn:aws:sts::${ACCOUNT}:federated-user/dev-bob`, false],
    ['the account root', role('dev-bob'), `arn:aws:iam::${ACCOUNT}:root`, false],
    ['no proof at all', role('dev-bob'), '', false],
  ])('%s: %s proven as %s is %s', (_label, beneficiary, proven, same) => {
    expect(sameRole(beneficiary, proven)).toBe(same);
  });
});

describe('a grant decided inside its integration', () => {
  it('refuses break-glass through an integration that may not send it, before any rule is tried', () => {
    // Act
    const rejection = denied(
      evaluateGrant(shipped, breakGlassAdmin({ source: 'com.example.ticketing' }), TICKETING),
    );

    // Assert
    expect(rejection).toEqual({
      code: 'BREAK_GLASS_NOT_ALLOWED',
      field: 'detail.breakGlass',
      reason: 'integration ticketing may not send break-glass requests',
    });
  });

  it('refuses a source another integration owns', () => {
    // Act
    const rejection = denied(
      evaluateGrant(shipped, grant({ source: 'com.example.ticketing' }), ONCALL_ALICE),
    );

    // Assert
    expect(rejection).toEqual({
      code: 'SOURCE_NOT_ALLOWED',
      field: 'source',
      reason: 'source "com.example.ticketing" is not allowed for integration oncall',
    });
  });

  it('refuses an unproven request through an integration whose requesters must be proven', () => {
    // Arrange
    const unproven: Caller = { integration: 'self-service', sender: `${ACCOUNT}:com.example.self-service` };

    // Act
    const rejection = denied(
      evaluateGrant(
        shipped,
        grant({ principalArn: role('dev-bob'), source: 'com.example.self-service' }),
        unproven,
      ),
    );

    // Assert
    expect(rejection).toEqual({
      code: 'PROOF_REQUIRED',
      reason:
        "integration self-service requires the requester's proof (a presigned sts:GetCallerIdentity) on every request",
    });
  });

  it('uses only the rules of the ceiling: what another integration may ask is NOT_ALLOWED, naming the integration', () => {
    // Arrange: self-service may use only developers-self, even though developers-view-edit would allow this.
    const request = grant({
      principalArn: role('dev-bob'),
      policyArn: policy('AmazonEKSClusterAdminPolicy'),
      source: 'com.example.self-service',
    });

    // Act
    const rejection = denied(evaluateGrant(shipped, request, DEV_BOB));

    // Assert
    expect(rejection).toEqual({
      code: 'NOT_ALLOWED',
      reason: `no rule of integration self-service allows AmazonEKSClusterAdminPolicy for ${role('dev-bob')} on cluster demo`,
    });
  });

  it('allows a proven developer access for themselves through self-service', () => {
    // Act
    const decision = evaluateGrant(
      shipped,
      grant({ principalArn: role('dev-bob'), source: 'com.example.self-service' }),
      DEV_BOB,
    );

    // Assert
    expect(allowedRule(decision)).toBe('developers-self');
  });

  it('refuses a proven developer access for another role through self-service: NOT_SELF', () => {
    // Act
    const rejection = denied(
      evaluateGrant(
        shipped,
        grant({ principalArn: role('dev-alice'), source: 'com.example.self-service' }),
        DEV_BOB,
      ),
    );

    // Assert
    expect(rejection).toEqual({
      code: 'NOT_SELF',
      field: 'detail.principalArn',
      reason: `rule developers-self allows AmazonEKSViewPolicy on cluster demo only to the requester: ${session('dev-bob', 'bob')} was proven, not ${role('dev-alice')}`,
    });
  });

  it('refuses break-glass admin for another on-call role than the proven one', () => {
    // Act
    const rejection = denied(
      evaluateGrant(shipped, breakGlassAdmin({ principalArn: role('oncall-bob') }), ONCALL_ALICE),
    );

    // Assert
    expect(rejection.code).toBe('NOT_SELF');
  });

  it('lets on-call ask view or edit for another role, as its ceiling includes developers-view-edit', () => {
    // Act
    const decision = evaluateGrant(
      shipped,
      grant({ principalArn: role('developer'), source: 'com.example.oncall' }),
      ONCALL_ALICE,
    );

    // Assert
    expect(allowedRule(decision)).toBe('developers-view-edit');
  });

  it('throws on a caller whose integration the rules do not have: a bug, not a refusal', () => {
    // Arrange
    const ghost: Caller = { integration: 'ghost', sender: role('ghost') };

    // Act
    const decide = () => evaluateGrant(shipped, grant(), ghost);

    // Assert
    expect(decide).toThrow(`caller's integration "ghost" is not in ${shipped.origin}`);
  });
});

describe('proof and self on rules, through an asserted integration', () => {
  const rules = loadRulesYaml(
    `
version: 2
clusters: [{ name: demo, region: us-east-1, accountId: '111122223333' }]
integrations:
  - id: bot
    principals: ['arn:aws:iam::111122223333:role/bot']
    sources: [com.example.ticketing]
    rules: [proven-edit, self-admin, view]
    requestedBy: asserted
rules:
  - id: proven-edit
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [AmazonEKSEditPolicy]
    clusterScope: true
    maxDurationSeconds: 3600
    requireProof: true
  - id: self-admin
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [AmazonEKSAdminPolicy]
    clusterScope: true
    maxDurationSeconds: 3600
    requireProof: true
    self: true
  - id: view
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [AmazonEKSViewPolicy, AmazonEKSEditPolicy]
    namespaces: ['team-*']
    maxDurationSeconds: 3600
`,
    'proof.yaml',
  );
  const bot: Caller = { integration: 'bot', sender: role('bot') };
  const edit = (overrides: Partial<GrantRequest> = {}) =>
    grant({ policyArn: policy('AmazonEKSEditPolicy'), accessScope: { type: 'cluster' }, ...overrides });

  it('refuses a rule that requires proof to a request without one: PROOF_REQUIRED', () => {
    expect(denied(evaluateGrant(rules, edit(), bot))).toEqual({
      code: 'PROOF_REQUIRED',
      reason: `rule proven-edit allows AmazonEKSEditPolicy for ${role('developer')} on cluster demo only with the requester's proof (a presigned sts:GetCallerIdentity)`,
    });
  });

  it('allows it when the request carries a proof, for anyone when the rule is not self', () => {
    expect(allowedRule(evaluateGrant(rules, edit(), { ...bot, proven: session('someone-else') }))).toBe(
      'proven-edit',
    );
  });

  it('falls through to a later rule of the ceiling that needs no proof', () => {
    // Act
    const decision = evaluateGrant(
      rules,
      edit({ accessScope: { type: 'namespace', namespaces: ['team-a'] } }),
      bot,
    );

    // Assert
    expect(allowedRule(decision)).toBe('view');
  });

  it.each([
    ['without a proof', undefined, 'PROOF_REQUIRED'],
    ['proven as another role', session('someone-else'), 'NOT_SELF'],
  ])('refuses a self rule %s', (_label, proven, code) => {
    // Arrange
    const caller: Caller = proven === undefined ? bot : { ...bot, proven };

    // Act
    const rejection = denied(
      evaluateGrant(rules, edit({ policyArn: policy('AmazonEKSAdminPolicy') }), caller),
    );

    // Assert
    expect(rejection.code).toBe(code);
  });

  it('allows a self rule to the proven requester', () => {
    // Act
    const decision = evaluateGrant(rules, edit({ policyArn: policy('AmazonEKSAdminPolicy') }), {
      ...bot,
      proven: session('developer'),
    });

    // Assert
    expect(allowedRule(decision)).toBe('self-admin');
  });

  it('explains a duration miss before a proof miss: the closest miss is still the furthest stage', () => {
    // Act
    const rejection = denied(evaluateGrant(rules, edit({ durationSeconds: 7200 }), bot));

    // Assert
    expect(rejection.code).toBe('DURATION_TOO_LONG');
  });
});

describe('listsCaller', () => {
  const oncall: Integration = {
    id: 'oncall',
    principals: ['arn:aws:iam::111122223333:role/oncall-*', 'arn:aws:iam::111122223333:user/ops/carol'],
    sources: ['com.example.oncall'],
    queue: false,
    rules: [],
    breakGlass: true,
    requestedBy: 'proven',
  };

  it('lists a session of a matching role, whatever its session name and however the role glob has a path', () => {
    expect(listsCaller(oncall, 'arn:aws:sts::111122223333:assumed-role/oncall-alice/laptop')).toBe(true);
    expect(
      listsCaller(
        { ...oncall, principals: ['arn:aws:iam::111122223333:role/people/oncall-*'] },
        'arn:aws:sts::111122223333:assumed-role/oncall-alice/laptop',
      ),
    ).toBe(true);
  });

  it('does not list another role, another account, another partition, or a user it does not name', () => {
    expect(listsCaller(oncall, 'arn:aws:sts::111122223333:assumed-role/intruder/intruder')).toBe(false);
    expect(listsCaller(oncall, 'arn:aws:sts::444455556666:assumed-role/oncall-alice/laptop')).toBe(false);
    expect(listsCaller(oncall, 'arn:aws-cn:sts::111122223333:assumed-role/oncall-alice/laptop')).toBe(false);
    expect(listsCaller(oncall, 'arn:aws:iam::111122223333:user/ops/dave')).toBe(false);
  });

  it('lists an IAM user it names', () => {
    expect(listsCaller(oncall, 'arn:aws:iam::111122223333:user/ops/carol')).toBe(true);
  });
});

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadRulesFile } from '../../functions/config/access-rules-file';
import { compileRules, loadRulesYaml, readRulesYaml } from '../../functions/config/access-rules-yaml';
import { parseRequest } from '../../functions/core/contract';
import { ConfigurationError } from '../../functions/core/errors';
import { globMatch, namespaceCovered } from '../../functions/core/glob';
import { integrationOfSource } from '../../functions/core/integrations';
import type { Caller, GrantRequest, Rejection } from '../../functions/core/model';
import { clusterConfig, type Decision, evaluateGrant } from '../../functions/core/rule-decision';
import { type AccessRules, validateRules } from '../../functions/core/rules';

const RULES_PATH = fileURLToPath(new URL('../../infra/access-rules.yaml', import.meta.url));
const shipped = readRulesYaml(RULES_PATH);

const ACCOUNT = '111122223333';
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const policy = (name: string) => `arn:aws:eks::aws:cluster-access-policy/${name}`;
const BREAK_GLASS_REASON = 'INC-42: API servers down, need admin to inspect webhooks';
/** The ticketing integration's role sending on the queue: asserted, no proof. */
const TICKETING: Caller = { integration: 'ticketing', sender: role('ticketing-integration') };
/** On-call alice's own break-glass command, proven by STS. */
const ONCALL_ALICE: Caller = {
  integration: 'oncall',
  sender: `${ACCOUNT}:com.example.oncall`,
  proven: `arn:aws:sts::${ACCOUNT}:assumed-role/oncall-alice/alice`,
};
/** The integration of the minimal file VALID. */
const APP: Caller = { integration: 'app', sender: role('app') };

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

const VALID = `
version: 2
clusters:
  - name: demo
    region: us-east-1
    accountId: '111122223333'
breakGlass:
  minReasonLength: 20
  maxDurationSeconds: 3600
integrations:
  - id: app
    principals: ['arn:aws:iam::111122223333:role/app']
    sources: [com.example.ticketing]
    rules: [view]
    requestedBy: asserted
rules:
  - id: view
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [AmazonEKSViewPolicy]
    namespaces: ['*']
    maxDurationSeconds: 3600
`;

/** VALID with `yaml` (YAML text of list items) added to its integrations. */
const withIntegration = (yaml: string) => VALID.replace('\nrules:\n', `\n${yaml}rules:\n`);

/** VALID with its single rule replaced by `rules` (YAML text of the list items), all in the app's ceiling. */
const withRules = (rules: string) => {
  const ids = [...rules.matchAll(/- id: (\S+)/g)].map((match) => match[1]);
  const head = VALID.slice(0, VALID.indexOf('\nrules:') + 1).replace(
    'rules: [view]',
    `rules: [${ids.join(', ')}]`,
  );
  return `${head}rules:\n${rules}`;
};

describe('the shipped infra/access-rules.yaml', () => {
  it('loads, deeply frozen, with its origin', () => {
    // Assert
    expect(shipped.origin).toBe(RULES_PATH);
    expect(shipped.sources).toEqual([
      'com.example.ticketing',
      'com.example.oncall',
      'com.example.self-service',
    ]);
    expect(shipped.integrations.map((integration) => integration.id)).toEqual([
      'ticketing',
      'oncall',
      'self-service',
      'jira',
      'pagerduty',
    ]);
    expect(shipped.clusters).toEqual([
      { name: 'demo', region: 'us-east-1', accountId: ACCOUNT, partition: 'aws' },
    ]);
    expect(Object.isFrozen(shipped)).toBe(true);
    expect(Object.isFrozen(shipped.rules[0]?.principals)).toBe(true);
  });

  it.each([
    ['AmazonEKSViewPolicy', { type: 'namespace', namespaces: ['team-a', 'team-b'] }],
    ['AmazonEKSEditPolicy', { type: 'namespace', namespaces: ['anything-*'] }],
    ['AmazonEKSViewPolicy', { type: 'cluster' }],
    ['AmazonEKSEditPolicy', { type: 'cluster' }],
  ] as const)(
    'allows %s %j to any role of the account for up to 8 h through ticketing',
    (name, accessScope) => {
      // Act
      const decision = evaluateGrant(
        shipped,
        grant({
          policyArn: policy(name),
          accessScope,
          durationSeconds: 8 * 3600,
          principalArn: role('team/x/dev'),
        }),
        TICKETING,
      );

      // Assert
      expect(allowedRule(decision)).toBe('developers-view-edit');
      expect(decision).toMatchObject({
        maxDurationSeconds: 28800,
        cluster: { name: 'demo', accountId: ACCOUNT },
      });
    },
  );

  it('refuses view or edit beyond 8 h, naming the maximum', () => {
    // Act
    const rejection = denied(evaluateGrant(shipped, grant({ durationSeconds: 8 * 3600 + 1 }), TICKETING));

    // Assert
    expect(rejection).toMatchObject({ code: 'DURATION_TOO_LONG', field: 'detail.durationSeconds' });
    expect(rejection.reason).toMatch(/at most 28800 seconds \(8 h\)/);
  });

  it('declares the Jira and PagerDuty webhook integrations, which own no source and read each ticket back', () => {
    // Act
    const webhooks = shipped.integrations.filter((integration) => integration.webhook !== undefined);

    // Assert
    expect(
      webhooks.map(({ id, principals, sources, queue, requestedBy, webhook }) => ({
        id,
        principals,
        sources,
        queue,
        requestedBy,
        vendor: webhook?.vendor,
      })),
    ).toEqual([
      { id: 'jira', principals: [], sources: [], queue: false, requestedBy: 'read-back', vendor: 'jira' },
      {
        id: 'pagerduty',
        principals: [],
        sources: [],
        queue: false,
        requestedBy: 'read-back',
        vendor: 'pagerduty',
      },
    ]);
  });

  it('has one break-glass rule without proof, and only the PagerDuty integration may use it', () => {
    // Act
    const unproven = shipped.rules.filter((rule) => rule.breakGlassOnly && !rule.requireProof);
    const users = shipped.integrations.filter((integration) =>
      integration.rules.includes('pagerduty-break-glass-admin'),
    );

    // Assert
    expect(unproven).toEqual([
      {
        id: 'pagerduty-break-glass-admin',
        description: "A PagerDuty responder's own role may get cluster admin during an incident, up to 1 h.",
        clusters: ['demo'],
        principals: [role('oncall-*')],
        policies: ['AmazonEKSClusterAdminPolicy'],
        clusterScope: true,
        maxDurationSeconds: 3600,
        breakGlassOnly: true,
        requireProof: false,
        self: false,
      },
    ]);
    expect(users.map((integration) => integration.id)).toEqual(['pagerduty']);
  });

  it('refuses PROOF_REQUIRED a request of the Jira integration that the broker did not read back', () => {
    // Arrange: what the broker builds from an approved issue, under its own source.
    const request = grant({ source: 'eks-access-broker.webhooks', principalArn: role('dev-carol') });
    const webhook: Caller = { integration: 'jira', sender: role('eks-access-broker-local-webhook') };

    // Act
    const unread = evaluateGrant(shipped, request, webhook);
    const readBack = evaluateGrant(shipped, request, {
      ...webhook,
      readBack: { approvedBy: 'jira:acc-bob' },
    });

    // Assert
    expect(denied(unread)).toEqual({
      code: 'PROOF_REQUIRED',
      reason: 'integration jira acts only on tickets the broker read back from its vendor',
    });
    expect(allowedRule(readBack)).toBe('developers-view-edit');
  });

  it('allows cluster admin to a proven on-call role through break-glass, for up to 1 h', () => {
    // Act
    const decision = evaluateGrant(
      shipped,
      grant({
        principalArn: role('oncall-alice'),
        policyArn: policy('AmazonEKSClusterAdminPolicy'),
        accessScope: { type: 'cluster' },
        durationSeconds: 3600,
        breakGlass: true,
        reason: BREAK_GLASS_REASON,
        source: 'com.example.oncall',
      }),
      ONCALL_ALICE,
    );

    // Assert
    expect(allowedRule(decision)).toBe('oncall-break-glass-admin');
    expect(decision).toMatchObject({ maxDurationSeconds: 3600 });
  });

  it.each([
    ['as a normal request', { breakGlass: false }, 'BREAK_GLASS_REQUIRED', 'detail.breakGlass'],
    ['with a short reason', { reason: 'outage' }, 'BREAK_GLASS_REASON_REQUIRED', 'detail.reason'],
    ['for more than 1 h', { durationSeconds: 3601 }, 'DURATION_TOO_LONG', 'detail.durationSeconds'],
    [
      'namespaced',
      { accessScope: { type: 'namespace', namespaces: ['team-a'] } },
      'NOT_ALLOWED',
      'detail.accessScope',
    ],
    ['to a role that is not on call', { principalArn: role('developer') }, 'NOT_ALLOWED', undefined],
    ['to another on-call role', { principalArn: role('oncall-bob') }, 'NOT_SELF', 'detail.principalArn'],
  ] as const)('refuses cluster admin %s', (_label, overrides, code, field) => {
    // Arrange
    const request = grant({
      principalArn: role('oncall-alice'),
      policyArn: policy('AmazonEKSClusterAdminPolicy'),
      accessScope: { type: 'cluster' },
      breakGlass: true,
      reason: BREAK_GLASS_REASON,
      source: 'com.example.oncall',
      ...overrides,
    });

    // Act
    const rejection = denied(evaluateGrant(shipped, request, ONCALL_ALICE));

    // Assert
    expect(rejection.code).toBe(code);
    expect(rejection.field).toBe(field);
  });

  it('allows an on-call role the everyday policies as a normal request', () => {
    expect(
      allowedRule(evaluateGrant(shipped, grant({ principalArn: role('oncall-alice') }), TICKETING)),
    ).toBe('developers-view-edit');
  });

  it('refuses a break-glass request for a policy only normal rules allow', () => {
    // Arrange
    const request = grant({ breakGlass: true, reason: BREAK_GLASS_REASON, source: 'com.example.oncall' });

    // Act
    const rejection = denied(evaluateGrant(shipped, request, ONCALL_ALICE));

    // Assert
    expect(rejection).toMatchObject({ code: 'NOT_ALLOWED', field: 'detail.breakGlass' });
    expect(rejection.reason).toMatch(/developers-view-edit allows it as a normal request/);
  });

  it.each([
    ['a policy no rule names', { policyArn: policy('AmazonEKSAdminPolicy') }, 'AmazonEKSAdminPolicy'],
    ['a user', { principalArn: `arn:aws:iam::${ACCOUNT}:user/alice` }, 'AmazonEKSViewPolicy'],
    [
      'a role of another account',
      { principalArn: 'arn:aws:iam::444455556666:role/developer' },
      'AmazonEKSViewPolicy',
    ],
  ])('denies by default: %s', (_label, overrides, name) => {
    // Arrange
    const request = grant(overrides);

    // Act
    const rejection = denied(evaluateGrant(shipped, request, TICKETING));

    // Assert
    expect(rejection).toEqual({
      code: 'NOT_ALLOWED',
      reason: `no rule of integration ticketing allows ${name} for ${request.principalArn} on cluster demo`,
    });
  });

  it('allows the grant samples in events/ through the integration that owns their source, break-glass through on-call', () => {
    for (const name of ['grant-namespaced.json', 'grant-cluster.json', 'grant-break-glass.json']) {
      // Arrange
      const event: unknown = JSON.parse(
        readFileSync(new URL(`../../events/${name}`, import.meta.url), 'utf8'),
      );
      const parsed = parseRequest(event, { allowedSources: shipped.sources });
      if (!parsed.ok || parsed.request.kind !== 'grant') throw new Error(`${name} does not parse as a grant`);
      // Break-glass only comes through on-call, and only for the proven on-call engineer.
      const request = parsed.request.breakGlass
        ? { ...parsed.request, source: 'com.example.oncall' }
        : parsed.request;
      const integration = integrationOfSource(shipped, request.source);
      if (!integration) throw new Error(`${name}: no integration owns ${request.source}`);
      const caller: Caller = {
        integration: integration.id,
        sender: `${ACCOUNT}:${request.source}`,
        ...(integration.requestedBy === 'proven'
          ? { proven: `arn:aws:sts::${ACCOUNT}:assumed-role/${request.principalArn.split('/').at(-1)}/me` }
          : {}),
      };

      // Act
      const decision = evaluateGrant(shipped, request, caller);

      // Assert
      expect(decision.allowed, name).toBe(true);
    }
  });
});

describe('source and cluster', () => {
  it('refuses a source that no integration owns', () => {
    // Act
    const rejection = denied(evaluateGrant(shipped, grant({ source: 'com.example.other' }), TICKETING));

    // Assert
    expect(rejection).toEqual({
      code: 'SOURCE_NOT_ALLOWED',
      field: 'source',
      reason: 'source "com.example.other" is not allowed for integration ticketing',
    });
  });

  it('refuses a cluster that is not declared', () => {
    // Act
    const rejection = denied(evaluateGrant(shipped, grant({ clusterName: 'prod' }), TICKETING));

    // Assert
    expect(rejection).toMatchObject({ code: 'UNKNOWN_CLUSTER', field: 'detail.clusterName' });
    expect(clusterConfig(shipped, 'demo')?.region).toBe('us-east-1');
    expect(clusterConfig(shipped, 'prod')).toBeUndefined();
  });

  it('refuses ARNs of another partition than the cluster region', () => {
    // Arrange
    const rules = loadRulesYaml(
      VALID.replace('region: us-east-1', 'region: cn-north-1').replace(
        "'arn:aws:iam::111122223333:role/*'",
        "'arn:aws-cn:iam::111122223333:role/*'",
      ),
      'cn.yaml',
    );
    const cnPrincipal = 'arn:aws-cn:iam::111122223333:role/developer';

    // Act
    const barePolicy = denied(evaluateGrant(rules, grant({ principalArn: cnPrincipal }), APP));
    const awsPrincipal = denied(
      evaluateGrant(
        rules,
        grant({ policyArn: 'arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy' }),
        APP,
      ),
    );
    const allowed = evaluateGrant(
      rules,
      grant({
        principalArn: cnPrincipal,
        policyArn: 'arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
      }),
      APP,
    );

    // Assert
    expect(barePolicy).toMatchObject({ code: 'INVALID_FIELD', field: 'detail.policyArn' });
    expect(barePolicy.reason).toContain('arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy');
    expect(awsPrincipal).toMatchObject({ code: 'INVALID_FIELD', field: 'detail.principalArn' });
    expect(allowedRule(allowed)).toBe('view');
    expect(clusterConfig(rules, 'demo')?.partition).toBe('aws-cn');
  });
});

describe('rule matching', () => {
  it('takes the first rule in file order that allows the request', () => {
    // Arrange
    const rules = loadRulesYaml(
      withRules(`
  - id: first
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/dev*']
    policies: [AmazonEKSViewPolicy]
    namespaces: ['team-*']
    maxDurationSeconds: 600
  - id: second
    clusters: ['*']
    principals: ['arn:aws:iam::111122223333:*']
    policies: [arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy]
    namespaces: ['*']
    maxDurationSeconds: 7200
`),
      'order.yaml',
    );

    // Act
    const short = evaluateGrant(rules, grant({ durationSeconds: 600 }), APP);
    const long = evaluateGrant(rules, grant({ durationSeconds: 3600 }), APP);
    const tooLong = denied(evaluateGrant(rules, grant({ durationSeconds: 7201 }), APP));

    // Assert
    expect(allowedRule(short)).toBe('first');
    expect(allowedRule(long)).toBe('second');
    expect(tooLong.code).toBe('DURATION_TOO_LONG');
    expect(tooLong.reason).toMatch(/rule second .* at most 7200 seconds \(2 h\)/);
  });

  it('explains the closest miss: a scope refusal says what the rule offers', () => {
    // Arrange
    const rules = loadRulesYaml(
      withRules(`
  - id: teams
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [AmazonEKSViewPolicy]
    namespaces: ['team-*']
    maxDurationSeconds: 3600
`),
      'scope.yaml',
    );

    // Act
    const namespaced = denied(
      evaluateGrant(
        rules,
        grant({ accessScope: { type: 'namespace', namespaces: ['kube-system', 'team-a'] } }),
        APP,
      ),
    );
    const clusterWide = denied(evaluateGrant(rules, grant({ accessScope: { type: 'cluster' } }), APP));

    // Assert
    expect(namespaced).toMatchObject({ code: 'NOT_ALLOWED', field: 'detail.accessScope' });
    expect(namespaced.reason).toMatch(
      /in namespaces kube-system, team-a \(rule teams allows it only in namespaces matching team-\*\)/,
    );
    expect(clusterWide.reason).toMatch(/at cluster scope/);
  });

  it('matches principal globs across path segments', () => {
    // Arrange
    const rules = loadRulesYaml(
      withRules(`
  - id: sso
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Dev_*']
    policies: [AmazonEKSViewPolicy]
    clusterScope: true
    maxDurationSeconds: 3600
`),
      'sso.yaml',
    );
    const sso = role('aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Dev_0123abcd');

    // Act
    const allowed = evaluateGrant(rules, grant({ principalArn: sso, accessScope: { type: 'cluster' } }), APP);
    const other = evaluateGrant(
      rules,
      grant({ principalArn: role('AWSReservedSSO_Dev_x'), accessScope: { type: 'cluster' } }),
      APP,
    );

    // Assert
    expect(allowedRule(allowed)).toBe('sso');
    expect(denied(other).code).toBe('NOT_ALLOWED');
  });
});

describe('namespace coverage', () => {
  it.each([
    ['team-a', ['team-*'], true],
    ['team-a', ['team-b'], false],
    ['team-a', ['*'], true],
    ['dev-*', ['dev-*'], true],
    ['dev-*', ['d*'], true],
    ['dev-*', ['*'], true],
    ['dev-*', ['*-*'], true],
    ['dev-*', ['dev-a'], false],
    ['dev-*', ['dev-a*'], false],
    ['dev-*', ['dev-*-x'], false],
    ['dev-*', ['dev-a', 'dev-b'], false],
    ['*', ['dev-*'], false],
    ['*', ['*'], true],
  ])('%s within %j: %s', (requested, globs, covered) => {
    expect(namespaceCovered(requested, globs)).toBe(covered);
  });

  it('needs every requested namespace covered', () => {
    // Arrange
    const rules = loadRulesYaml(
      withRules(`
  - id: teams
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [AmazonEKSViewPolicy]
    namespaces: ['team-*', 'shared']
    maxDurationSeconds: 3600
`),
      'ns.yaml',
    );
    const scope = (...namespaces: string[]) => grant({ accessScope: { type: 'namespace', namespaces } });

    // Act / Assert
    expect(evaluateGrant(rules, scope('team-a', 'shared', 'team-*'), APP).allowed).toBe(true);
    expect(evaluateGrant(rules, scope('team-a', 'other'), APP).allowed).toBe(false);
    expect(evaluateGrant(rules, scope('t*'), APP).allowed).toBe(false);
  });

  it('matches globs without catastrophic backtracking', () => {
    // Arrange
    const pattern = `${'*a'.repeat(20)}*b`;
    const text = 'a'.repeat(2048);

    // Act
    const started = performance.now();
    const matched = globMatch(pattern, text);

    // Assert
    expect(matched).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(globMatch('arn:aws:iam::*:role/*', 'arn:aws:iam::111122223333:role/a/b/c')).toBe(true);
    expect(globMatch('de*', 'demo')).toBe(true);
    expect(globMatch('demo', 'demo-2')).toBe(false);
  });
});

describe('loadRulesYaml', () => {
  it('loads a minimal valid file with defaults', () => {
    // Act
    const rules: AccessRules = loadRulesYaml(VALID, 'valid.yaml');

    // Assert
    expect(rules.rules).toEqual([
      {
        id: 'view',
        clusters: ['demo'],
        principals: ['arn:aws:iam::111122223333:role/*'],
        policies: ['AmazonEKSViewPolicy'],
        namespaces: ['*'],
        clusterScope: false,
        maxDurationSeconds: 3600,
        breakGlassOnly: false,
        requireProof: false,
        self: false,
      },
    ]);
    expect(rules.integrations).toEqual([
      {
        id: 'app',
        principals: ['arn:aws:iam::111122223333:role/app'],
        sources: ['com.example.ticketing'],
        queue: false,
        rules: ['view'],
        breakGlass: false,
        requestedBy: 'asserted',
      },
    ]);
    expect(rules.sources).toEqual(['com.example.ticketing']);
    expect(rules.breakGlass).toEqual({ minReasonLength: 20, maxDurationSeconds: 3600 });
  });

  it('accepts a file without rules, which denies everything', () => {
    // Act
    const rules = loadRulesYaml(
      `${VALID.slice(0, VALID.indexOf('\nrules:')).replace('rules: [view]', 'rules: []')}\nrules: []\n`,
      'empty.yaml',
    );

    // Assert
    expect(denied(evaluateGrant(rules, grant(), APP)).code).toBe('NOT_ALLOWED');
  });

  it.each([
    [
      'an unknown top-level key',
      VALID.replace('version: 2', 'version: 2\nowner: platform'),
      'owner: unknown field',
    ],
    ['the wrong version', VALID.replace('version: 2', 'version: 3'), 'version: must be 2'],
    [
      'a missing clusters list',
      VALID.replace(/clusters:\n {2}- name: demo\n.*\n.*\n/, ''),
      'clusters: is required',
    ],
    [
      'an unknown cluster key',
      VALID.replace('region: us-east-1', 'region: us-east-1\n    zone: a'),
      'clusters[0].zone: unknown field',
    ],
    [
      'an unquoted account id',
      VALID.replace("accountId: '111122223333'", 'accountId: 111122223333'),
      /^clusters\[0\]\.accountId: must be a quoted string/,
    ],
    ['a bad region', VALID.replace('region: us-east-1', 'region: Virginia'), /^clusters\[0\]\.region: /],
    [
      'a duplicate cluster name',
      VALID.replace(
        'breakGlass:',
        "  - name: demo\n    region: eu-west-1\n    accountId: '444455556666'\nbreakGlass:",
      ),
      'clusters[1].name: duplicate cluster name "demo" (also at clusters[0].name)',
    ],
    [
      'a cross-account role that is not a role',
      VALID.replace(
        "accountId: '111122223333'",
        "accountId: '111122223333'\n    roleArn: arn:aws:iam::444455556666:user/x",
      ),
      'clusters[0].roleArn: must be an IAM role ARN',
    ],
    [
      'an unknown rule key',
      VALID.replace("namespaces: ['*']", "namespaces: ['*']\n    ttl: 5"),
      'rules[0].ttl: unknown field',
    ],
    [
      'a bad type',
      VALID.replace("namespaces: ['*']", "namespaces: ['*']\n    clusterScope: 'yes'"),
      /^rules\[0\]\.clusterScope: .*expected boolean/,
    ],
    [
      'an unknown policy',
      VALID.replace('[AmazonEKSViewPolicy]', '[AmazonEKSViewPolicy, AmazonEKSViewerPolicy]'),
      /^rules\[0\]\.policies\[1\]: unknown access policy 'AmazonEKSViewerPolicy'/,
    ],
    [
      'a policy that is not for people',
      VALID.replace('[AmazonEKSViewPolicy]', '[AmazonEKSAutoNodePolicy]'),
      /^rules\[0\]\.policies\[0\]: AmazonEKSAutoNodePolicy is an AWS-managed policy for nodes/,
    ],
    [
      'an undeclared cluster',
      VALID.replace('clusters: [demo]', 'clusters: [demo, prod]'),
      'rules[0].clusters[1]: cluster "prod" is not declared under clusters',
    ],
    [
      'a glob matching no cluster',
      VALID.replace('clusters: [demo]', "clusters: ['prod-*']"),
      'rules[0].clusters[0]: glob "prod-*" matches no declared cluster',
    ],
    [
      'an STS principal glob',
      VALID.replace("'arn:aws:iam::111122223333:role/*'", "'arn:aws:sts::111122223333:assumed-role/*'"),
      /^rules\[0\]\.principals\[0\]: STS session ARNs never match/,
    ],
    [
      'a bare * principal',
      VALID.replace("'arn:aws:iam::111122223333:role/*'", "'*'"),
      /^rules\[0\]\.principals\[0\]: must be an IAM role or user ARN/,
    ],
    [
      'a malformed literal principal',
      VALID.replace("'arn:aws:iam::111122223333:role/*'", "'arn:aws:iam::1111:role/dev'"),
      'rules[0].principals[0]: is malformed: the account id must be 12 digits',
    ],
    [
      'an empty namespace list',
      VALID.replace("namespaces: ['*']", 'namespaces: []'),
      /^rules\[0\]\.namespaces: must list at least one/,
    ],
    [
      'a bad namespace glob',
      VALID.replace("namespaces: ['*']", "namespaces: ['Team_*']"),
      /^rules\[0\]\.namespaces\[0\]: is not a namespace glob/,
    ],
    [
      'a rule that grants nothing',
      VALID.replace("    namespaces: ['*']\n", ''),
      'rules[0]: grants nothing: set clusterScope: true, or list namespaces',
    ],
    [
      'a duration beyond 7 days',
      VALID.replace(/maxDurationSeconds: 3600\n$/, 'maxDurationSeconds: 604801\n'),
      'rules[0].maxDurationSeconds: must be at most 604800',
    ],
    [
      'a breakGlassOnly rule above the break-glass cap',
      VALID.replace(/maxDurationSeconds: 3600\n$/, 'maxDurationSeconds: 7200\n    breakGlassOnly: true\n'),
      'rules[0].maxDurationSeconds: 7200 is above breakGlass.maxDurationSeconds (3600) for a breakGlassOnly rule',
    ],
    [
      'a breakGlassOnly rule without a breakGlass section',
      VALID.replace(/breakGlass:\n.*\n.*\n/, '').replace(
        /maxDurationSeconds: 3600\n$/,
        'maxDurationSeconds: 600\n    breakGlassOnly: true\n',
      ),
      /^rules\[0\]\.breakGlassOnly: a breakGlassOnly rule needs the breakGlass section/,
    ],
    [
      'the broker own source',
      VALID.replace('[com.example.ticketing]', '[eks-access-broker]'),
      "integrations[0].sources[0]: eks-access-broker is the broker's own source",
    ],
    [
      'an AWS source',
      VALID.replace('[com.example.ticketing]', '[aws.events]'),
      'integrations[0].sources[0]: aws.* sources are reserved for AWS services',
    ],
    [
      'a duplicate source',
      VALID.replace('[com.example.ticketing]', '[a.b, a.b]'),
      'integrations[0].sources[1]: duplicate source "a.b" (also at integrations[0].sources[0])',
    ],
    [
      'a bad breakGlass value',
      VALID.replace('minReasonLength: 20', 'minReasonLength: 0'),
      'breakGlass.minReasonLength: must be at least 1',
    ],
    [
      'a missing integrations list',
      VALID.replace(/integrations:\n(?: {2}.*\n)+/, ''),
      'integrations: is required',
    ],
    [
      'an empty integrations list',
      VALID.replace(/integrations:\n(?: {2}.*\n)+/, 'integrations: []\n'),
      'integrations: must list at least one integration',
    ],
    [
      'top-level sources in version 2',
      VALID.replace('version: 2', 'version: 2\nsources: [com.example.ticketing]'),
      'sources: unknown field: in version 2 each integration lists the sources it owns',
    ],
    [
      'an unknown integration key',
      VALID.replace('requestedBy: asserted', 'requestedBy: asserted\n    channel: sqs'),
      'integrations[0].channel: unknown field',
    ],
    [
      'a bad integration id',
      VALID.replace('- id: app', '- id: -app'),
      'integrations[0].id: must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit',
    ],
    [
      'a missing requestedBy',
      VALID.replace('    requestedBy: asserted\n', ''),
      'integrations[0].requestedBy: is required',
    ],
    [
      'an unknown requestedBy',
      VALID.replace('requestedBy: asserted', 'requestedBy: trusted'),
      "integrations[0].requestedBy: must be asserted (a system relaying its user), proven (every request carries the requester's STS proof) or read-back (a webhook integration: the broker reads the ticket back)",
    ],
    [
      'an integration without sources',
      VALID.replace('sources: [com.example.ticketing]', 'sources: []'),
      'integrations[0].sources: must list at least one source',
    ],
    [
      'an integration without principals',
      VALID.replace("principals: ['arn:aws:iam::111122223333:role/app']", 'principals: []'),
      /^integrations\[0\]\.principals: /,
    ],
    [
      'an STS principal of an integration',
      VALID.replace('role/app', 'assumed-role/app/x').replace(
        ':iam::111122223333:assumed',
        ':sts::111122223333:assumed',
      ),
      /^integrations\[0\]\.principals\[0\]: STS session ARNs never match/,
    ],
    [
      'an integration principal without its account',
      VALID.replace('iam::111122223333:role/app', 'iam::*:role/app'),
      'integrations[0].principals[0]: must name its account (12 digits, no *): the broker checks that an event comes from the account of its integration',
    ],
    [
      'a glob principal of an integration that uses the queue',
      VALID.replace('role/app', 'role/app-*').replace(
        'requestedBy: asserted',
        'requestedBy: asserted\n    queue: true',
      ),
      "integrations[0].principals[0]: must be an exact ARN, without *, because the integration uses the queue: the broker resolves a queue message's sender by its exact role",
    ],
    [
      'a ceiling naming an undeclared rule',
      VALID.replace('rules: [view]', 'rules: [view, edit]'),
      'integrations[0].rules[1]: rule "edit" is not declared under rules',
    ],
    [
      'a ceiling naming a rule twice',
      VALID.replace('rules: [view]', 'rules: [view, view]'),
      'integrations[0].rules[1]: duplicate rule "view" (also at integrations[0].rules[0])',
    ],
    [
      'a duplicate integration id',
      withIntegration(
        "  - id: app\n    principals: ['arn:aws:iam::111122223333:role/b']\n    sources: [b]\n    rules: []\n    requestedBy: proven\n",
      ),
      'integrations[1].id: duplicate integration id "app" (also at integrations[0].id)',
    ],
    [
      'a source owned by two integrations',
      withIntegration(
        "  - id: other\n    principals: ['arn:aws:iam::111122223333:role/b']\n    sources: [b, com.example.ticketing]\n    rules: []\n    requestedBy: proven\n",
      ),
      'integrations[1].sources[1]: duplicate source "com.example.ticketing" (also at integrations[0].sources[0])',
    ],
    [
      'a self rule that does not require proof',
      VALID.replace(
        /maxDurationSeconds: 3600\n$/,
        'maxDurationSeconds: 600\n    breakGlassOnly: true\n    requireProof: false\n',
      ),
      'rules[0].self: a self rule needs requireProof: only a proven requester can be compared with the beneficiary (set requireProof: true, or self: false)',
    ],
    [
      'a bad requireProof',
      VALID.replace(/maxDurationSeconds: 3600\n$/, "maxDurationSeconds: 3600\n    requireProof: 'yes'\n"),
      /^rules\[0\]\.requireProof: .*expected boolean/,
    ],
  ])('reports %s with its path', (_label, yamlText, expected) => {
    // Act
    const problems = problemsOf(yamlText);

    // Assert
    if (typeof expected === 'string') expect(problems).toContain(expected);
    else
      expect(
        problems.some((problem) => expected.test(problem)),
        problems.join('\n'),
      ).toBe(true);
  });

  it('refuses a version 1 file with one problem that says how to migrate', () => {
    // Arrange
    const version1 = `
version: 1
sources: [com.example.ticketing]
clusters:
  - name: demo
    region: us-east-1
    accountId: 111122223333
rules:
  - id: view
    clusters: [demo]
    principals: ['*']
    policies: [AmazonEKSViewPolicy]
    maxDurationSeconds: 3600
`;

    // Act
    const problems = problemsOf(version1);

    // Assert
    expect(problems).toEqual([
      'version: version 1 is no longer read: set version: 2 and replace the top-level sources with an integrations list, one entry per producer of requests (id, principals: the IAM roles that send for it, sources: move yours here, rules: the rule ids it may use, requestedBy: asserted or proven; optional queue, breakGlass, description); see infra/access-rules.yaml and functions/core/rules.ts',
    ]);
  });

  it('defaults requireProof and self to breakGlassOnly, and keeps what a rule sets', () => {
    // Arrange
    const yamlText = withRules(`
  - id: break-glass
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [AmazonEKSClusterAdminPolicy]
    clusterScope: true
    maxDurationSeconds: 600
    breakGlassOnly: true
  - id: break-glass-for-others
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [AmazonEKSClusterAdminPolicy]
    clusterScope: true
    maxDurationSeconds: 600
    breakGlassOnly: true
    self: false
  - id: proven-view
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [AmazonEKSViewPolicy]
    clusterScope: true
    maxDurationSeconds: 600
    requireProof: true
`);

    // Act
    const rules = loadRulesYaml(yamlText, 'defaults.yaml');

    // Assert
    expect(rules.rules.map(({ id, requireProof, self }) => ({ id, requireProof, self }))).toEqual([
      { id: 'break-glass', requireProof: true, self: true },
      { id: 'break-glass-for-others', requireProof: true, self: false },
      { id: 'proven-view', requireProof: true, self: false },
    ]);
  });

  it('accepts an integration with an empty ceiling, which refuses every grant it sends', () => {
    // Act
    const rules = loadRulesYaml(VALID.replace('rules: [view]', 'rules: []'), 'frozen.yaml');

    // Assert
    expect(denied(evaluateGrant(rules, grant(), APP))).toEqual({
      code: 'NOT_ALLOWED',
      reason: `no rule of integration app allows AmazonEKSViewPolicy for ${role('developer')} on cluster demo`,
    });
  });

  it('reports a duplicate rule id', () => {
    // Arrange
    const rule = VALID.slice(VALID.indexOf('  - id: view'));

    // Act
    const problems = problemsOf(`${VALID}${rule}`);

    // Assert
    expect(problems).toEqual(['rules[1].id: duplicate rule id "view" (also at rules[0].id)']);
  });

  it('lists every problem at once, including those of entries that have other problems', () => {
    // Arrange
    const yamlText = `
version: 2
clusters:
  - name: demo
    region: us-east-1
    accountId: 111122223333
integrations:
  - id: app
    principals: ['arn:aws:iam::111122223333:role/app*']
    sources: [com.example.ticketing]
    queue: true
    rules: [a, b]
    requestedBy: asserted
rules:
  - id: a
    clusters: [demo, prod]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [Foo]
    clusterScope: true
    maxDurationSeconds: 60
  - id: a
    clusters: [demo]
    principals: ['arn:aws:iam::111122223333:role/*']
    policies: [AmazonEKSViewPolicy]
    clusterScope: true
    maxDurationSeconds: 60
    breakGlassOnly: true
`;

    // Act
    const problems = problemsOf(yamlText);

    // Assert
    expect(problems).toEqual([
      expect.stringMatching(/^clusters\[0\]\.accountId: must be a quoted string/),
      expect.stringMatching(/^rules\[0\]\.policies\[0\]: unknown access policy 'Foo'/),
      'rules[0].clusters[1]: cluster "prod" is not declared under clusters',
      expect.stringMatching(
        /^rules\[1\]\.breakGlassOnly: a breakGlassOnly rule needs the breakGlass section/,
      ),
      'rules[1].id: duplicate rule id "a" (also at rules[0].id)',
      "integrations[0].principals[0]: must be an exact ARN, without *, because the integration uses the queue: the broker resolves a queue message's sender by its exact role",
      'integrations[0].rules[1]: rule "b" is not declared under rules',
    ]);
  });

  it.each([
    ['a YAML syntax error', 'version: 2\nclusters: [a\n', /test\.yaml/],
    ['a duplicate YAML key', `${VALID}version: 2\n`, /Map keys must be unique/],
    ['a list instead of a mapping', '- 1\n- 2\n', /must be a mapping/],
    ['an empty file', '', /must be a mapping/],
    ['an unknown YAML tag', `${VALID}extra: !!js/function 'x'\n`, /Unresolved tag/],
  ])('refuses %s with a ConfigurationError naming the origin', (_label, yamlText, message) => {
    // Act
    const load = () => loadRulesYaml(yamlText, 'test.yaml');

    // Assert
    expect(load).toThrow(ConfigurationError);
    expect(load).toThrow(message);
    expect(load).toThrow(/invalid access rules in test\.yaml/);
  });

  it('names the path when the file cannot be read', () => {
    // Act
    const load = () => loadRulesFile('/nonexistent/access-rules.yaml');

    // Assert
    expect(load).toThrow(ConfigurationError);
    expect(load).toThrow(/cannot read access rules file \/nonexistent\/access-rules\.yaml/);
  });

  it('does not let YAML keys reach the prototype chain', () => {
    // Act
    const problems = problemsOf(VALID.replace('version: 2', 'version: 2\n__proto__:\n  polluted: true'));

    // Assert
    expect(problems).toEqual(['__proto__: unknown field']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('the compiled rules the functions load', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'eks-access-broker-rules-test-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('compiles the YAML file to JSON that loads as the same rules', () => {
    // Arrange
    const target = join(dir, 'nested', 'access-rules.json');

    // Act
    const compiled = compileRules(RULES_PATH, target);
    const loaded = loadRulesFile(target);

    // Assert
    const { origin: _a, ...fromYaml } = shipped;
    const { origin: _b, ...fromCompile } = compiled;
    const { origin: loadedOrigin, ...fromJson } = loaded;
    expect(fromCompile).toEqual(fromYaml);
    expect(fromJson).toEqual(fromYaml);
    expect(loadedOrigin).toBe(target);
    expect(Object.isFrozen(loaded.rules[0])).toBe(true);
  });

  it('refuses an invalid rules file at compile time and writes nothing', () => {
    // Arrange
    const source = join(dir, 'bad.yaml');
    writeFileSync(source, VALID.replace('AmazonEKSViewPolicy', 'AmazonEKSNoSuchPolicy'));
    const target = join(dir, 'access-rules.json');

    // Act
    const compile = () => compileRules(source, target);

    // Assert
    expect(compile).toThrow(ConfigurationError);
    expect(compile).toThrow(/rules\[0\]\.policies\[0\]: unknown access policy/);
    expect(existsSync(target)).toBe(false);
  });

  it('validates a JSON document at load time as strictly as the YAML', () => {
    // Arrange
    const file = join(dir, 'access-rules.json');
    const document = JSON.parse(JSON.stringify(readRulesDocument()));
    document.rules[0].maxDurationSeconds = 0;
    document.surprise = true;
    writeFileSync(file, JSON.stringify(document));

    // Act
    const load = () => loadRulesFile(file);

    // Assert
    expect(load).toThrow(ConfigurationError);
    expect(load).toThrow(`invalid access rules in ${file} (2 problems)`);
    expect(load).toThrow(/surprise: unknown field/);
    expect(load).toThrow(/rules\[0\]\.maxDurationSeconds/);
  });

  it('says the functions need the compiled JSON when pointed at the YAML file', () => {
    // Act
    const load = () => loadRulesFile(RULES_PATH);

    // Assert
    expect(load).toThrow(ConfigurationError);
    expect(load).toThrow(
      /not a JSON document \(the functions read the JSON compiled from the YAML rules file/,
    );
  });

  it('validates plain data whatever text it came from', () => {
    // Act
    const rules = validateRules(readRulesDocument(), 'memory');

    // Assert
    expect(rules.origin).toBe('memory');
    expect(rules.rules.map((rule) => rule.id)).toEqual(shipped.rules.map((rule) => rule.id));
  });

  /** The shipped rules file as plain data, compiled the way packaging compiles it. */
  function readRulesDocument(): { rules: Record<string, unknown>[] } & Record<string, unknown> {
    const target = join(dir, 'document.json');
    compileRules(RULES_PATH, target);
    return JSON.parse(readFileSync(target, 'utf8'));
  }
});

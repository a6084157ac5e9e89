import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GRANTABLE_POLICY_NAMES, normalizePolicyArn, policyName } from '../../functions/core/access-policies';
import {
  contractJsonSchema,
  DETAIL_TYPES,
  MAX_BODY_LENGTH,
  type ParseResult,
  parseRequest,
  parseSqsBody,
} from '../../functions/core/contract';
import type { BrokerRequest, GrantRequest, Rejection } from '../../functions/core/model';

const OPTIONS = { allowedSources: ['com.example.ticketing', 'com.example.oncall'] } as const;
const EVENTS = new URL('../../events/', import.meta.url);

const readJson = (path: string): unknown => JSON.parse(readFileSync(new URL(path, EVENTS), 'utf8'));

interface EventBridgeSample {
  source: string;
  'detail-type': string;
  account: string;
  detail: Record<string, unknown>;
}
interface SqsSample {
  Records: { body: string }[];
}

const sample = (name: string) => readJson(name) as EventBridgeSample;

function grantDetail(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    requestId: 'TEST-1:grant',
    clusterName: 'demo',
    principalArn: 'arn:aws:iam::111122223333:role/developer',
    policyArn: 'AmazonEKSViewPolicy',
    accessScope: { type: 'namespace', namespaces: ['team-a'] },
    durationSeconds: 3600,
    requestedBy: 'alice@example.com',
    reason: 'Look at the team-a deployments',
    ...overrides,
  };
}

const envelope = (detail: unknown, detailType: string = DETAIL_TYPES.grant) => ({
  source: 'com.example.ticketing',
  'detail-type': detailType,
  detail,
});

const parseGrant = (overrides: Record<string, unknown> = {}) =>
  parseRequest(envelope(grantDetail(overrides)), OPTIONS);

function accepted(result: ParseResult): BrokerRequest {
  if (!result.ok) throw new Error(`expected the request to parse, got ${JSON.stringify(result.rejection)}`);
  return result.request;
}

function acceptedGrant(result: ParseResult): GrantRequest {
  const request = accepted(result);
  if (request.kind !== 'grant') throw new Error(`expected a grant, got ${request.kind}`);
  return request;
}

function refused(result: ParseResult): Rejection {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.request)}`);
  return result.rejection;
}

describe('sample events', () => {
  it('parses every valid sample into the request it describes', () => {
    // Arrange
    const names = [
      'grant-namespaced.json',
      'grant-cluster.json',
      'grant-break-glass.json',
      'revoke.json',
      'extend.json',
    ];

    // Act
    const requests = names.map((name) => accepted(parseRequest(sample(name), OPTIONS)));

    // Assert
    expect(requests.map((request) => request.kind)).toEqual(['grant', 'grant', 'grant', 'revoke', 'extend']);
    const [namespaced, cluster, breakGlass] = requests as GrantRequest[];
    expect(namespaced).toMatchObject({
      policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy',
      accessScope: { type: 'namespace', namespaces: ['team-a', 'team-b'] },
      breakGlass: false,
      source: 'com.example.ticketing',
      ticket: { system: 'jira', key: 'OPS-1234', url: 'https://example.atlassian.net/browse/OPS-1234' },
    });
    expect(cluster?.accessScope).toEqual({ type: 'cluster' });
    expect(breakGlass).toMatchObject({
      principalArn: 'arn:aws:iam::111122223333:role/oncall-alice',
      policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy',
      breakGlass: true,
    });
  });

  it('keeps the conventions integrators rely on: the ticketing source (break-glass: on-call), cluster demo, account 111122223333', () => {
    // Arrange
    const files = [
      'grant-namespaced.json',
      'grant-cluster.json',
      'grant-break-glass.json',
      'revoke.json',
      'extend.json',
    ];
    const invalid = readdirSync(new URL('invalid/', EVENTS)).filter((name) => name !== 'expected.json');
    const events = [...files, ...invalid.map((name) => `invalid/${name}`)].map(sample);

    // Act
    const sources = new Set(events.map((event) => event.source));
    const accounts = new Set(events.map((event) => event.account));
    const clusters = new Set(events.flatMap((event) => event.detail?.clusterName ?? []));

    // Assert
    // Break-glass comes only through the on-call integration (infra/access-rules.yaml).
    expect([...sources]).toEqual(['com.example.ticketing', 'com.example.oncall']);
    expect([...accounts]).toEqual(['111122223333']);
    expect([...clusters]).toEqual(['demo']);
  });

  it('gives every grant sample its own requestId, and points revoke and extend at the namespaced grant', () => {
    // Arrange
    const grants = ['grant-namespaced.json', 'grant-cluster.json', 'grant-break-glass.json'].map(sample);
    const batch = readJson('sqs-batch.json') as SqsSample;
    const batchIds = batch.Records.map(
      (record) => (JSON.parse(record.body) as EventBridgeSample).detail.requestId,
    );

    // Act
    const ids = [...grants.map((event) => event.detail.requestId), ...batchIds];

    // Assert
    expect(new Set(ids).size).toBe(ids.length);
    expect(sample('revoke.json').detail.requestId).toBe(grants[0]?.detail.requestId);
    expect(sample('extend.json').detail.requestId).toBe(grants[0]?.detail.requestId);
  });

  it('parses the SQS batch: the first body is a good grant, the second is refused but still correlated', () => {
    // Arrange
    const batch = readJson('sqs-batch.json') as SqsSample;

    // Act
    const [good, bad] = batch.Records.map((record) => parseSqsBody(record.body, OPTIONS));

    // Assert
    expect(batch.Records).toHaveLength(2);
    expect(acceptedGrant(good as ParseResult).requestId).toBe('JIRA-OPS-1300:grant');
    expect(bad).toMatchObject({
      ok: false,
      rejection: { code: 'INVALID_FIELD', field: 'detail.principalArn' },
      requestId: 'JIRA-OPS-1301:grant',
      detailType: 'Access Grant Requested',
    });
  });

  it('refuses every invalid sample with the code and field listed in events/invalid/expected.json', () => {
    // Arrange
    const expected = readJson('invalid/expected.json') as Record<string, { code: string; field: string }>;
    const files = readdirSync(new URL('invalid/', EVENTS)).filter((name) => name !== 'expected.json');

    // Act
    const outcomes = Object.fromEntries(
      files.map((name) => {
        const { code, field } = refused(parseRequest(sample(`invalid/${name}`), OPTIONS));
        return [name, { code, field }];
      }),
    );

    // Assert
    expect(Object.keys(expected).sort()).toEqual([...files].sort());
    expect(outcomes).toEqual(expected);
  });
});

describe('envelope', () => {
  it('accepts the exact three-key envelope an SQS body carries', () => {
    // Arrange
    const body = JSON.stringify(envelope(grantDetail()));

    // Act
    const result = parseSqsBody(body, OPTIONS);

    // Assert
    expect(acceptedGrant(result).requestId).toBe('TEST-1:grant');
  });

  it('ignores the keys EventBridge adds around the envelope', () => {
    // Arrange
    const event = {
      version: '0',
      id: 'c0ffee00-0000-4000-8000-000000000000',
      account: '111122223333',
      time: '2025-06-02T09:30:00Z',
      region: 'us-east-1',
      resources: [],
      'replay-name': 'replay-1',
      ...envelope(grantDetail()),
    };

    // Act
    const result = parseRequest(event, OPTIONS);

    // Assert
    expect(result.ok).toBe(true);
  });

  it.each([
    ['null', null],
    ['an array', [envelope(grantDetail())]],
    ['a string', 'Access Grant Requested'],
    ['a number', 42],
    ['undefined', undefined],
  ])('refuses %s as INVALID_ENVELOPE', (_label, input) => {
    // Act
    const rejection = refused(parseRequest(input, OPTIONS));

    // Assert
    expect(rejection.code).toBe('INVALID_ENVELOPE');
  });

  it.each([
    ['source', { 'detail-type': DETAIL_TYPES.grant, detail: grantDetail() }, /source: is required/],
    ['detail-type', { source: 'com.example.ticketing', detail: grantDetail() }, /detail-type: is required/],
    ['detail', { source: 'com.example.ticketing', 'detail-type': DETAIL_TYPES.grant }, /detail: is required/],
    ['detail', { ...envelope([grantDetail()]) }, /must be a JSON object/],
    ['source', { ...envelope(grantDetail()), source: 7 }, /expected string/],
  ])('names the missing or wrong envelope key %s', (field, input, reason) => {
    // Act
    const rejection = refused(parseRequest(input, OPTIONS));

    // Assert
    expect(rejection).toMatchObject({ code: 'INVALID_ENVELOPE', field });
    expect(rejection.reason).toMatch(reason);
  });

  it('refuses a source that is not on the allow-list, keeping the correlation', () => {
    // Arrange
    const event = { ...envelope(grantDetail()), source: 'com.example.other' };

    // Act
    const result = parseRequest(event, OPTIONS);

    // Assert
    expect(result).toMatchObject({
      ok: false,
      rejection: { code: 'SOURCE_NOT_ALLOWED', field: 'source' },
      requestId: 'TEST-1:grant',
      detailType: DETAIL_TYPES.grant,
    });
  });

  it('refuses an unknown detail-type', () => {
    // Act
    const result = parseRequest(envelope(grantDetail(), 'Access Granted'), OPTIONS);

    // Assert
    expect(result).toMatchObject({
      ok: false,
      rejection: { code: 'UNKNOWN_DETAIL_TYPE', field: 'detail-type' },
    });
    expect(result).not.toHaveProperty('detailType');
  });

  it.each([
    ['text that is not JSON', '{"source": '],
    ['a JSON array', '[]'],
    ['JSON null', 'null'],
    ['a JSON string', '"hello"'],
    ['an empty body', ''],
  ])('refuses an SQS body that is %s as INVALID_ENVELOPE', (_label, body) => {
    // Act
    const rejection = refused(parseSqsBody(body, OPTIONS));

    // Assert
    expect(rejection.code).toBe('INVALID_ENVELOPE');
    expect(rejection.reason).toMatch(/JSON|object/);
  });

  it('refuses an SQS body longer than any EventBridge event without parsing it', () => {
    // Arrange
    const body = JSON.stringify(envelope(grantDetail({ reason: 'x'.repeat(MAX_BODY_LENGTH) })));

    // Act
    const rejection = refused(parseSqsBody(body, OPTIONS));

    // Assert
    expect(rejection).toMatchObject({ code: 'INVALID_ENVELOPE' });
    expect(rejection.reason).toMatch(/longer than/);
  });
});

describe('grant detail', () => {
  it('refuses an unknown key, naming it', () => {
    // Act
    const rejection = refused(parseGrant({ namespace: 'team-a' }));

    // Assert
    expect(rejection).toMatchObject({ code: 'INVALID_FIELD', field: 'detail.namespace' });
    expect(rejection.reason).toBe('detail.namespace: unknown field');
  });

  it('lists every problem in the reason, the first one as the field', () => {
    // Act
    const rejection = refused(parseGrant({ requestId: 'has space', durationSeconds: 0, extra: true }));

    // Assert
    expect(rejection.field).toBe('detail.requestId');
    expect(rejection.reason).toMatch(
      /detail\.requestId: .*; detail\.durationSeconds: .*; detail\.extra: unknown field/,
    );
  });

  it('says which required field is missing', () => {
    // Arrange
    const { principalArn: _omitted, ...detail } = grantDetail();

    // Act
    const rejection = refused(parseRequest(envelope(detail), OPTIONS));

    // Assert
    expect(rejection).toEqual({
      code: 'INVALID_FIELD',
      field: 'detail.principalArn',
      reason: 'detail.principalArn: is required',
    });
  });

  describe('requestId', () => {
    it.each(['a', 'JIRA-1234', 'ticket:OPS/12#3.grant_v-2', 'x'.repeat(128)])('accepts %s', (requestId) => {
      expect(acceptedGrant(parseGrant({ requestId })).requestId).toBe(requestId);
    });

    it.each(['', 'x'.repeat(129), 'has space', 'tab\there', 'ünïcode', 'semi;colon', 42])(
      'refuses %j',
      (requestId) => {
        expect(refused(parseGrant({ requestId }))).toMatchObject({
          code: 'INVALID_FIELD',
          field: 'detail.requestId',
        });
      },
    );
  });

  describe('clusterName', () => {
    it.each(['demo', '0prod', 'my_cluster-1', 'A'.repeat(100)])('accepts %s', (clusterName) => {
      expect(acceptedGrant(parseGrant({ clusterName })).clusterName).toBe(clusterName);
    });

    it.each(['', '-demo', '_demo', 'has.dot', 'has space', 'A'.repeat(101)])('refuses %j', (clusterName) => {
      expect(refused(parseGrant({ clusterName }))).toMatchObject({
        code: 'INVALID_FIELD',
        field: 'detail.clusterName',
      });
    });
  });

  describe('principalArn', () => {
    it.each([
      'arn:aws:iam::111122223333:role/developer',
      'arn:aws:iam::111122223333:user/alice',
      'arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123456789abcdef',
      'arn:aws:iam::111122223333:role/team/payments/deployer',
      'arn:aws-cn:iam::111122223333:role/developer',
      'arn:aws-us-gov:iam::111122223333:user/ops/bob',
      'arn:aws:iam::444455556666:role/cross-account+role=x,y.z@w',
    ])('accepts %s and keeps it whole', (principalArn) => {
      expect(acceptedGrant(parseGrant({ principalArn })).principalArn).toBe(principalArn);
    });

    it.each([
      ['arn:aws:sts::111122223333:assumed-role/developer/alice', /use the role ARN, not a session/],
      ['arn:aws:sts::111122223333:federated-user/alice', /session/],
      [
        'arn:aws:iam::111122223333:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS',
        /service-linked/,
      ],
      ['arn:aws:iam::111122223333:group/developers', /group/],
      ['arn:aws:iam::111122223333:root', /root/],
      ['arn:aws:iam::111122223333:policy/ReadOnly', /not an IAM role or user/],
      ['arn:aws:s3:::bucket', /not an IAM ARN/],
      ['arn:aws:iam::11112222333:role/developer', /12 digits/],
      ['arn:aws:iam:us-east-1:111122223333:role/developer', /no region/],
      ['arn:aws-mars:iam::111122223333:role/developer', /partition/],
      ['arn:aws:iam::111122223333:role/', /malformed/],
      ['arn:aws:iam::111122223333:role/*', /malformed/],
      ['arn:aws:iam::111122223333:role/two//slashes', /malformed/],
      [`arn:aws:iam::111122223333:role/${'n'.repeat(65)}`, /malformed/],
      ['developer', /not an ARN/],
      [`arn:aws:iam::111122223333:role/${'p/'.repeat(1100)}x`, /at most 2048/],
    ])('refuses %s with a specific reason', (principalArn, reason) => {
      // Act
      const rejection = refused(parseGrant({ principalArn }));

      // Assert
      expect(rejection).toMatchObject({ code: 'INVALID_FIELD', field: 'detail.principalArn' });
      expect(rejection.reason).toMatch(reason);
    });

    it('suggests the role ARN for an assumed-role session', () => {
      // Act
      const rejection = refused(
        parseGrant({ principalArn: 'arn:aws:sts::111122223333:assumed-role/developer/alice' }),
      );

      // Assert
      expect(rejection.reason).toContain('arn:aws:iam::111122223333:role/developer');
    });
  });

  describe('policyArn', () => {
    it.each(GRANTABLE_POLICY_NAMES)(
      'normalizes the bare name %s to the full ARN in partition aws',
      (name) => {
        expect(acceptedGrant(parseGrant({ policyArn: name })).policyArn).toBe(
          `arn:aws:eks::aws:cluster-access-policy/${name}`,
        );
      },
    );

    it.each([
      'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
      'arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSEditPolicy',
      'arn:aws-us-gov:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy',
    ])('keeps the full ARN %s with its partition', (policyArn) => {
      expect(acceptedGrant(parseGrant({ policyArn })).policyArn).toBe(policyArn);
    });

    it.each([
      ['AmazonEKSAutoNodePolicy', /not grantable to people/],
      ['arn:aws:eks::aws:cluster-access-policy/AmazonEKSNetworkingPolicy', /not grantable to people/],
      ['AmazonEKSSuperUserPolicy', /unknown access policy/],
      ['amazoneksviewpolicy', /unknown access policy/],
      ['arn:aws:iam::aws:policy/AdministratorAccess', /access-policy ARN/],
      ['arn:aws-mars:eks::aws:cluster-access-policy/AmazonEKSViewPolicy', /partition/],
      ['', /unknown access policy/],
      ['x'.repeat(257), /at most 256/],
    ])('refuses %s', (policyArn, reason) => {
      // Act
      const rejection = refused(parseGrant({ policyArn }));

      // Assert
      expect(rejection).toMatchObject({ code: 'INVALID_FIELD', field: 'detail.policyArn' });
      expect(rejection.reason).toMatch(reason);
    });

    it('exposes the normalization and the name lookup', () => {
      expect(normalizePolicyArn('AmazonEKSViewPolicy')).toEqual({
        ok: true,
        arn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
        name: 'AmazonEKSViewPolicy',
        partition: 'aws',
      });
      expect(policyName('arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSEditPolicy')).toBe(
        'AmazonEKSEditPolicy',
      );
      expect(policyName('AmazonEKSEditPolicy')).toBe('AmazonEKSEditPolicy');
      expect(policyName('arn:aws:iam::aws:policy/x')).toBeUndefined();
    });
  });

  describe('accessScope', () => {
    it.each([{ type: 'cluster' }, { type: 'cluster', namespaces: [] }])(
      'accepts cluster scope %j',
      (accessScope) => {
        expect(acceptedGrant(parseGrant({ accessScope })).accessScope).toEqual({ type: 'cluster' });
      },
    );

    it('sorts namespaces and drops duplicates', () => {
      // Act
      const request = acceptedGrant(
        parseGrant({
          accessScope: { type: 'namespace', namespaces: ['team-b', 'dev-*', 'team-a', 'team-b'] },
        }),
      );

      // Assert
      expect(request.accessScope).toEqual({ type: 'namespace', namespaces: ['dev-*', 'team-a', 'team-b'] });
    });

    it.each([
      ['a'],
      ['team-a'],
      ['0'],
      ['dev-*'],
      ['d*'],
      ['*'],
      ['a'.repeat(63)],
      Array.from({ length: 25 }, (_, i) => `ns-${i}`),
    ])('accepts namespaces %j', (...namespaces) => {
      expect(
        acceptedGrant(parseGrant({ accessScope: { type: 'namespace', namespaces } })).accessScope.type,
      ).toBe('namespace');
    });

    it.each([
      [{ type: 'cluster', namespaces: ['team-a'] }, 'detail.accessScope.namespaces', /absent or empty/],
      [{ type: 'namespace', namespaces: [] }, 'detail.accessScope.namespaces', /at least one/],
      [{ type: 'namespace' }, 'detail.accessScope.namespaces', /required/],
      [
        { type: 'namespace', namespaces: Array.from({ length: 26 }, (_, i) => `ns-${i}`) },
        'detail.accessScope.namespaces',
        /at most 25/,
      ],
      [{ type: 'namespace', namespaces: ['Team-A'] }, 'detail.accessScope.namespaces[0]', /DNS-1123/],
      [{ type: 'namespace', namespaces: ['ok', 'team_a'] }, 'detail.accessScope.namespaces[1]', /DNS-1123/],
      [{ type: 'namespace', namespaces: ['-team'] }, 'detail.accessScope.namespaces[0]', /DNS-1123/],
      [{ type: 'namespace', namespaces: ['team-'] }, 'detail.accessScope.namespaces[0]', /DNS-1123/],
      [{ type: 'namespace', namespaces: ['dev*x'] }, 'detail.accessScope.namespaces[0]', /DNS-1123/],
      [{ type: 'namespace', namespaces: ['**'] }, 'detail.accessScope.namespaces[0]', /DNS-1123/],
      [{ type: 'namespace', namespaces: ['a'.repeat(64)] }, 'detail.accessScope.namespaces[0]', /at most 63/],
      [{ type: 'Cluster' }, 'detail.accessScope.type', /'cluster' or 'namespace'/],
      [{}, 'detail.accessScope.type', /'cluster' or 'namespace'/],
      [{ type: 'cluster', extra: 1 }, 'detail.accessScope.extra', /unknown field/],
      ['cluster', 'detail.accessScope', /object/],
    ])('refuses %j', (accessScope, field, reason) => {
      // Act
      const rejection = refused(parseGrant({ accessScope }));

      // Assert
      expect(rejection).toMatchObject({ code: 'INVALID_FIELD', field });
      expect(rejection.reason).toMatch(reason);
    });
  });

  describe('durationSeconds', () => {
    it.each([1, 3600, 604800])('accepts %d', (durationSeconds) => {
      expect(acceptedGrant(parseGrant({ durationSeconds })).durationSeconds).toBe(durationSeconds);
    });

    it.each([0, -1, 604801, 1.5, '3600', null, Number.NaN, Number.POSITIVE_INFINITY])(
      'refuses %j',
      (durationSeconds) => {
        expect(refused(parseGrant({ durationSeconds }))).toMatchObject({
          code: 'INVALID_FIELD',
          field: 'detail.durationSeconds',
        });
      },
    );
  });

  describe('requestedBy and reason', () => {
    it('trims them', () => {
      // Act
      const request = acceptedGrant(
        parseGrant({ requestedBy: '  alice@example.com\n', reason: '\tdeploy  ' }),
      );

      // Assert
      expect(request).toMatchObject({ requestedBy: 'alice@example.com', reason: 'deploy' });
    });

    it.each([
      ['requestedBy', '256 characters', 'x'.repeat(256), true],
      ['requestedBy', '257 characters', 'x'.repeat(257), false],
      ['requestedBy', 'only blanks', ' \n\t ', false],
      ['reason', '1024 characters', 'x'.repeat(1024), true],
      ['reason', '1024 characters between blanks', `  ${'x'.repeat(1024)}  `, true],
      ['reason', '1025 characters', 'x'.repeat(1025), false],
      ['reason', 'empty', '', false],
      ['reason', 'unicode', 'ünïcödé ✓ 事故', true],
      ['reason', 'line breaks and tabs', 'step 1:\n\tlook\r\nstep 2', true],
      ['reason', 'a NUL character', 'before\u0000after', false],
      ['requestedBy', 'an escape character', 'alice\u001b[31m', false],
      ['requestedBy', 'a lone surrogate', 'alice\uD800', false],
      ['requestedBy', 'an emoji (a surrogate pair)', 'alice 🚒', true],
    ])('%s of %s: accepted %s', (field, _label, value, ok) => {
      // Act
      const result = parseGrant({ [field]: value });

      // Assert
      expect(result.ok).toBe(ok);
      if (!result.ok) expect(result.rejection.field).toBe(`detail.${field}`);
    });
  });

  describe('ticket', () => {
    it('is optional and absent when not sent', () => {
      expect(acceptedGrant(parseGrant())).not.toHaveProperty('ticket');
    });

    it('accepts system and key, with or without an https url', () => {
      // Act
      const withUrl = acceptedGrant(
        parseGrant({
          ticket: { system: 'jira', key: 'OPS-1', url: 'https://jira.example.com/browse/OPS-1' },
        }),
      );
      const withoutUrl = acceptedGrant(parseGrant({ ticket: { system: ' jira ', key: 'OPS-1' } }));

      // Assert
      expect(withUrl.ticket).toEqual({
        system: 'jira',
        key: 'OPS-1',
        url: 'https://jira.example.com/browse/OPS-1',
      });
      expect(withoutUrl.ticket).toEqual({ system: 'jira', key: 'OPS-1' });
      expect(withoutUrl.ticket).not.toHaveProperty('url');
    });

    it.each([
      [{ system: 'jira', key: 'OPS-1', url: 'http://jira.example.com/OPS-1' }, 'detail.ticket.url'],
      [{ system: 'jira', key: 'OPS-1', url: 'javascript:alert(1)' }, 'detail.ticket.url'],
      [{ system: 'jira', key: 'OPS-1', url: 'not a url' }, 'detail.ticket.url'],
      [
        { system: 'jira', key: 'OPS-1', url: `https://example.com/${'x'.repeat(2048)}`.slice(0, 2049) },
        'detail.ticket.url',
      ],
      [{ system: '', key: 'OPS-1' }, 'detail.ticket.system'],
      [{ system: 's'.repeat(65), key: 'OPS-1' }, 'detail.ticket.system'],
      [{ system: 'jira', key: 'k'.repeat(129) }, 'detail.ticket.key'],
      [{ system: 'jira' }, 'detail.ticket.key'],
      [{ system: 'jira', key: 'OPS-1', id: 7 }, 'detail.ticket.id'],
      [null, 'detail.ticket'],
      ['OPS-1', 'detail.ticket'],
    ])('refuses %j', (ticket, field) => {
      expect(refused(parseGrant({ ticket }))).toMatchObject({ code: 'INVALID_FIELD', field });
    });
  });

  describe('breakGlass', () => {
    it('defaults to false', () => {
      expect(acceptedGrant(parseGrant()).breakGlass).toBe(false);
    });

    it('accepts true', () => {
      expect(acceptedGrant(parseGrant({ breakGlass: true })).breakGlass).toBe(true);
    });

    it.each(['true', 1, null])('refuses %j', (breakGlass) => {
      expect(refused(parseGrant({ breakGlass }))).toMatchObject({
        code: 'INVALID_FIELD',
        field: 'detail.breakGlass',
      });
    });
  });

  it('returns a frozen request', () => {
    // Act
    const request = acceptedGrant(parseGrant({ ticket: { system: 'jira', key: 'OPS-1' } }));

    // Assert
    expect(Object.isFrozen(request)).toBe(true);
    expect(Object.isFrozen(request.accessScope)).toBe(true);
    expect(Object.isFrozen(request.ticket)).toBe(true);
  });
});

describe('revoke and extend details', () => {
  const revoke = { requestId: 'JIRA-1:grant', requestedBy: 'alice', reason: 'done' };
  const extend = { ...revoke, durationSeconds: 1800 };

  it('parses a revoke', () => {
    expect(accepted(parseRequest(envelope(revoke, DETAIL_TYPES.revoke), OPTIONS))).toEqual({
      kind: 'revoke',
      ...revoke,
      source: 'com.example.ticketing',
    });
  });

  it('parses an extend', () => {
    expect(accepted(parseRequest(envelope(extend, DETAIL_TYPES.extend), OPTIONS))).toEqual({
      kind: 'extend',
      ...extend,
      source: 'com.example.ticketing',
    });
  });

  it.each([
    [DETAIL_TYPES.revoke, { ...revoke, durationSeconds: 60 }, 'detail.durationSeconds'],
    [DETAIL_TYPES.revoke, { ...revoke, reason: ' ' }, 'detail.reason'],
    [DETAIL_TYPES.revoke, { requestId: 'JIRA-1:grant', reason: 'done' }, 'detail.requestedBy'],
    [DETAIL_TYPES.extend, revoke, 'detail.durationSeconds'],
    [DETAIL_TYPES.extend, { ...extend, durationSeconds: 604801 }, 'detail.durationSeconds'],
    [DETAIL_TYPES.extend, { ...extend, clusterName: 'demo' }, 'detail.clusterName'],
  ])('refuses a %s with a bad %j', (detailType, detail, field) => {
    expect(refused(parseRequest(envelope(detail, detailType), OPTIONS))).toMatchObject({
      code: 'INVALID_FIELD',
      field,
    });
  });
});

describe('hostile input', () => {
  const huge = 'A'.repeat(5_000_000);
  const deep = (levels: number): unknown => {
    let value: unknown = 'bottom';
    for (let i = 0; i < levels; i++) value = { ticket: value, nested: [value] };
    return value;
  };
  const throwing = Object.defineProperty({}, 'source', {
    enumerable: true,
    get() {
      throw new Error('boom');
    },
  });
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const nasty: unknown[] = [
    null,
    undefined,
    0,
    -0,
    Number.NaN,
    true,
    '',
    huge,
    '\u0000',
    '\uD800',
    Symbol('s'),
    10n,
    () => 1,
    [],
    [1, 2, 3],
    new Date(0),
    new Map([['source', 'com.example.ticketing']]),
    Object.create(null),
    deep(5_000),
    throwing,
    revoked.proxy,
    JSON.parse('{"__proto__": {"polluted": true}}'),
    JSON.parse('{"constructor": {"prototype": {"polluted": true}}}'),
    { toString: 'not a function', valueOf: null },
  ];

  it('never throws on any value as the whole request, and always refuses it', () => {
    for (const value of nasty) {
      // Act
      const result = parseRequest(value, OPTIONS);

      // Assert
      expect(result.ok).toBe(false);
    }
  });

  it('never throws on any value in any detail field, and keeps reasons short', () => {
    const fields = [...Object.keys(grantDetail()), 'ticket', 'breakGlass', '__proto__', 'constructor'];
    for (const field of fields) {
      for (const [index, value] of nasty.entries()) {
        // Arrange
        const detail = grantDetail();
        Object.defineProperty(detail, field, { value, enumerable: true, configurable: true, writable: true });

        // Act
        const result = parseRequest(envelope(detail), OPTIONS);

        // Assert: only an optional field left undefined, or breakGlass: true, may pass
        const valid =
          (value === undefined && ['ticket', 'breakGlass'].includes(field)) ||
          (field === 'breakGlass' && value === true);
        expect(result.ok, `${field} = nasty[${index}]`).toBe(valid);
        if (!result.ok) expect(result.rejection.reason.length).toBeLessThan(4_000);
      }
    }
  });

  it('refuses prototype-pollution keys as unknown fields and pollutes nothing', () => {
    // Arrange
    const body = `{"source":"com.example.ticketing","detail-type":"Access Grant Requested","detail":${JSON.stringify(
      grantDetail(),
    ).replace(/}$/, ',"__proto__":{"polluted":true}}')}}`;

    // Act
    const result = parseSqsBody(body, OPTIONS);

    // Assert
    expect(result).toMatchObject({
      ok: false,
      rejection: { code: 'INVALID_FIELD', field: 'detail.__proto__' },
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('never throws on hostile SQS bodies', () => {
    const bodies = [
      `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`,
      '{"source":"com.example.ticketing","detail-type":"Access Grant Requested","detail":"x"}',
      '\uFEFF{}',
      'undefined',
      '{"source": "\\ud800"}',
      huge,
    ];
    for (const body of bodies) {
      // Act
      const result = parseSqsBody(body, OPTIONS);

      // Assert
      expect(result.ok).toBe(false);
    }
  });

  it('bounds what a refused request echoes back', () => {
    // Act
    const result = parseGrant({
      policyArn: 'P'.repeat(200),
      requestedBy: huge,
      [`k${'e'.repeat(10_000)}`]: 1,
    });

    // Assert
    const rejection = refused(result);
    expect(rejection.reason.length).toBeLessThan(1_000);
    expect(rejection.field?.length ?? 0).toBeLessThan(100);
  });

  it('does not echo an invalid requestId as the correlation id', () => {
    // Act
    const result = parseGrant({ requestId: huge });

    // Assert
    expect(result.ok).toBe(false);
    expect(result).not.toHaveProperty('requestId');
  });
});

describe('JSON Schema', () => {
  it('describes the envelope union in draft 2020-12', () => {
    // Act
    const schema = contractJsonSchema() as { $schema: string; oneOf: unknown[] };

    // Assert
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.oneOf).toHaveLength(3);
    expect(JSON.stringify(schema)).toContain('"const":"Access Extend Requested"');
  });

  it('is what events/schema/request-contract.schema.json holds', () => {
    // Arrange
    const committed = readJson('schema/request-contract.schema.json');

    // Act
    const generated = contractJsonSchema();

    // Assert
    expect(
      committed,
      'events/schema/request-contract.schema.json is stale: run `npx tsx infra/generate-contract-schema.ts` and commit it',
    ).toEqual(generated);
  });
});

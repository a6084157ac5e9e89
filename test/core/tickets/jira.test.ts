import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../../functions/core/leases';
import type { GrantRequest, RejectionCode } from '../../../functions/core/model';
import type { JiraWebhook } from '../../../functions/core/tickets/config';
import type { TicketDecision } from '../../../functions/core/tickets/decision';
import { decideJira, type JiraInput, jiraApproverToCheck } from '../../../functions/core/tickets/jira';
import type { JiraChange, JiraIssue } from '../../../functions/core/tickets/read-back';
import type { TicketEvent } from '../../../functions/core/tickets/ticket-event';

const CAROL = 'acc-carol';
const BOB = 'acc-bob';
const DAVE = 'acc-dave';
const ALICE = 'acc-alice';
const GROUPS = ['jira-users', 'eks-access-approvers'];

const CONFIG: JiraWebhook = {
  vendor: 'jira',
  secret: '/eks-access-broker/jira/webhook-secret',
  url: 'https://example.atlassian.net',
  user: 'eks-access-broker@example.com',
  token: '/eks-access-broker/jira/api-token',
  projects: ['ACCESS'],
  statuses: {
    approved: ['Approved'],
    closed: ['Done', 'Declined', 'Cancelled'],
    extend: ['Extension Approved'],
  },
  approverGroup: 'eks-access-approvers',
  fields: {
    cluster: 'customfield_10100',
    principal: 'customfield_10101',
    policy: 'customfield_10102',
    namespaces: 'customfield_10103',
    durationHours: 'customfield_10104',
    extensionHours: 'customfield_10105',
  },
  owners: [{ principal: 'arn:aws:iam::111122223333:role/dev-alice', accountIds: [ALICE] }],
};

const FIELDS = {
  customfield_10100: 'demo',
  customfield_10101: 'arn:aws:iam::111122223333:role/dev-carol',
  customfield_10102: { value: 'AmazonEKSEditPolicy', id: '10200' },
  customfield_10103: ['team-b', 'team-a'],
  customfield_10104: 4,
  customfield_10105: 2,
};

function issue(overrides: Partial<JiraIssue> = {}, fields: Record<string, unknown> = {}): JiraIssue {
  return {
    key: 'ACCESS-12',
    projectKey: 'ACCESS',
    status: 'Approved',
    reporter: CAROL,
    summary: 'Debug the payments rollout',
    url: 'https://example.atlassian.net/browse/ACCESS-12',
    fields: { ...FIELDS, ...fields },
    ...overrides,
  };
}

function move(id: string, to: string, author?: string, authorName?: string): JiraChange {
  return {
    id,
    ...(author === undefined ? {} : { author }),
    ...(authorName === undefined ? {} : { authorName }),
    created: '2025-03-01T10:00:00.000+0000',
    items: [{ field: 'status', from: '1', fromString: 'Open', to: '3', toString: to }],
  };
}

const CREATED: JiraChange = {
  id: '10040',
  author: CAROL,
  authorName: 'Carol Reporter',
  created: '2025-03-01T09:00:00.000+0000',
  items: [{ field: 'summary', fromString: 'Debug', toString: 'Debug the payments rollout' }],
};
const APPROVED_BY_BOB = move('10042', 'Approved', BOB, 'Bob Approver');

function event(claims: TicketEvent['claims'] = { status: 'Approved', user: BOB }): TicketEvent {
  return {
    integration: 'jira',
    vendor: 'jira',
    deliveryId: 'b6b2c7de-0d5e-4bd9-9a3c-3d4f0b1a2c11',
    ticket: 'ACCESS-12',
    event: 'jira:issue_updated',
    claims,
    receivedAt: '2025-03-01T10:00:01.000Z',
  };
}

function input(overrides: Partial<JiraInput> = {}): JiraInput {
  return {
    event: event(),
    config: CONFIG,
    issue: issue(),
    changelog: [CREATED, APPROVED_BY_BOB],
    ...overrides,
  };
}

const TICKET = { system: 'jira', key: 'ACCESS-12', url: 'https://example.atlassian.net/browse/ACCESS-12' };

const GRANT: GrantRequest = {
  kind: 'grant',
  requestId: 'jira:ACCESS-12',
  clusterName: 'demo',
  principalArn: 'arn:aws:iam::111122223333:role/dev-carol',
  policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy',
  accessScope: { type: 'namespace', namespaces: ['team-a', 'team-b'] },
  durationSeconds: 14_400,
  requestedBy: 'jira:acc-carol',
  reason: 'ACCESS-12 approved in Jira',
  ticket: TICKET,
  breakGlass: false,
  source: 'eks-access-broker.webhooks',
};

/** The fingerprint the lease of a grant decision would carry. */
function fingerprintOfGrant(decision: TicketDecision): string {
  return decision.kind === 'grant' ? fingerprintOf(decision.request) : `no grant: ${decision.kind}`;
}

function refusal(
  code: RejectionCode,
  reason: string,
  extra: { field?: string; requestType?: string } = {},
): TicketDecision {
  return {
    kind: 'refuse',
    rejection: { code, ...(extra.field ? { field: extra.field } : {}), reason },
    requestId: 'jira:ACCESS-12',
    requestType: extra.requestType ?? 'Access Grant Requested',
    ticket: TICKET,
  };
}

describe('an approved Jira issue', () => {
  it('grants what its mapped fields ask, approved by the author of the move into Approved', () => {
    const decision = decideJira(input(), GROUPS);

    expect(decision).toEqual({ kind: 'grant', request: GRANT, approvedBy: 'jira:acc-bob (Bob Approver)' });
  });

  it('names the approving transition author as the one account whose groups must be read', () => {
    expect(jiraApproverToCheck(input())).toBe(BOB);
  });

  it('takes the latest move into the approved status when the issue was approved twice', () => {
    const changelog = [
      CREATED,
      APPROVED_BY_BOB,
      move('10050', 'Open', CAROL),
      move('10051', 'Approved', DAVE),
    ];

    const decision = decideJira(input({ changelog }), GROUPS);

    expect(jiraApproverToCheck(input({ changelog }))).toBe(DAVE);
    expect(decision).toEqual({ kind: 'grant', request: GRANT, approvedBy: 'jira:acc-dave' });
  });

  it('matches statuses regardless of case, as Jira names them', () => {
    const config = { ...CONFIG, statuses: { ...CONFIG.statuses, approved: ['APPROVED'] } };

    expect(decideJira(input({ config }), GROUPS)).toEqual({
      kind: 'grant',
      request: GRANT,
      approvedBy: 'jira:acc-bob (Bob Approver)',
    });
  });

  it('needs no group when the integration names no approverGroup', () => {
    const { approverGroup: _, ...config } = CONFIG;

    expect(jiraApproverToCheck(input({ config }))).toBeUndefined();
    expect(decideJira(input({ config }))).toEqual({
      kind: 'grant',
      request: GRANT,
      approvedBy: 'jira:acc-bob (Bob Approver)',
    });
  });

  it.each([
    ['an empty text field', ''],
    ['an empty multi-select', []],
    ['a field Jira leaves null', null],
  ])('asks for cluster scope when the namespaces field is %s', (_, value) => {
    const decision = decideJira(input({ issue: issue({}, { customfield_10103: value }) }), GROUPS);

    expect(decision).toEqual({
      kind: 'grant',
      request: { ...GRANT, accessScope: { type: 'cluster' } },
      approvedBy: 'jira:acc-bob (Bob Approver)',
    });
  });

  it('asks for cluster scope when the integration maps no namespaces field', () => {
    const { namespaces: _, ...fields } = CONFIG.fields;

    const decision = decideJira(input({ config: { ...CONFIG, fields } }), GROUPS);

    expect(decision).toEqual({
      kind: 'grant',
      request: { ...GRANT, accessScope: { type: 'cluster' } },
      approvedBy: 'jira:acc-bob (Bob Approver)',
    });
  });

  it('reads every shape a Jira field may have: text, options, labels, a paragraph document, numbers as text', () => {
    const fields = {
      customfield_10100: [{ value: 'demo', id: '1' }],
      customfield_10101: {
        type: 'doc',
        version: 1,
        content: [
          {
            type: 'paragraph',
            content: [{ type: 'text', text: 'arn:aws:iam::111122223333:role/dev-carol' }],
          },
        ],
      },
      customfield_10102: 'AmazonEKSViewPolicy',
      customfield_10103: 'team-c, team-a  team-b,team-c',
      customfield_10104: '1.5',
    };

    const decision = decideJira(input({ issue: issue({}, fields) }), GROUPS);

    expect(decision).toEqual({
      kind: 'grant',
      request: {
        ...GRANT,
        policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
        accessScope: { type: 'namespace', namespaces: ['team-a', 'team-b', 'team-c'] },
        durationSeconds: 5400,
      },
      approvedBy: 'jira:acc-bob (Bob Approver)',
    });
  });

  it('leaves out a ticket link the contract would refuse (a local http site)', () => {
    const decision = decideJira(
      input({ issue: issue({ url: 'http://127.0.0.1:4580/browse/ACCESS-12' }) }),
      GROUPS,
    );

    expect(decision).toEqual({
      kind: 'grant',
      request: { ...GRANT, ticket: { system: 'jira', key: 'ACCESS-12' } },
      approvedBy: 'jira:acc-bob (Bob Approver)',
    });
  });

  it("asks for the same grant, fingerprint and all, after the summary and the approver's display name change", () => {
    const before = decideJira(input(), GROUPS);
    const edited = issue({ summary: `Debug\tthe\r\npayments ${'x'.repeat(2000)}` });
    const renamed = [CREATED, move('10042', 'Approved', BOB, 'Robert Approver-Smith')];

    const after = decideJira(input({ issue: edited, changelog: renamed }), GROUPS);

    expect(after).toEqual({
      kind: 'grant',
      request: GRANT,
      approvedBy: 'jira:acc-bob (Robert Approver-Smith)',
    });
    expect(fingerprintOfGrant(after)).toBe(fingerprintOfGrant(before));
    expect(fingerprintOfGrant(before)).toBe(fingerprintOf(GRANT));
  });
});

describe('a Jira issue whose fields do not make a valid request', () => {
  it('is refused with the contract reason, naming the Jira field, when the cluster is missing', () => {
    const decision = decideJira(input({ issue: issue({}, { customfield_10100: null }) }), GROUPS);

    expect(decision).toEqual(
      refusal('INVALID_FIELD', 'detail.clusterName: is required [Jira field customfield_10100 (cluster)]', {
        field: 'detail.clusterName',
      }),
    );
  });

  it('is refused with the contract reason when a namespace is no DNS label', () => {
    const decision = decideJira(input({ issue: issue({}, { customfield_10103: 'Team_A' }) }), GROUPS);

    expect(decision).toEqual(
      refusal(
        'INVALID_FIELD',
        'detail.accessScope.namespaces[0]: must be a DNS-1123 label (a-z, 0-9, -), optionally ending in a * wildcard [Jira field customfield_10103 (namespaces)]',
        { field: 'detail.accessScope.namespaces[0]' },
      ),
    );
  });

  it('is refused with the contract reason when the duration is beyond seven days', () => {
    const decision = decideJira(input({ issue: issue({}, { customfield_10104: 200 }) }), GROUPS);

    expect(decision).toEqual(
      refusal(
        'INVALID_FIELD',
        'detail.durationSeconds: must be at most 604800 seconds (7 days) [Jira field customfield_10104 (durationHours)]',
        { field: 'detail.durationSeconds' },
      ),
    );
  });

  it('is refused when the duration is not a number of hours', () => {
    const decision = decideJira(input({ issue: issue({}, { customfield_10104: 'four' }) }), GROUPS);

    expect(decision).toEqual(
      refusal(
        'INVALID_FIELD',
        'Jira field customfield_10104 (durationHours) must be a number of hours, got "four"',
        { field: 'detail.durationSeconds' },
      ),
    );
  });

  it('is refused when a one-value field holds several', () => {
    const decision = decideJira(
      input({ issue: issue({}, { customfield_10100: [{ value: 'demo' }, { value: 'prod' }] }) }),
      GROUPS,
    );

    expect(decision).toEqual(
      refusal('INVALID_FIELD', 'Jira field customfield_10100 (cluster) holds 2 values; expected one', {
        field: 'detail.clusterName',
      }),
    );
  });

  it('is refused when a field holds something that is not text', () => {
    const decision = decideJira(
      input({ issue: issue({}, { customfield_10101: { accountId: CAROL, displayName: 'Carol' } }) }),
      GROUPS,
    );

    expect(decision).toEqual(
      refusal(
        'INVALID_FIELD',
        'Jira field customfield_10101 (principal) holds an object without a value or a name, not text',
        { field: 'detail.principalArn' },
      ),
    );
  });
});

describe('who may approve a Jira issue', () => {
  it('refuses the reporter approving their own issue', () => {
    const changelog = [CREATED, move('10042', 'Approved', CAROL, 'Carol Reporter')];

    const decision = decideJira(input({ changelog }), GROUPS);

    expect(decision).toEqual(
      refusal('SELF_APPROVAL', 'jira:acc-carol (Carol Reporter) reported ACCESS-12 and may not approve it'),
    );
  });

  it('refuses an owner of the beneficiary, matched by the owners glob', () => {
    const config = {
      ...CONFIG,
      owners: [{ principal: 'arn:aws:iam::111122223333:role/dev-*', accountIds: [DAVE, BOB] }],
    };

    const decision = decideJira(input({ config }), GROUPS);

    expect(decision).toEqual(
      refusal(
        'SELF_APPROVAL',
        'jira:acc-bob (Bob Approver) owns arn:aws:iam::111122223333:role/dev-carol and may not approve access for it',
      ),
    );
  });

  it('lets an owner of another principal approve', () => {
    const config = {
      ...CONFIG,
      owners: [{ principal: 'arn:aws:iam::111122223333:role/dev-alice', accountIds: [BOB] }],
    };

    expect(decideJira(input({ config }), GROUPS).kind).toBe('grant');
  });

  it('refuses an approver outside the approver group', () => {
    const decision = decideJira(input(), ['jira-users']);

    expect(decision).toEqual(
      refusal(
        'APPROVER_NOT_IN_GROUP',
        'jira:acc-bob (Bob Approver) moved ACCESS-12 to Approved but is not a member of eks-access-approvers',
      ),
    );
  });

  it('refuses when the groups were not read, as if the approver had none', () => {
    expect(decideJira(input()).kind).toBe('refuse');
  });

  it('refuses an issue in the approved status whose changelog shows no move into it', () => {
    const decision = decideJira(input({ changelog: [CREATED] }), GROUPS);

    expect(jiraApproverToCheck(input({ changelog: [CREATED] }))).toBeUndefined();
    expect(decision).toEqual(
      refusal('APPROVAL_NOT_FOUND', 'ACCESS-12 is in Approved, but its changelog shows no move into it'),
    );
  });

  it('refuses a move into the approved status made by no user', () => {
    const decision = decideJira(input({ changelog: [CREATED, move('10042', 'Approved')] }), GROUPS);

    expect(decision).toEqual(
      refusal(
        'APPROVAL_NOT_FOUND',
        'ACCESS-12 was moved to Approved by no user (anonymous), so there is no approver to check',
      ),
    );
  });

  it('refuses a webhook that claims an approval the read-back does not show', () => {
    const decision = decideJira(
      input({ issue: issue({ status: 'Waiting for approval' }), changelog: [CREATED] }),
      GROUPS,
    );

    expect(decision).toEqual(
      refusal(
        'APPROVAL_NOT_FOUND',
        'the webhook said ACCESS-12 moved to Approved; the issue read back is in Waiting for approval',
      ),
    );
  });

  it('refuses a webhook that claims an extension the read-back does not show, as an extension', () => {
    const decision = decideJira(
      input({ event: event({ status: 'Extension Approved', user: BOB }), issue: issue({ status: 'Open' }) }),
      GROUPS,
    );

    expect(decision).toEqual(
      refusal(
        'APPROVAL_NOT_FOUND',
        'the webhook said ACCESS-12 moved to Extension Approved; the issue read back is in Open',
        { requestType: 'Access Extend Requested' },
      ),
    );
  });
});

describe('a Jira issue that neither grants nor refuses', () => {
  it('refuses an issue Jira does not find', () => {
    const decision = decideJira(input({ issue: undefined, changelog: [] }), GROUPS);

    expect(decision).toEqual({
      kind: 'refuse',
      rejection: {
        code: 'TICKET_NOT_FOUND',
        reason: "Jira issue ACCESS-12 was not found, or the broker's account may not see it",
      },
      requestId: 'jira:ACCESS-12',
      requestType: 'Access Grant Requested',
      ticket: { system: 'jira', key: 'ACCESS-12' },
    });
  });

  it('ignores an issue of another project', () => {
    const decision = decideJira(input({ issue: issue({ key: 'OPS-3', projectKey: 'OPS' }) }), GROUPS);

    expect(decision).toEqual({ kind: 'ignore', why: 'OPS-3 is in project OPS, not one of ACCESS' });
  });

  it('ignores a status that means nothing to the broker when the webhook claimed none', () => {
    const decision = decideJira(
      input({ event: event({ status: 'In Progress' }), issue: issue({ status: 'In Progress' }) }),
      GROUPS,
    );

    expect(jiraApproverToCheck(input({ issue: issue({ status: 'In Progress' }) }))).toBeUndefined();
    expect(decision).toEqual({
      kind: 'ignore',
      why: 'ACCESS-12 is in In Progress, which neither grants, extends nor revokes',
    });
  });
});

describe('a closed Jira issue', () => {
  it('revokes its grant, asked by the author of the closing move', () => {
    const changelog = [CREATED, APPROVED_BY_BOB, move('10060', 'Done', CAROL, 'Carol Reporter')];

    const decision = decideJira(input({ issue: issue({ status: 'Done' }), changelog }), GROUPS);

    expect(jiraApproverToCheck(input({ issue: issue({ status: 'Done' }), changelog }))).toBeUndefined();
    expect(decision).toEqual({
      kind: 'revoke',
      requests: [
        {
          kind: 'revoke',
          requestId: 'jira:ACCESS-12',
          requestedBy: 'jira:acc-carol',
          reason: 'ACCESS-12 moved to Done',
          source: 'eks-access-broker.webhooks',
        },
      ],
      closedBy: 'jira:acc-carol (Carol Reporter)',
    });
  });

  it('revokes even when no move into the closed status is found, asked by an unknown user', () => {
    const decision = decideJira(input({ issue: issue({ status: 'Declined' }), changelog: [] }), GROUPS);

    expect(decision).toEqual({
      kind: 'revoke',
      requests: [
        {
          kind: 'revoke',
          requestId: 'jira:ACCESS-12',
          requestedBy: 'jira:unknown',
          reason: 'ACCESS-12 moved to Declined',
          source: 'eks-access-broker.webhooks',
        },
      ],
    });
  });

  it('revokes when a status is both closed and approved in the rules', () => {
    const config = { ...CONFIG, statuses: { ...CONFIG.statuses, closed: ['Approved'] } };

    expect(decideJira(input({ config }), GROUPS).kind).toBe('revoke');
  });
});

describe('a Jira issue moved to an extension status', () => {
  const extended = (changelog: readonly JiraChange[], fields: Record<string, unknown> = {}) =>
    input({
      event: event({ status: 'Extension Approved', user: BOB }),
      issue: issue({ status: 'Extension Approved' }, fields),
      changelog,
    });
  const EXTENSION_BY_BOB = move('10070', 'Extension Approved', BOB, 'Bob Approver');

  it('extends the grant by the extension hours, naming the transition so it extends once', () => {
    const decision = decideJira(extended([CREATED, APPROVED_BY_BOB, EXTENSION_BY_BOB]), GROUPS);

    expect(jiraApproverToCheck(extended([CREATED, APPROVED_BY_BOB, EXTENSION_BY_BOB]))).toBe(BOB);
    expect(decision).toEqual({
      kind: 'extend',
      request: {
        kind: 'extend',
        requestId: 'jira:ACCESS-12',
        durationSeconds: 7200,
        requestedBy: 'jira:acc-carol',
        reason: 'ACCESS-12 extension approved in Jira by jira:acc-bob (history 10070)',
        source: 'eks-access-broker.webhooks',
      },
      approvedBy: 'jira:acc-bob (Bob Approver)',
    });
  });

  it("asks for the same extension after the summary and the approver's display name change", () => {
    const before = decideJira(extended([CREATED, APPROVED_BY_BOB, EXTENSION_BY_BOB]), GROUPS);
    const renamed = move('10070', 'Extension Approved', BOB, 'Robert Approver-Smith');

    const after = decideJira(
      {
        ...extended([CREATED, APPROVED_BY_BOB, renamed]),
        issue: issue({ status: 'Extension Approved', summary: 'Other' }),
      },
      GROUPS,
    );

    expect([before.kind, after.kind]).toEqual(['extend', 'extend']);
    expect(after.kind === 'extend' && after.request).toEqual(before.kind === 'extend' && before.request);
    expect(after.kind === 'extend' && after.request.reason).toBe(
      'ACCESS-12 extension approved in Jira by jira:acc-bob (history 10070)',
    );
  });

  it('asks for a new extension for each extension transition, named by its history id', () => {
    const again = [
      CREATED,
      APPROVED_BY_BOB,
      EXTENSION_BY_BOB,
      move('10080', 'Open', CAROL),
      move('10081', 'Extension Approved', BOB, 'Bob Approver'),
    ];

    const decision = decideJira(extended(again), GROUPS);

    expect(decision.kind === 'extend' && decision.request.reason).toBe(
      'ACCESS-12 extension approved in Jira by jira:acc-bob (history 10081)',
    );
  });

  it('refuses an extension approved by the reporter', () => {
    const decision = decideJira(
      extended([CREATED, APPROVED_BY_BOB, move('10070', 'Extension Approved', CAROL)]),
      GROUPS,
    );

    expect(decision).toEqual(
      refusal('SELF_APPROVAL', 'jira:acc-carol reported ACCESS-12 and may not approve it', {
        requestType: 'Access Extend Requested',
      }),
    );
  });

  it('refuses an extension whose hours field is empty', () => {
    const decision = decideJira(extended([EXTENSION_BY_BOB], { customfield_10105: null }), GROUPS);

    expect(decision).toEqual(
      refusal(
        'INVALID_FIELD',
        'Jira field customfield_10105 (extensionHours) is empty: it must hold the hours to add',
        { field: 'detail.durationSeconds', requestType: 'Access Extend Requested' },
      ),
    );
  });

  it('refuses an extension whose hours are not a number', () => {
    const decision = decideJira(extended([EXTENSION_BY_BOB], { customfield_10105: '-2' }), GROUPS);

    expect(decision).toEqual(
      refusal(
        'INVALID_FIELD',
        'Jira field customfield_10105 (extensionHours) must be a number of hours, got "-2"',
        { field: 'detail.durationSeconds', requestType: 'Access Extend Requested' },
      ),
    );
  });

  it('refuses an extension when the integration maps no extension field', () => {
    const { extensionHours: _, ...fields } = CONFIG.fields;
    const decision = decideJira({ ...extended([EXTENSION_BY_BOB]), config: { ...CONFIG, fields } }, GROUPS);

    expect(decision).toEqual(
      refusal(
        'INVALID_FIELD',
        'the integration maps no extensionHours field, so an extension cannot be read',
        { field: 'detail.durationSeconds', requestType: 'Access Extend Requested' },
      ),
    );
  });
});

describe('decideJira on generated issues', () => {
  const PEOPLE = [CAROL, BOB, DAVE, ALICE, undefined] as const;
  const STATUSES = ['Open', 'Approved', 'Extension Approved', 'Done', 'In Progress'] as const;

  const change = fc.record({
    id: fc.stringMatching(/^[0-9]{1,6}$/),
    author: fc.constantFrom(...PEOPLE),
    to: fc.constantFrom(...STATUSES),
  });

  /** The approver as the design defines it: the author of the latest move into the current status. */
  const approverOf = (changes: readonly JiraChange[], status: string) =>
    changes.findLast((c) => c.items.some((i) => i.field === 'status' && i.toString === status))?.author;

  it('never grants nor extends when the approver is the reporter', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.constantFrom(...PEOPLE),
        fc.constantFrom(...STATUSES),
        fc.array(change, { maxLength: 6 }),
        fc.subarray(GROUPS),
        (reporter, status, changes, groups) => {
          const changelog = changes.map((c) => move(c.id, c.to, c.author));
          const { reporter: _, ...unreported } = issue({ status });
          const read: JiraIssue = reporter === undefined ? unreported : { ...unreported, reporter };

          const decision = decideJira(input({ issue: read, changelog }), groups);

          const approver = approverOf(changelog, status);
          seen.add(decision.kind === 'refuse' ? decision.rejection.code : decision.kind);
          if (decision.kind === 'grant' || decision.kind === 'extend') {
            expect(approver).toBeDefined();
            expect(approver).not.toBe(reporter);
            expect(decision.approvedBy).toBe(`jira:${approver}`);
            expect(groups).toContain('eks-access-approvers');
          }
        },
      ),
      { numRuns: 500 },
    );
    // Both sides were tried: access given, and refused for self-approval.
    expect([...seen]).toEqual(expect.arrayContaining(['grant', 'extend', 'SELF_APPROVAL', 'revoke']));
  });

  it('never throws, whatever the mapped fields hold', () => {
    const value = fc.oneof(
      fc.anything(),
      fc.string(),
      fc.record({ value: fc.oneof(fc.string(), fc.integer(), fc.anything()) }),
      fc.array(fc.oneof(fc.string(), fc.record({ value: fc.string() }), fc.record({ name: fc.string() }))),
      fc.record({ type: fc.constant('doc'), content: fc.anything() }),
      fc.double(),
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...Object.values(CONFIG.fields)), value),
        fc.string(),
        (fields, summary) => {
          const decision = decideJira(input({ issue: issue({ summary }, fields) }), GROUPS);

          expect(['grant', 'refuse']).toContain(decision.kind);
          if (decision.kind === 'refuse') expect(decision.rejection.code).toBe('INVALID_FIELD');
        },
      ),
      { numRuns: 1000 },
    );
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RECEIVE_COUNT } from '../../functions/config/defaults';
import { LOCAL_RESOURCE_NAMES } from '../../functions/config/names';
import { runtime } from '../../functions/runtime';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import type { FakeJira } from '../../infra/local/jira/server';
import { LOCAL_JIRA_WEBHOOK_SECRET } from '../../infra/local/vendors';
import { waitFor } from '../support/poll';
import {
  ALICE,
  BOB,
  CAROL,
  comments,
  DAVE,
  entryOf,
  freshRole,
  jiraOf,
  mutationsOf,
  outcome,
  outcomeTypes,
  policiesOf,
  postWebhook,
  queuedRequests,
  settle,
  TRANSITIONS,
  VIEW,
  waitingIssue,
} from '../support/ticket-flows';
import { JIRA_SAMPLE_FILE, jiraSignature, sample, withPath } from '../support/webhooks';

/**
 * The Jira Service Management flow end to end through the local edge: the fake Jira sends signed webhooks to
 * /webhooks/jira over HTTP, the webhook function queues them, the SQS intake reads each issue back from the
 * fake Jira's REST API, the rules decide, EKS (the emulator) is changed, and every outcome is written back to
 * the issue as a comment by the write-back function. Redelivery tests need the queues' visibility timeout
 * short (3 s instead of 30 s), still well above how long a delivery takes, so no message comes back while
 * its first delivery is running.
 */
const VISIBILITY_SECONDS = 3;
const PAYMENTS = { type: 'namespace', namespaces: ['payments'] };
/** What the broker's DLQ path adds to an unreadable ticket's refusal. */
const DEAD_LETTERED = 'the request failed on every delivery and was moved to a dead-letter queue';

let broker: LocalBroker;
let jira: FakeJira;

beforeAll(async () => {
  // A subject held by another invocation is given back quickly: the message comes back with the queue.
  process.env.LOCK_WAIT_MS = '300';
  broker = await startLocalBroker({
    port: 0,
    sweepIntervalMs: 0,
    queueVisibilityTimeoutSeconds: VISIBILITY_SECONDS,
  });
  jira = jiraOf(broker);
});

afterEach(async () => {
  broker.edge.eks.faults.configure({});
  await settle(broker);
});

afterAll(async () => {
  await broker?.close();
});

function accountOf(email: string): string {
  return jira.user(email).accountId;
}

/** How an outcome names a Jira user: `jira:<accountId> (<display name>)`. */
function person(email: string): string {
  const user = jira.user(email);
  return `jira:${user.accountId} (${user.displayName})`;
}

/** The REST calls of the broker's account matching a method and path, with their status. */
function callsTo(method: string, path: RegExp): number[] {
  return jira
    .calls()
    .filter((call) => call.method === method && path.test(call.url.split('?')[0] ?? ''))
    .map((call) => call.status);
}

function issuePath(key: string): RegExp {
  return new RegExp(`^/rest/api/3/issue/${key}$`);
}

/** The sample issue_updated webhook (carol moved the issue to Approved), about `key`. */
function approvalClaim(key: string): string {
  return JSON.stringify(withPath(sample(JIRA_SAMPLE_FILE), ['issue', 'key'], key));
}

function signedHeaders(body: string, secret = LOCAL_JIRA_WEBHOOK_SECRET): Record<string, string> {
  return {
    'content-type': 'application/json; charset=utf-8',
    'x-atlassian-webhook-identifier': crypto.randomUUID(),
    'x-hub-signature': jiraSignature(secret, body),
  };
}

describe('an approved issue', () => {
  it('grants the exact scope its fields ask, comments what EKS holds, and revokes with a comment when closed', async () => {
    const principalArn = freshRole('bob');
    const key = await waitingIssue(broker, principalArn, ALICE);
    const requestId = `jira:${key}`;

    jira.transition(key, TRANSITIONS.approve, CAROL);
    const granted = await outcome(broker, requestId, 'Access Granted');
    const [grantComment] = await comments(broker, key, 1);

    expect(policiesOf(broker, principalArn)).toEqual([[VIEW, PAYMENTS]]);
    expect(granted.detail).toMatchObject({
      clusterName: 'demo',
      principalArn,
      policyArn: VIEW,
      accessScope: PAYMENTS,
      effectiveScope: PAYMENTS,
      durationSeconds: 7200,
      breakGlass: false,
      requestedBy: `jira:${accountOf(ALICE)}`,
      ticket: { system: 'jira', key },
      origin: { integration: 'jira', requestedByProof: 'read-back', approvedBy: person(CAROL) },
    });
    const expiresAt = String(granted.detail.expiresAt);
    expect(Math.abs(Date.parse(expiresAt) - (Date.now() + 7200_000))).toBeLessThan(30_000);
    expect(grantComment).toBe(
      `Access granted (request ${requestId}).\n\n` +
        `EKS holds AmazonEKSViewPolicy for ${principalArn} on cluster demo, in namespaces payments. ` +
        `The broker takes it back at ${expiresAt}.\n\n` +
        `Approved by ${person(CAROL)}.`,
    );
    expect(jira.comments(key).map((comment) => comment.authorEmail)).toEqual([
      'eks-access-broker@example.com',
    ]);
    expect(await runtime().store.findLease(requestId)).toMatchObject({
      status: 'active',
      ruleId: 'developers-view-edit',
    });

    jira.transition(key, TRANSITIONS.close, ALICE);
    const revoked = await outcome(broker, requestId, 'Access Revoked');
    const [, revokeComment] = await comments(broker, key, 2);
    await settle(broker);

    expect(revoked.detail).toMatchObject({
      reason: 'requested',
      revokedBy: { integration: 'jira', requestedByProof: 'read-back', approvedBy: person(ALICE) },
    });
    expect(revokeComment).toBe(
      `Access revoked (request ${requestId}).\n\n` +
        `AmazonEKSViewPolicy for ${principalArn} on cluster demo was removed from EKS at ` +
        `${String(revoked.detail.revokedAt)}, as requested by ${person(ALICE)}.`,
    );
    expect(entryOf(broker, principalArn)).toBeUndefined();
    expect(mutationsOf(broker, principalArn)).toEqual([
      'CreateAccessEntry',
      'AssociateAccessPolicy',
      'DeleteAccessEntry',
    ]);
    expect(outcomeTypes(broker, requestId)).toEqual([['Access Granted'], ['Access Revoked']]);
    expect(await runtime().store.findLease(requestId)).toMatchObject({
      status: 'ended',
      endReason: 'requested',
    });
  });

  it('extends by the extension field when moved to Extension Approved, and comments the new expiry', async () => {
    const principalArn = freshRole('extend');
    const key = await waitingIssue(broker, principalArn, ALICE, { customfield_10105: 3 });
    const requestId = `jira:${key}`;
    jira.transition(key, TRANSITIONS.approve, CAROL);
    const granted = await outcome(broker, requestId, 'Access Granted');
    await comments(broker, key, 1);

    jira.transition(key, TRANSITIONS.approveExtension, CAROL);
    const extended = await outcome(broker, requestId, 'Access Extended');
    const [, extendComment] = await comments(broker, key, 2);
    await settle(broker);

    const expiresAt = String(extended.detail.expiresAt);
    expect(extended.detail.previousExpiresAt).toBe(granted.detail.expiresAt);
    expect(Date.parse(expiresAt) - Date.parse(String(granted.detail.expiresAt))).toBe(3 * 3600_000);
    expect(extendComment).toBe(
      `Access extended (request ${requestId}).\n\n` +
        `EKS holds AmazonEKSViewPolicy for ${principalArn} on cluster demo, in namespaces payments. ` +
        `The broker takes it back at ${expiresAt}.\n\n` +
        `It was until ${String(granted.detail.expiresAt)}; extended by ${person(CAROL)}.`,
    );
    expect(outcomeTypes(broker, requestId)).toEqual([['Access Granted'], ['Access Extended']]);
    expect(policiesOf(broker, principalArn)).toEqual([[VIEW, PAYMENTS]]);
    expect((await runtime().store.findLease(requestId))?.expiresAt).toBe(Date.parse(expiresAt) / 1000);
  });

  it('keeps one lease when approved twice: the second approval publishes and changes nothing', async () => {
    const principalArn = freshRole('twice');
    const key = await waitingIssue(broker, principalArn, ALICE, { customfield_10105: 1 });
    const requestId = `jira:${key}`;
    jira.transition(key, TRANSITIONS.approve, CAROL);
    await outcome(broker, requestId, 'Access Granted');
    jira.transition(key, TRANSITIONS.approveExtension, CAROL);
    await outcome(broker, requestId, 'Access Extended');
    await settle(broker);
    const eksCalls = broker.edge.eks.totalCalls();

    jira.transition(key, TRANSITIONS.backToApproved, CAROL);
    await settle(broker);

    expect(jira.issue(key)).toMatchObject({ fields: { status: { name: 'Approved' } } });
    expect(outcomeTypes(broker, requestId)).toEqual([['Access Granted'], ['Access Extended']]);
    expect(mutationsOf(broker, principalArn)).toEqual(['CreateAccessEntry', 'AssociateAccessPolicy']);
    expect(broker.edge.eks.totalCalls()).toBe(eksCalls);
    expect(jira.comments(key)).toHaveLength(2);
  });

  it('ends with no access when the issue is closed while its grant is still being applied', async () => {
    const principalArn = freshRole('closed-early');
    const key = await waitingIssue(broker, principalArn, ALICE);
    const requestId = `jira:${key}`;
    // The grant holds the subject for 1.5 s between creating the entry and associating the policy.
    broker.edge.eks.faults.configure({ latency: { fixedMs: 1500 }, operations: ['AssociateAccessPolicy'] });

    jira.transition(key, TRANSITIONS.approve, CAROL);
    await waitFor('the grant in flight', () =>
      mutationsOf(broker, principalArn).includes('CreateAccessEntry'),
    );
    jira.transition(key, TRANSITIONS.close, ALICE);
    await outcome(broker, requestId, 'Access Revoked', 30_000);
    await comments(broker, key, 2);
    await settle(broker);

    expect(outcomeTypes(broker, requestId)).toEqual([['Access Granted'], ['Access Revoked']]);
    expect(entryOf(broker, principalArn)).toBeUndefined();
    expect(mutationsOf(broker, principalArn)).toEqual([
      'CreateAccessEntry',
      'AssociateAccessPolicy',
      'DeleteAccessEntry',
    ]);
    expect(await runtime().store.findLease(requestId)).toMatchObject({
      status: 'ended',
      endReason: 'requested',
    });
    expect(jira.comments(key).map((comment) => comment.text.split('\n')[0])).toEqual([
      `Access granted (request ${requestId}).`,
      `Access revoked (request ${requestId}).`,
    ]);
  }, 60_000);
});

describe('an approval the broker refuses', () => {
  it('refuses the reporter approving her own issue (SELF_APPROVAL), writes it back, and changes nothing in EKS', async () => {
    const principalArn = freshRole('self');
    const key = await waitingIssue(broker, principalArn, ALICE);
    const requestId = `jira:${key}`;
    const mutations = broker.edge.eks.mutations().length;

    jira.transition(key, TRANSITIONS.approve, ALICE);
    const rejected = await outcome(broker, requestId, 'Access Grant Rejected');
    const [comment] = await comments(broker, key, 1);
    await settle(broker);

    const reason = `${person(ALICE)} reported ${key} and may not approve it`;
    expect(rejected.detail).toMatchObject({ code: 'SELF_APPROVAL', reason, ticket: { system: 'jira', key } });
    expect(comment).toBe(`Access request refused (request ${requestId}).\n\nSELF_APPROVAL: ${reason}`);
    expect(broker.edge.eks.mutations()).toHaveLength(mutations);
    expect(outcomeTypes(broker, requestId)).toEqual([['Access Grant Rejected', 'SELF_APPROVAL']]);
    expect(await runtime().store.findLease(requestId)).toBeUndefined();
  });

  it("answers a refusal once: the issue's later edits and comments, the broker's own included, ask nothing", async () => {
    const principalArn = freshRole('loop');
    const key = await waitingIssue(broker, principalArn, ALICE);
    jira.transition(key, TRANSITIONS.approve, ALICE);
    await comments(broker, key, 1);
    await settle(broker);
    const queued = queuedRequests(broker);

    // An edit, and the webhook Jira sends for the broker's own comment (issue_commented, no status change).
    jira.edit(key, { summary: 'typo fixed' }, ALICE);
    const body = JSON.stringify({
      timestamp: Date.now(),
      webhookEvent: 'jira:issue_updated',
      issue_event_type_name: 'issue_commented',
      user: { accountId: jira.user('eks-access-broker@example.com').accountId },
      issue: jira.issue(key),
      comment: {},
    });
    const answer = await postWebhook(broker, 'jira', body, {
      'content-type': 'application/json',
      'x-atlassian-webhook-identifier': crypto.randomUUID(),
      'x-hub-signature': jiraSignature(LOCAL_JIRA_WEBHOOK_SECRET, body),
    });
    await settle(broker);

    expect(answer).toEqual({
      status: 202,
      body: { ignored: `the webhook names no status change of ${key}` },
    });
    expect(queuedRequests(broker)).toBe(queued);
    expect(jira.comments(key)).toHaveLength(1);
    expect(outcomeTypes(broker, `jira:${key}`)).toEqual([['Access Grant Rejected', 'SELF_APPROVAL']]);
  });

  it("refuses the beneficiary's owner approving access for her own role (SELF_APPROVAL)", async () => {
    const principalArn = 'arn:aws:iam::111122223333:role/dev-alice';
    const key = await waitingIssue(broker, principalArn, BOB);
    const requestId = `jira:${key}`;
    const mutations = broker.edge.eks.mutations().length;

    jira.transition(key, TRANSITIONS.approve, ALICE);
    const rejected = await outcome(broker, requestId, 'Access Grant Rejected');
    const [comment] = await comments(broker, key, 1);
    await settle(broker);

    const reason = `${person(ALICE)} owns ${principalArn} and may not approve access for it`;
    expect(rejected.detail).toMatchObject({ code: 'SELF_APPROVAL', reason });
    expect(comment).toBe(`Access request refused (request ${requestId}).\n\nSELF_APPROVAL: ${reason}`);
    expect(broker.edge.eks.mutations()).toHaveLength(mutations);
    expect(entryOf(broker, principalArn)).toBeUndefined();
  });

  it('refuses an approver outside eks-access-approvers (APPROVER_NOT_IN_GROUP), and grants nothing', async () => {
    const principalArn = freshRole('outsider');
    const key = await waitingIssue(broker, principalArn, ALICE);
    const requestId = `jira:${key}`;

    jira.transition(key, TRANSITIONS.approve, DAVE);
    const rejected = await outcome(broker, requestId, 'Access Grant Rejected');
    const [comment] = await comments(broker, key, 1);
    await settle(broker);

    const reason = `${person(DAVE)} moved ${key} to Approved but is not a member of eks-access-approvers`;
    expect(rejected.detail).toMatchObject({ code: 'APPROVER_NOT_IN_GROUP', reason });
    expect(comment).toBe(
      `Access request refused (request ${requestId}).\n\nAPPROVER_NOT_IN_GROUP: ${reason}`,
    );
    expect(mutationsOf(broker, principalArn)).toEqual([]);
    expect(outcomeTypes(broker, requestId)).toEqual([['Access Grant Rejected', 'APPROVER_NOT_IN_GROUP']]);
  });

  it('refuses a correctly signed webhook claiming an approval the issue read back does not show (APPROVAL_NOT_FOUND)', async () => {
    const principalArn = freshRole('claimed');
    const key = await waitingIssue(broker, principalArn, ALICE);
    const requestId = `jira:${key}`;
    const body = approvalClaim(key);

    const answer = await postWebhook(broker, 'jira', body, signedHeaders(body));
    const rejected = await outcome(broker, requestId, 'Access Grant Rejected');
    const [comment] = await comments(broker, key, 1);
    await settle(broker);

    const reason = `the webhook said ${key} moved to Approved; the issue read back is in Waiting for approval`;
    expect(answer).toEqual({ status: 202, body: { queued: true } });
    expect(rejected.detail).toMatchObject({ code: 'APPROVAL_NOT_FOUND', reason });
    expect(comment).toBe(`Access request refused (request ${requestId}).\n\nAPPROVAL_NOT_FOUND: ${reason}`);
    expect(mutationsOf(broker, principalArn)).toEqual([]);
    expect(jira.issue(key)).toMatchObject({ fields: { status: { name: 'Waiting for approval' } } });
  });
});

describe('webhooks the broker does not queue', () => {
  it('answers 401 to a webhook signed with a wrong secret, or not signed, and queues nothing', async () => {
    const principalArn = freshRole('forged');
    const key = await waitingIssue(broker, principalArn, ALICE);
    const body = approvalClaim(key);
    const queued = queuedRequests(broker);
    const { 'x-hub-signature': _, ...unsigned } = signedHeaders(body);

    const forged = await postWebhook(broker, 'jira', body, signedHeaders(body, 'not-the-webhook-secret'));
    const missing = await postWebhook(broker, 'jira', body, unsigned);
    await settle(broker);

    expect(forged.status).toBe(401);
    expect(missing.status).toBe(401);
    expect(queuedRequests(broker)).toBe(queued);
    expect(outcomeTypes(broker, `jira:${key}`)).toEqual([]);
    expect(jira.comments(key)).toEqual([]);
    expect(mutationsOf(broker, principalArn)).toEqual([]);
  });

  it('answers 200 duplicate to a redelivered webhook (same identifier, same bytes), and queues nothing', async () => {
    const principalArn = freshRole('redelivered');
    const key = await waitingIssue(broker, principalArn, ALICE);
    const requestId = `jira:${key}`;
    jira.transition(key, TRANSITIONS.approve, CAROL);
    await outcome(broker, requestId, 'Access Granted');
    await settle(broker);
    const approval = jira
      .deliveries()
      .find((delivery) => delivery.issueKey === key && delivery.body.includes('"toString":"Approved"'));
    const queued = queuedRequests(broker);

    const answer = await postWebhook(broker, 'jira', approval?.body ?? '', approval?.headers ?? {});
    await settle(broker);

    expect(approval?.attempts).toEqual([{ retry: 0, status: 202 }]);
    expect(answer).toEqual({ status: 200, body: { duplicate: true } });
    expect(queuedRequests(broker)).toBe(queued);
    expect(outcomeTypes(broker, requestId)).toEqual([['Access Granted']]);
    expect(jira.comments(key)).toHaveLength(1);
  });
});

describe('Jira down', () => {
  it('during read-back on every delivery: dead-lettered, refused TICKET_UNREADABLE, written back once Jira answers', async () => {
    const principalArn = freshRole('unreadable');
    const key = await waitingIssue(broker, principalArn, ALICE);
    const requestId = `jira:${key}`;
    const readsBefore = callsTo('GET', issuePath(key)).length;
    jira.failNext(MAX_RECEIVE_COUNT, 503, { method: 'GET', path: issuePath(key) });

    jira.transition(key, TRANSITIONS.approve, CAROL);
    const rejected = await outcome(broker, requestId, 'Access Grant Rejected', 45_000);
    const [comment] = await comments(broker, key, 1);
    await settle(broker);

    // What the reason says of the consequences is the product's wording; what it must name is tested.
    const reason = String(rejected.detail.reason);
    expect(rejected.detail).toMatchObject({ code: 'TICKET_UNREADABLE', ticket: { system: 'jira', key } });
    expect(reason.startsWith(`the broker could not read jira ${key} back on any delivery`)).toBe(true);
    expect(reason.endsWith(`: ${DEAD_LETTERED}`)).toBe(true);
    expect(comment).toBe(`Access request refused (request ${requestId}).\n\nTICKET_UNREADABLE: ${reason}`);
    expect(callsTo('GET', issuePath(key)).slice(readsBefore)).toEqual(Array(MAX_RECEIVE_COUNT).fill(503));
    expect(broker.edge.queues.messages(LOCAL_RESOURCE_NAMES.requestsDeadLetterQueue)).toHaveLength(1);
    expect(mutationsOf(broker, principalArn)).toEqual([]);
    expect(outcomeTypes(broker, requestId)).toEqual([['Access Grant Rejected', 'TICKET_UNREADABLE']]);
  }, 60_000);

  it('during read-back on fewer deliveries than the retries: granted after redelivery', async () => {
    const principalArn = freshRole('flaky-read');
    const key = await waitingIssue(broker, principalArn, ALICE);
    const requestId = `jira:${key}`;
    const readsBefore = callsTo('GET', issuePath(key)).length;
    jira.failNext(2, 503, { method: 'GET', path: issuePath(key) });

    jira.transition(key, TRANSITIONS.approve, CAROL);
    await outcome(broker, requestId, 'Access Granted', 30_000);
    await comments(broker, key, 1);
    await settle(broker);

    // The third delivery reads the issue, then once more after the grant (closed meanwhile?).
    expect(callsTo('GET', issuePath(key)).slice(readsBefore)).toEqual([503, 503, 200, 200]);
    expect(policiesOf(broker, principalArn)).toEqual([[VIEW, PAYMENTS]]);
    expect(outcomeTypes(broker, requestId)).toEqual([['Access Granted']]);
    expect(jira.comments(key)).toHaveLength(1);
  }, 60_000);

  it('during write-back: the grant stands, and the comment arrives after redelivery', async () => {
    const principalArn = freshRole('flaky-comment');
    const key = await waitingIssue(broker, principalArn, ALICE);
    const requestId = `jira:${key}`;
    const commentPath = new RegExp(`^/rest/api/3/issue/${key}/comment$`);
    jira.failNext(1, 503, { method: 'POST', path: commentPath });

    jira.transition(key, TRANSITIONS.approve, CAROL);
    await outcome(broker, requestId, 'Access Granted');
    await waitFor('the refused comment', () => callsTo('POST', commentPath).length === 1);
    const heldMeanwhile = policiesOf(broker, principalArn);
    const [comment] = await comments(broker, key, 1, 30_000);
    await settle(broker);

    expect(heldMeanwhile).toEqual([[VIEW, PAYMENTS]]);
    expect(callsTo('POST', commentPath)).toEqual([503, 201]);
    expect(comment?.startsWith(`Access granted (request ${requestId}).`)).toBe(true);
    expect(jira.comments(key)).toHaveLength(1);
    expect(policiesOf(broker, principalArn)).toEqual([[VIEW, PAYMENTS]]);
    expect(mutationsOf(broker, principalArn)).toEqual(['CreateAccessEntry', 'AssociateAccessPolicy']);
    expect(outcomeTypes(broker, requestId)).toEqual([['Access Granted']]);
  }, 60_000);
});

/**
 * The ticket flows end to end, as the tests drive them: the local broker with its fake Jira and PagerDuty,
 * webhooks over real HTTP, and waits on what is asynchronous (webhook deliveries, the bus, the queues and the
 * write-back) by polling with a deadline.
 */
import type { EventBridgeEvent } from 'aws-lambda';
import { LOCAL_RESOURCE_NAMES } from '../../functions/config/names';
import type { LocalBroker } from '../../infra/local/broker';
import type { FakeJira } from '../../infra/local/jira/server';
import type { FakePagerDuty } from '../../infra/local/pagerduty/server';
import { waitFor } from './poll';

export type Outcome = EventBridgeEvent<string, Record<string, unknown>>;

export const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
export const ADMIN = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy';

/** The seed users of infra/local/jira/site.json, by email. */
export const ALICE = 'alice@example.com';
export const BOB = 'bob@example.com';
export const CAROL = 'carol@example.com';
export const DAVE = 'dave@example.com';

/** The workflow transitions of infra/local/jira/site.json, by id. */
export const TRANSITIONS = {
  requestApproval: '11',
  approve: '21',
  approveExtension: '41',
  backToApproved: '51',
  close: '61',
} as const;

/** Seed users and services of infra/local/pagerduty/account.json. */
export const PD_ALICE = 'PUSR0AL';
export const PD_BOB = 'PUSR0BO';
export const PD_MAPPED_SERVICE = 'PSVC001';
export const ONCALL_ALICE = 'arn:aws:iam::111122223333:role/oncall-alice';

export function jiraOf(broker: LocalBroker): FakeJira {
  const jira = broker.vendors.jira.get('jira');
  if (!jira) throw new Error('the local broker runs no fake Jira for integration jira');
  return jira;
}

export function pagerDutyOf(broker: LocalBroker): FakePagerDuty {
  const pagerDuty = broker.vendors.pagerDuty.get('pagerduty');
  if (!pagerDuty) throw new Error('the local broker runs no fake PagerDuty for integration pagerduty');
  return pagerDuty;
}

/** A role no other test of the file uses, so its EKS entry and mutations are this test's alone. */
export function freshRole(name: string): string {
  return `arn:aws:iam::111122223333:role/dev-${name}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The fields of an ACCESS issue asking view access to namespace payments of cluster demo, for 2 hours. */
export function accessRequestFields(
  principalArn: string,
  overrides: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  return {
    project: { key: 'ACCESS' },
    issuetype: { name: 'Access request' },
    summary: 'View the payments namespace',
    customfield_10100: 'demo',
    customfield_10101: principalArn,
    customfield_10102: 'AmazonEKSViewPolicy',
    customfield_10103: 'payments',
    customfield_10104: 2,
    ...overrides,
  };
}

/** Creates an ACCESS issue as `reporter` and asks for approval: the issue waits for an approver. */
export async function waitingIssue(
  broker: LocalBroker,
  principalArn: string,
  reporter = ALICE,
  overrides: Readonly<Record<string, unknown>> = {},
): Promise<string> {
  const jira = jiraOf(broker);
  const { key } = jira.createIssue(accessRequestFields(principalArn, overrides), reporter);
  jira.transition(key, TRANSITIONS.requestApproval, reporter);
  await settle(broker);
  return key;
}

/**
 * Waits until nothing moves any more: every webhook delivered, every bus event handled, every queue (and its
 * consumer) idle, including the write-back of the outcomes those produced. Two rounds in a row with the same
 * counts are needed, as one step's end starts the next one.
 */
export async function settle(broker: LocalBroker, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    await broker.vendors.idle();
    await broker.edge.bus.idle();
    await broker.edge.queues.idle(undefined, { timeoutMs: Math.max(deadline - Date.now(), 1) });
    const now = JSON.stringify([
      broker.edge.bus.events().length,
      broker.edge.queues.queueNames().map((name) => broker.edge.queues.messages(name).length),
      [...broker.vendors.jira.values()].map((jira) => jira.deliveries().length),
      [...broker.vendors.pagerDuty.values()].map((pagerDuty) => pagerDuty.deliveries().length),
    ]);
    if (now === last) return;
    if (Date.now() > deadline) throw new Error(`the local broker did not settle within ${timeoutMs} ms`);
    last = now;
  }
}

/** The outcome events of one request, oldest first. */
export function outcomesFor(broker: LocalBroker, requestId: string): Outcome[] {
  return broker.outcomes().filter((event) => event.detail.requestId === requestId);
}

/** `[detail-type, code]` of one request's outcomes, oldest first (code: rejections only). */
export function outcomeTypes(broker: LocalBroker, requestId: string): (string | undefined)[][] {
  return outcomesFor(broker, requestId).map((event) => [
    event['detail-type'],
    ...(typeof event.detail.code === 'string' ? [event.detail.code] : []),
  ]);
}

/** Waits for one request's outcome of this type, and returns it. */
export function outcome(
  broker: LocalBroker,
  requestId: string,
  detailType: string,
  timeoutMs = 20_000,
): Promise<Outcome> {
  return waitFor(
    `${detailType} for ${requestId}`,
    () => outcomesFor(broker, requestId).find((event) => event['detail-type'] === detailType),
    timeoutMs,
  );
}

/** Waits until the issue has `count` comments, and returns them (their text). */
export function comments(
  broker: LocalBroker,
  key: string,
  count: number,
  timeoutMs = 20_000,
): Promise<string[]> {
  return waitFor(
    `${count} comment(s) on ${key}`,
    () => {
      const texts = jiraOf(broker)
        .comments(key)
        .map((comment) => comment.text);
      return texts.length >= count ? texts : undefined;
    },
    timeoutMs,
  );
}

/** Waits until the incident has `count` notes, and returns them (their content). */
export function notes(
  broker: LocalBroker,
  incidentId: string,
  count: number,
  timeoutMs = 20_000,
): Promise<string[]> {
  return waitFor(
    `${count} note(s) on ${incidentId}`,
    () => {
      const contents = pagerDutyOf(broker)
        .notes(incidentId)
        .map((note) => note.content);
      return contents.length >= count ? contents : undefined;
    },
    timeoutMs,
  );
}

/** The access entry of a principal on cluster demo, as EKS holds it. */
export function entryOf(broker: LocalBroker, principalArn: string) {
  const demo = broker.edge.eks.snapshot().find((cluster) => cluster.clusterName === 'demo');
  return demo?.entries.find((entry) => entry.principalArn === principalArn);
}

/** The policies EKS holds for a principal on cluster demo: `[policyArn, accessScope]`. */
export function policiesOf(broker: LocalBroker, principalArn: string): unknown[][] {
  return (entryOf(broker, principalArn)?.policies ?? []).map((policy) => [
    policy.policyArn,
    policy.accessScope,
  ]);
}

/** The EKS mutations applied for a principal, their operations in order. */
export function mutationsOf(broker: LocalBroker, principalArn: string): string[] {
  return broker.edge.eks
    .mutations()
    .filter((mutation) => mutation.principalArn === principalArn && mutation.outcome === 'applied')
    .map((mutation) => mutation.operation);
}

/** How many messages the webhook function has queued on the requests queue so far. */
export function queuedRequests(broker: LocalBroker): number {
  return broker.edge.queues.messages(LOCAL_RESOURCE_NAMES.requestsQueue).length;
}

/** POSTs a webhook body to the edge's `/webhooks/<integration>`, as a vendor would. */
export async function postWebhook(
  broker: LocalBroker,
  integration: string,
  body: string,
  headers: Readonly<Record<string, string>>,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${broker.edge.url}/webhooks/${integration}`, {
    method: 'POST',
    headers,
    body,
  });
  return { status: response.status, body: await response.json() };
}

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readWebhook, type WebhookDelivery } from '../../../functions/core/tickets/webhook-hint';
import {
  JIRA_SAMPLE_FILE,
  JIRA_WEBHOOK,
  type Json,
  PAGERDUTY_SAMPLE_FILE,
  PAGERDUTY_WEBHOOK,
  sample,
  withPath,
} from '../../support/webhooks';

const RECEIVED_AT = '2026-05-28T21:46:41.000Z';
const DELIVERY_ID = '7c1f3d4e-1b2a-4c5d-8e9f-0a1b2c3d4e5f';
const CAROL = '712020:4f1e6c55-0a57-4d7c-9c0a-ca4010000003';

function jiraDelivery(body: unknown, headers: Record<string, string> = {}): WebhookDelivery {
  return {
    integration: 'jira',
    headers: { 'x-atlassian-webhook-identifier': DELIVERY_ID, ...headers },
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    receivedAt: RECEIVED_AT,
  };
}

function pagerDutyDelivery(body: unknown): WebhookDelivery {
  return {
    integration: 'pagerduty',
    headers: {},
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    receivedAt: RECEIVED_AT,
  };
}

/** The Jira sample with the value at `path` replaced (undefined: removed). */
const jira = (path: string, value: unknown): Json =>
  withPath(sample(JIRA_SAMPLE_FILE), path.split('.'), value);
/** The PagerDuty sample with the value at `path` replaced (undefined: removed). */
const pagerDuty = (path: string, value: unknown): Json =>
  withPath(sample(PAGERDUTY_SAMPLE_FILE), path.split('.'), value);

describe('readWebhook: Jira', () => {
  it('reads the sample issue update into the hint: the issue, the status moved to, the user who moved it', () => {
    // Arrange
    const delivery: WebhookDelivery = { ...jiraDelivery(''), body: readFileSync(JIRA_SAMPLE_FILE) };

    // Act
    const hint = readWebhook(JIRA_WEBHOOK, delivery);

    // Assert
    expect(hint).toStrictEqual({
      kind: 'event',
      event: {
        integration: 'jira',
        vendor: 'jira',
        deliveryId: DELIVERY_ID,
        ticket: 'ACCESS-12',
        event: 'jira:issue_updated',
        claims: { status: 'Approved', user: CAROL },
        receivedAt: RECEIVED_AT,
      },
    });
  });

  it('ignores an issue creation or an edit, which names no status change (the broker acts on moves only)', () => {
    // Arrange
    const created = withPath(jira('webhookEvent', 'jira:issue_created'), ['changelog'], undefined);
    const commented = jira('changelog.items', []);

    // Act
    const hints = [created, commented].map((body) => readWebhook(JIRA_WEBHOOK, jiraDelivery(body)));

    // Assert
    expect(hints).toStrictEqual([
      { kind: 'ignored', reason: 'the webhook names no status change of ACCESS-12' },
      { kind: 'ignored', reason: 'the webhook names no status change of ACCESS-12' },
    ]);
  });

  it("claims the last status item's move, and skips a custom field a site called status", () => {
    // Arrange
    const body = jira('changelog.items', [
      { field: 'status', fieldtype: 'jira', fieldId: 'status', toString: 'In Review' },
      { field: 'summary', fieldtype: 'jira', fieldId: 'summary', toString: 'new summary' },
      { field: 'status', fieldtype: 'jira', fieldId: 'status', toString: 'Extension Approved' },
      { field: 'status', fieldtype: 'custom', fieldId: 'customfield_10200', toString: 'Green' },
    ]);

    // Act
    const hint = readWebhook(JIRA_WEBHOOK, jiraDelivery(body));

    // Assert
    expect(hint.kind === 'event' ? hint.event.claims : hint).toStrictEqual({
      status: 'Extension Approved',
      user: CAROL,
    });
  });

  it('reads a webhook without a user (automation) without a claimed user', () => {
    // Act
    const hint = readWebhook(JIRA_WEBHOOK, jiraDelivery(jira('user', undefined)));

    // Assert
    expect(hint.kind === 'event' ? hint.event.claims : hint).toStrictEqual({ status: 'Approved' });
  });

  it.each([
    ['an issue deletion', 'jira:issue_deleted'],
    ['a comment', 'comment_created'],
  ])('ignores %s', (_, webhookEvent) => {
    // Act
    const hint = readWebhook(JIRA_WEBHOOK, jiraDelivery(jira('webhookEvent', webhookEvent)));

    // Assert
    expect(hint).toStrictEqual({
      kind: 'ignored',
      reason: `event ${webhookEvent} is not one the broker acts on`,
    });
  });

  it('ignores an issue of a project the integration does not name', () => {
    // Arrange
    const body = withPath(jira('issue.key', 'HR-3'), ['issue', 'fields', 'project', 'key'], 'HR');

    // Act
    const hint = readWebhook(JIRA_WEBHOOK, jiraDelivery(body));

    // Assert
    expect(hint).toStrictEqual({
      kind: 'ignored',
      reason: "project HR is not one of the integration's projects",
    });
  });

  it.each<[string, WebhookDelivery, string]>([
    ['a body that is not JSON', jiraDelivery('{"webhookEvent": '), 'the body is not JSON'],
    [
      'a body that is not UTF-8',
      { ...jiraDelivery(''), body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]) },
      'the body is not JSON',
    ],
    ['an empty body', jiraDelivery(''), 'the body is not JSON'],
    ['a JSON list', jiraDelivery([sample(JIRA_SAMPLE_FILE)]), 'the body is not a JSON object'],
    [
      'no delivery id',
      { ...jiraDelivery(sample(JIRA_SAMPLE_FILE)), headers: {} },
      'no X-Atlassian-Webhook-Identifier header',
    ],
    [
      'a delivery id with blanks',
      jiraDelivery(sample(JIRA_SAMPLE_FILE), { 'x-atlassian-webhook-identifier': 'one two' }),
      'X-Atlassian-Webhook-Identifier is not 1-128 printable characters',
    ],
    [
      'a delivery id too long',
      jiraDelivery(sample(JIRA_SAMPLE_FILE), { 'x-atlassian-webhook-identifier': 'a'.repeat(129) }),
      'X-Atlassian-Webhook-Identifier is not 1-128 printable characters',
    ],
    [
      'no webhookEvent',
      jiraDelivery(jira('webhookEvent', undefined)),
      'webhookEvent is missing or not a string',
    ],
    ['no issue', jiraDelivery(jira('issue', undefined)), 'issue is missing or not an object'],
    [
      'an issue key that is not one',
      jiraDelivery(jira('issue.key', 'ACCESS 12')),
      'issue.key is missing or not an issue key (PROJECT-123)',
    ],
    [
      'an issue key that is a number',
      jiraDelivery(jira('issue.key', 12)),
      'issue.key is missing or not an issue key (PROJECT-123)',
    ],
    [
      'no project',
      jiraDelivery(jira('issue.fields.project', undefined)),
      'issue.fields.project.key is missing or not a project key',
    ],
    [
      'a changelog without items',
      jiraDelivery(jira('changelog', { id: '1' })),
      'changelog.items is not a list of changes',
    ],
    [
      'a status change without toString',
      jiraDelivery(jira('changelog.items', [{ field: 'status', fieldId: 'status' }])),
      'changelog.items is not a list of changes',
    ],
    [
      'a change that is not an object',
      jiraDelivery(jira('changelog.items', ['status'])),
      'changelog.items is not a list of changes',
    ],
    [
      'an accountId that is not a string',
      jiraDelivery(jira('user.accountId', 42)),
      'user.accountId is not a string',
    ],
    ['a user that is not an object', jiraDelivery(jira('user', 'carol')), 'user.accountId is not a string'],
  ])('refuses %s as invalid', (_, delivery, reason) => {
    // Act
    const hint = readWebhook(JIRA_WEBHOOK, delivery);

    // Assert
    expect(hint).toStrictEqual({ kind: 'invalid', reason });
  });

  it('cuts a claimed status to 256 characters: it is kept only to be quoted', () => {
    // Arrange
    const body = jira('changelog.items', [{ field: 'status', fieldId: 'status', toString: 'x'.repeat(300) }]);

    // Act
    const hint = readWebhook(JIRA_WEBHOOK, jiraDelivery(body));

    // Assert
    expect(hint.kind === 'event' ? hint.event.claims.status : hint).toBe(`${'x'.repeat(256)}…`);
  });
});

describe('readWebhook: PagerDuty', () => {
  it('reads the sample acknowledgement into the hint: the incident, the event, the responder who acknowledged', () => {
    // Arrange
    const delivery: WebhookDelivery = { ...pagerDutyDelivery(''), body: readFileSync(PAGERDUTY_SAMPLE_FILE) };

    // Act
    const hint = readWebhook(PAGERDUTY_WEBHOOK, delivery);

    // Assert
    expect(hint).toStrictEqual({
      kind: 'event',
      event: {
        integration: 'pagerduty',
        vendor: 'pagerduty',
        deliveryId: '01DZQ7M0X0WQ3KJ5TAEKD1YQ0B',
        ticket: 'Q2K3J4H5G6F7D8',
        event: 'incident.acknowledged',
        claims: { user: 'PUSR0AL' },
        receivedAt: RECEIVED_AT,
      },
    });
  });

  it('reads a reopening (which may come back acknowledged: the read-back tells) with the user who reopened it', () => {
    // Act
    const hint = readWebhook(
      PAGERDUTY_WEBHOOK,
      pagerDutyDelivery(pagerDuty('event.event_type', 'incident.reopened')),
    );

    // Assert
    expect(hint.kind === 'event' && [hint.event.event, hint.event.claims]).toStrictEqual([
      'incident.reopened',
      { user: 'PUSR0AL' },
    ]);
  });

  it('reads a resolution by no one (agent null) without a claimed user', () => {
    // Arrange
    const body = withPath(pagerDuty('event.event_type', 'incident.resolved'), ['event', 'agent'], null);

    // Act
    const hint = readWebhook(PAGERDUTY_WEBHOOK, pagerDutyDelivery(body));

    // Assert
    expect(hint).toStrictEqual({
      kind: 'event',
      event: {
        integration: 'pagerduty',
        vendor: 'pagerduty',
        deliveryId: '01DZQ7M0X0WQ3KJ5TAEKD1YQ0B',
        ticket: 'Q2K3J4H5G6F7D8',
        event: 'incident.resolved',
        claims: {},
        receivedAt: RECEIVED_AT,
      },
    });
  });

  it('claims no user when a service acted (an integration resolving its incident)', () => {
    // Arrange
    const body = withPath(pagerDuty('event.event_type', 'incident.resolved'), ['event', 'agent'], {
      id: 'PSVC001',
      type: 'service_reference',
    });

    // Act
    const hint = readWebhook(PAGERDUTY_WEBHOOK, pagerDutyDelivery(body));

    // Assert
    expect(hint.kind === 'event' ? hint.event.claims : hint).toStrictEqual({});
  });

  it.each([
    ['a triggered incident (nobody acknowledged yet)', 'incident.triggered'],
    ['a reassignment', 'incident.reassigned'],
    ['an annotation', 'incident.annotated'],
    ['a service change', 'service.updated'],
  ])('ignores %s', (_, type) => {
    // Act
    const hint = readWebhook(PAGERDUTY_WEBHOOK, pagerDutyDelivery(pagerDuty('event.event_type', type)));

    // Assert
    expect(hint).toStrictEqual({ kind: 'ignored', reason: `event ${type} is not one the broker acts on` });
  });

  it('ignores an incident of a service the integration does not map', () => {
    // Arrange
    const body = pagerDuty('event.data.service', { id: 'POTHER1', type: 'service_reference' });

    // Act
    const hint = readWebhook(PAGERDUTY_WEBHOOK, pagerDutyDelivery(body));

    // Assert
    expect(hint).toStrictEqual({
      kind: 'ignored',
      reason: "service POTHER1 is not one of the integration's services",
    });
  });

  it.each<[string, WebhookDelivery, string]>([
    ['a body that is not JSON', pagerDutyDelivery('event'), 'the body is not JSON'],
    ['no event', pagerDutyDelivery({ messages: [] }), 'event is missing or not an object'],
    ['an event that is a list', pagerDutyDelivery({ event: [] }), 'event is missing or not an object'],
    [
      'no event id',
      pagerDutyDelivery(pagerDuty('event.id', undefined)),
      'event.id is missing or not 1-128 printable characters',
    ],
    [
      'an event id with a newline',
      pagerDutyDelivery(pagerDuty('event.id', 'a\nb')),
      'event.id is missing or not 1-128 printable characters',
    ],
    [
      'no event type',
      pagerDutyDelivery(pagerDuty('event.event_type', undefined)),
      'event.event_type is missing or not a string',
    ],
    [
      'an incident event about another resource',
      pagerDutyDelivery(pagerDuty('event.resource_type', 'service')),
      'event.resource_type is not incident',
    ],
    [
      'no data',
      pagerDutyDelivery(pagerDuty('event.data', undefined)),
      'event.data is missing or not an object',
    ],
    [
      'no incident id',
      pagerDutyDelivery(pagerDuty('event.data.id', undefined)),
      'event.data.id is missing or not a PagerDuty id',
    ],
    [
      'an incident id that is not one',
      pagerDutyDelivery(pagerDuty('event.data.id', '../incidents')),
      'event.data.id is missing or not a PagerDuty id',
    ],
    [
      'a service id that is not a string',
      pagerDutyDelivery(pagerDuty('event.data.service.id', 7)),
      'event.data.service.id is not a string',
    ],
    [
      'an agent id that is not a string',
      pagerDutyDelivery(pagerDuty('event.agent.id', ['PUSR0AL'])),
      'event.agent.id is not a string',
    ],
    [
      'an agent that is a string',
      pagerDutyDelivery(pagerDuty('event.agent', 'PUSR0AL')),
      'event.agent.id is not a string',
    ],
  ])('refuses %s as invalid', (_, delivery, reason) => {
    // Act
    const hint = readWebhook(PAGERDUTY_WEBHOOK, delivery);

    // Assert
    expect(hint).toStrictEqual({ kind: 'invalid', reason });
  });
});

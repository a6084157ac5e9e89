import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  acceptWebhook,
  DELIVERY_KEEP_SECONDS,
  MAX_WEBHOOK_BODY_BYTES,
  type WebhookCall,
  type WebhookDeps,
} from '../../functions/app/accept-webhook';
import { PermanentError, RetryableError } from '../../functions/core/errors';
import type { TicketEvent } from '../../functions/core/tickets/ticket-event';
import { MemoryLeaseTable } from '../support/fakes/memory-lease-table';
import { RecordingLog } from '../support/fakes/recording-log';
import { RecordingMetrics } from '../support/fakes/recording-metrics';
import { RecordingTicketEventQueue } from '../support/fakes/recording-ticket-event-queue';
import { StoredSecrets } from '../support/fakes/stored-secrets';
import {
  JIRA_SAMPLE_FILE,
  JIRA_WEBHOOK,
  jiraSignature,
  PAGERDUTY_SAMPLE_FILE,
  PAGERDUTY_WEBHOOK,
  pagerDutySignature,
  sample,
  WEBHOOK_RULES,
  withPath,
} from '../support/webhooks';

const NOW_MS = 1_780_000_000_000;
const RECEIVED_AT = new Date(NOW_MS).toISOString();
const JIRA_SECRET = 'jira-webhook-secret-2026';
const PAGERDUTY_SECRET = 'pagerduty-secret-new';
const JIRA_DELIVERY = '7c1f3d4e-1b2a-4c5d-8e9f-0a1b2c3d4e5f';
const PAGERDUTY_DELIVERY = '01DZQ7M0X0WQ3KJ5TAEKD1YQ0B';
const JIRA_BODY = readFileSync(JIRA_SAMPLE_FILE);
const PAGERDUTY_BODY = readFileSync(PAGERDUTY_SAMPLE_FILE);

const JIRA_EVENT: TicketEvent = {
  integration: 'jira',
  vendor: 'jira',
  deliveryId: JIRA_DELIVERY,
  ticket: 'ACCESS-12',
  event: 'jira:issue_updated',
  claims: { status: 'Approved', user: '712020:4f1e6c55-0a57-4d7c-9c0a-ca4010000003' },
  receivedAt: RECEIVED_AT,
};

const PAGERDUTY_EVENT: TicketEvent = {
  integration: 'pagerduty',
  vendor: 'pagerduty',
  deliveryId: PAGERDUTY_DELIVERY,
  ticket: 'Q2K3J4H5G6F7D8',
  event: 'incident.acknowledged',
  claims: { user: 'PUSR0AL' },
  receivedAt: RECEIVED_AT,
};

interface World {
  readonly deps: WebhookDeps;
  readonly secrets: StoredSecrets;
  readonly queue: RecordingTicketEventQueue;
  readonly table: MemoryLeaseTable;
  readonly log: RecordingLog;
  readonly metrics: RecordingMetrics;
}

function world(): World {
  const secrets = new StoredSecrets({
    [JIRA_WEBHOOK.secret]: JIRA_SECRET,
    [PAGERDUTY_WEBHOOK.secret]: PAGERDUTY_SECRET,
  });
  const queue = new RecordingTicketEventQueue();
  const table = new MemoryLeaseTable();
  const log = new RecordingLog();
  const metrics = new RecordingMetrics();
  const deps: WebhookDeps = {
    rules: WEBHOOK_RULES,
    secrets,
    queue,
    deliveries: table.deliveries,
    clock: () => NOW_MS,
    log,
    metrics,
  };
  return { deps, secrets, queue, table, log, metrics };
}

/** A Jira webhook as Jira sends it: signed with `secret`, with its delivery id. */
function jiraCall(
  body: Uint8Array | string = JIRA_BODY,
  options: { secret?: string; headers?: Record<string, string> } = {},
): WebhookCall {
  const bytes = Buffer.from(body);
  return {
    integrationId: 'jira',
    method: 'POST',
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'x-atlassian-webhook-identifier': JIRA_DELIVERY,
      'x-hub-signature': jiraSignature(options.secret ?? JIRA_SECRET, bytes),
      ...options.headers,
    },
    body: bytes,
  };
}

/** A PagerDuty webhook as PagerDuty sends it: one v1 signature per secret in `secrets`. */
function pagerDutyCall(
  body: Uint8Array | string = PAGERDUTY_BODY,
  secrets: readonly string[] = [PAGERDUTY_SECRET],
): WebhookCall {
  const bytes = Buffer.from(body);
  return {
    integrationId: 'pagerduty',
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-webhook-id': PAGERDUTY_DELIVERY,
      'x-pagerduty-signature': pagerDutySignature(secrets, bytes),
    },
    body: bytes,
  };
}

function withoutHeader(call: WebhookCall, name: string): WebhookCall {
  return {
    ...call,
    headers: Object.fromEntries(Object.entries(call.headers).filter(([key]) => key !== name)),
  };
}

/** Nothing queued, nothing remembered, one warning that names the integration, the status and the reason. */
function expectRefused(w: World, integration: string, status: number, reason: string): void {
  expect(w.queue.sent).toEqual([]);
  expect(w.table.calls.get('rememberDelivery')).toBeUndefined();
  expect(w.log.lines).toEqual([
    { level: 'warn', message: 'webhook refused', data: [{ integration, status, reason }] },
  ]);
  expect(w.metrics.points).toEqual([{ name: 'WebhookRefused', value: 1 }]);
}

describe('acceptWebhook', () => {
  describe('queued', () => {
    it('queues the hint of a signed Jira issue update, remembers its delivery id and answers 202', async () => {
      // Arrange
      const w = world();

      // Act
      const answer = await acceptWebhook(w.deps, jiraCall());

      // Assert
      expect(answer).toEqual({ status: 202, body: { queued: true } });
      expect(w.queue.sent).toEqual([JIRA_EVENT]);
      expect(w.table.deliveryKeptUntil('jira', JIRA_DELIVERY)).toBe(NOW_MS / 1000 + DELIVERY_KEEP_SECONDS);
      expect(w.secrets.reads).toEqual([JIRA_WEBHOOK.secret]);
      expect(w.log.lines).toEqual([
        {
          level: 'info',
          message: 'webhook queued',
          data: [
            {
              integration: 'jira',
              deliveryId: JIRA_DELIVERY,
              ticket: 'ACCESS-12',
              event: 'jira:issue_updated',
            },
          ],
        },
      ]);
      expect(w.metrics.points).toEqual([{ name: 'WebhookQueued', value: 1 }]);
    });

    it('queues the hint of a signed PagerDuty acknowledgement, its delivery id being the event id', async () => {
      // Arrange
      const w = world();

      // Act
      const answer = await acceptWebhook(w.deps, pagerDutyCall());

      // Assert
      expect(answer).toEqual({ status: 202, body: { queued: true } });
      expect(w.queue.sent).toEqual([PAGERDUTY_EVENT]);
      expect(w.table.deliveryKeptUntil('pagerduty', PAGERDUTY_DELIVERY)).toBe(
        NOW_MS / 1000 + DELIVERY_KEEP_SECONDS,
      );
      expect(w.metrics.points).toEqual([{ name: 'WebhookQueued', value: 1 }]);
    });

    it('reads header names in any case', async () => {
      // Arrange
      const w = world();
      const call = jiraCall();
      const headers = Object.fromEntries(
        Object.entries(call.headers).map(([name, value]) => [name.toUpperCase(), value]),
      );

      // Act
      const answer = await acceptWebhook(w.deps, { ...call, headers });

      // Assert
      expect(answer).toEqual({ status: 202, body: { queued: true } });
      expect(w.queue.sent).toEqual([JIRA_EVENT]);
    });

    it('takes a body of exactly the largest size', async () => {
      // Arrange
      const w = world();
      const text = JIRA_BODY.toString('utf8');
      const padded = `${text.slice(0, -2)}${' '.repeat(MAX_WEBHOOK_BODY_BYTES - JIRA_BODY.length)}${text.slice(-2)}`;

      // Act
      const answer = await acceptWebhook(w.deps, jiraCall(padded));

      // Assert
      expect(Buffer.byteLength(padded)).toBe(MAX_WEBHOOK_BODY_BYTES);
      expect(answer).toEqual({ status: 202, body: { queued: true } });
    });
  });

  describe('rotated secrets', () => {
    it("takes PagerDuty's rotation: an old and a new signature, only the new secret stored", async () => {
      // Arrange
      const w = world();

      // Act
      const answer = await acceptWebhook(
        w.deps,
        pagerDutyCall(PAGERDUTY_BODY, ['pagerduty-secret-old', PAGERDUTY_SECRET]),
      );

      // Assert
      expect(answer).toEqual({ status: 202, body: { queued: true } });
      expect(w.queue.sent).toEqual([PAGERDUTY_EVENT]);
    });

    it('takes a webhook signed with either of the two secrets stored one per line (ours being rotated)', async () => {
      // Arrange
      const w = world();
      w.secrets.set(JIRA_WEBHOOK.secret, 'jira-secret-old\njira-secret-new\n');
      const second = withPath(sample(JIRA_SAMPLE_FILE), ['issue', 'key'], 'ACCESS-13');

      // Act
      const answers = [
        await acceptWebhook(w.deps, jiraCall(JIRA_BODY, { secret: 'jira-secret-old' })),
        await acceptWebhook(
          w.deps,
          jiraCall(JSON.stringify(second), {
            secret: 'jira-secret-new',
            headers: { 'x-atlassian-webhook-identifier': 'second-delivery' },
          }),
        ),
      ];

      // Assert
      expect(answers).toEqual([
        { status: 202, body: { queued: true } },
        { status: 202, body: { queued: true } },
      ]);
      expect(w.queue.sent.map((event) => [event.deliveryId, event.ticket])).toEqual([
        [JIRA_DELIVERY, 'ACCESS-12'],
        ['second-delivery', 'ACCESS-13'],
      ]);
    });

    it('refuses a webhook signed with a secret no longer stored', async () => {
      // Arrange
      const w = world();
      w.secrets.set(JIRA_WEBHOOK.secret, 'jira-secret-new');

      // Act
      const answer = await acceptWebhook(w.deps, jiraCall(JIRA_BODY, { secret: JIRA_SECRET }));

      // Assert
      expect(answer).toEqual({
        status: 401,
        body: { error: 'the signature matches none of the webhook secrets' },
      });
      expectRefused(w, 'jira', 401, 'the signature matches none of the webhook secrets');
    });
  });

  describe('refused', () => {
    it.each([
      ['an integration the rules do not name', 'servicenow'],
      ['an integration that is not a webhook integration', 'ticketing'],
      ['no integration (the path had none)', ''],
    ])('answers 404 for %s, reading no secret', async (_, integrationId) => {
      // Arrange
      const w = world();

      // Act
      const answer = await acceptWebhook(w.deps, { ...jiraCall(), integrationId });

      // Assert
      expect(answer).toEqual({ status: 404, body: { error: 'no webhook integration at this path' } });
      expect(w.secrets.reads).toEqual([]);
      expectRefused(w, integrationId, 404, 'no webhook integration at this path');
    });

    it('logs an unknown integration id from the path cut to 128 characters', async () => {
      // Arrange
      const w = world();

      // Act
      await acceptWebhook(w.deps, { ...jiraCall(), integrationId: 'x'.repeat(5000) });

      // Assert
      expectRefused(w, 'x'.repeat(128), 404, 'no webhook integration at this path');
    });

    it.each(['GET', 'PUT', 'post'])('answers 405 to %s, saying POST is the one method', async (method) => {
      // Arrange
      const w = world();

      // Act
      const answer = await acceptWebhook(w.deps, { ...jiraCall(), method });

      // Assert
      expect(answer).toEqual({
        status: 405,
        body: { error: 'only POST is accepted' },
        headers: { allow: 'POST' },
      });
      expect(w.secrets.reads).toEqual([]);
      expectRefused(w, 'jira', 405, 'only POST is accepted');
    });

    it('answers 413 to a body one byte over 256 KiB, however well signed, reading no secret', async () => {
      // Arrange
      const w = world();
      const body = Buffer.alloc(MAX_WEBHOOK_BODY_BYTES + 1, 0x20);

      // Act
      const answer = await acceptWebhook(w.deps, jiraCall(body));

      // Assert
      expect(answer).toEqual({ status: 413, body: { error: 'the body is larger than 262144 bytes' } });
      expect(w.secrets.reads).toEqual([]);
      expectRefused(w, 'jira', 413, 'the body is larger than 262144 bytes');
    });

    it.each([
      ['Jira', () => withoutHeader(jiraCall(), 'x-hub-signature'), 'jira', 'no X-Hub-Signature header'],
      [
        'PagerDuty',
        () => withoutHeader(pagerDutyCall(), 'x-pagerduty-signature'),
        'pagerduty',
        'no X-PagerDuty-Signature header',
      ],
    ])('answers 401 to a %s webhook without a signature', async (_, call, integration, reason) => {
      // Arrange
      const w = world();

      // Act
      const answer = await acceptWebhook(w.deps, call());

      // Assert
      expect(answer).toEqual({ status: 401, body: { error: reason } });
      expectRefused(w, integration, 401, reason);
    });

    it.each([
      ['signed with another secret', () => jiraCall(JIRA_BODY, { secret: 'forged' })],
      [
        'whose body changed after it was signed',
        () => ({
          ...jiraCall(),
          body: Buffer.from(JIRA_BODY.toString('utf8').replace('ACCESS-12', 'ACCESS-13')),
        }),
      ],
      [
        'signed the way PagerDuty signs',
        () => ({ ...jiraCall(), headers: { ...pagerDutyCall(JIRA_BODY, [JIRA_SECRET]).headers } }),
      ],
    ])('answers 401 to a Jira webhook %s, before reading its body', async (_, call) => {
      // Arrange
      const w = world();

      // Act
      const answer = await acceptWebhook(w.deps, call());

      // Assert
      expect(answer.status).toBe(401);
      expect(w.queue.sent).toEqual([]);
      expect(w.table.calls.get('seenDelivery')).toBeUndefined();
      expect(w.metrics.points).toEqual([{ name: 'WebhookRefused', value: 1 }]);
    });

    it('answers 401 before 400: a forged body that is not JSON is refused for its signature', async () => {
      // Arrange
      const w = world();

      // Act
      const answer = await acceptWebhook(w.deps, jiraCall('not json', { secret: 'forged' }));

      // Assert
      expect(answer).toEqual({
        status: 401,
        body: { error: 'the signature matches none of the webhook secrets' },
      });
    });

    it('answers 400 to a signed body that is not JSON', async () => {
      // Arrange
      const w = world();

      // Act
      const answer = await acceptWebhook(w.deps, jiraCall('{"webhookEvent": "jira:issue_updated"'));

      // Assert
      expect(answer).toEqual({ status: 400, body: { error: 'the body is not JSON' } });
      expectRefused(w, 'jira', 400, 'the body is not JSON');
    });

    it.each([
      [
        'a Jira issue without its key',
        () => jiraCall(JSON.stringify(withPath(sample(JIRA_SAMPLE_FILE), ['issue', 'key'], undefined))),
        'jira',
        'issue.key is missing or not an issue key (PROJECT-123)',
      ],
      [
        'a Jira webhook without its delivery id',
        () => withoutHeader(jiraCall(), 'x-atlassian-webhook-identifier'),
        'jira',
        'no X-Atlassian-Webhook-Identifier header',
      ],
      [
        'a PagerDuty event without its incident',
        () =>
          pagerDutyCall(
            JSON.stringify(withPath(sample(PAGERDUTY_SAMPLE_FILE), ['event', 'data'], undefined)),
          ),
        'pagerduty',
        'event.data is missing or not an object',
      ],
    ])('answers 400 to %s, signed', async (_, call, integration, reason) => {
      // Arrange
      const w = world();

      // Act
      const answer = await acceptWebhook(w.deps, call());

      // Assert
      expect(answer).toEqual({ status: 400, body: { error: reason } });
      expectRefused(w, integration, 400, reason);
    });
  });

  describe('ignored', () => {
    it('answers 202 with the reason to an issue of another project, queueing and remembering nothing', async () => {
      // Arrange
      const w = world();
      const body = withPath(sample(JIRA_SAMPLE_FILE), ['issue', 'fields', 'project', 'key'], 'HR');

      // Act
      const answer = await acceptWebhook(w.deps, jiraCall(JSON.stringify(body)));

      // Assert
      expect(answer).toEqual({
        status: 202,
        body: { ignored: "project HR is not one of the integration's projects" },
      });
      expect(w.queue.sent).toEqual([]);
      expect(w.table.calls.get('seenDelivery')).toBeUndefined();
      expect(w.table.calls.get('rememberDelivery')).toBeUndefined();
      expect(w.log.lines).toEqual([
        {
          level: 'info',
          message: 'webhook ignored',
          data: [{ integration: 'jira', reason: "project HR is not one of the integration's projects" }],
        },
      ]);
      expect(w.metrics.points).toEqual([{ name: 'WebhookIgnored', value: 1 }]);
    });

    it('answers 202 with the reason to a PagerDuty event it does not act on', async () => {
      // Arrange
      const w = world();
      const body = withPath(sample(PAGERDUTY_SAMPLE_FILE), ['event', 'event_type'], 'incident.triggered');

      // Act
      const answer = await acceptWebhook(w.deps, pagerDutyCall(JSON.stringify(body)));

      // Assert
      expect(answer).toEqual({
        status: 202,
        body: { ignored: 'event incident.triggered is not one the broker acts on' },
      });
      expect(w.queue.sent).toEqual([]);
    });
  });

  describe('redelivered', () => {
    it('answers 200 duplicate to a delivery id already queued, and queues nothing again', async () => {
      // Arrange
      const w = world();
      await acceptWebhook(w.deps, jiraCall());

      // Act
      const answer = await acceptWebhook(
        w.deps,
        jiraCall(JIRA_BODY, { headers: { 'x-atlassian-webhook-retry': '1' } }),
      );

      // Assert
      expect(answer).toEqual({ status: 200, body: { duplicate: true } });
      expect(w.queue.sent).toEqual([JIRA_EVENT]);
      expect(w.log.lines.at(-1)).toEqual({
        level: 'info',
        message: 'webhook already queued: nothing queued again',
        data: [{ integration: 'jira', deliveryId: JIRA_DELIVERY, ticket: 'ACCESS-12' }],
      });
      expect(w.metrics.points).toEqual([
        { name: 'WebhookQueued', value: 1 },
        { name: 'WebhookDuplicate', value: 1 },
      ]);
    });

    it('keeps delivery ids per integration: the same id from the other integration is queued', async () => {
      // Arrange
      const w = world();
      await w.deps.deliveries.remember('jira', PAGERDUTY_DELIVERY, NOW_MS / 1000 + 60);

      // Act
      const answer = await acceptWebhook(w.deps, pagerDutyCall());

      // Assert
      expect(answer).toEqual({ status: 202, body: { queued: true } });
      expect(w.queue.sent).toEqual([PAGERDUTY_EVENT]);
    });
  });

  describe('failures: answered 5xx so that the vendor sends the webhook again', () => {
    it('answers 503 when the secret store is down, queueing nothing', async () => {
      // Arrange
      const w = world();
      w.secrets.failNext(new RetryableError('SSM: ThrottlingException'));

      // Act
      const answer = await acceptWebhook(w.deps, jiraCall());

      // Assert
      expect(answer).toEqual({
        status: 503,
        body: { error: 'the webhook could not be taken now; send it again later' },
      });
      expect(w.queue.sent).toEqual([]);
      expect(w.log.lines).toEqual([
        {
          level: 'error',
          message: 'webhook failed: the vendor will send it again',
          data: [
            {
              integration: 'jira',
              status: 503,
              error: { name: 'RetryableError', message: 'SSM: ThrottlingException' },
            },
          ],
        },
      ]);
      expect(w.metrics.points).toEqual([{ name: 'WebhookFailed', value: 1 }]);
    });

    it('answers 503 when the queue is down, and remembers nothing: the redelivery is queued', async () => {
      // Arrange
      const w = world();
      w.queue.failNext(new RetryableError('SQS: ServiceUnavailable'));

      // Act
      const failed = await acceptWebhook(w.deps, jiraCall());
      const redelivered = await acceptWebhook(w.deps, jiraCall());

      // Assert
      expect(failed.status).toBe(503);
      expect(redelivered).toEqual({ status: 202, body: { queued: true } });
      expect(w.queue.sent).toEqual([JIRA_EVENT]);
    });

    it('answers 503 when the table is down before the send, queueing nothing', async () => {
      // Arrange
      const w = world();
      w.table.failNext(
        'seenDelivery',
        new RetryableError('DynamoDB: ProvisionedThroughputExceededException'),
      );

      // Act
      const answer = await acceptWebhook(w.deps, jiraCall());

      // Assert
      expect(answer.status).toBe(503);
      expect(w.queue.sent).toEqual([]);
    });

    it('answers 500 when the secret is missing (waiting cannot help), naming it in the log', async () => {
      // Arrange
      const w = world();
      w.secrets.failNext(
        new PermanentError('The secret /eks-access-broker/jira/webhook-secret does not exist'),
      );

      // Act
      const answer = await acceptWebhook(w.deps, jiraCall());

      // Assert
      expect(answer).toEqual({
        status: 500,
        body: { error: 'the webhook could not be taken now; send it again later' },
      });
      expect(w.log.lines[0]?.data).toEqual([
        {
          integration: 'jira',
          status: 500,
          error: {
            name: 'PermanentError',
            message: 'The secret /eks-access-broker/jira/webhook-secret does not exist',
          },
        },
      ]);
    });

    it('answers 500 when the stored secret holds no secret, rather than refusing every webhook as forged', async () => {
      // Arrange
      const w = world();
      w.secrets.set(JIRA_WEBHOOK.secret, ' \n \n');

      // Act
      const answer = await acceptWebhook(w.deps, jiraCall());

      // Assert
      expect(answer.status).toBe(500);
      expect(w.queue.sent).toEqual([]);
      expect(w.log.lines[0]?.data).toEqual([
        {
          integration: 'jira',
          status: 500,
          error: {
            name: 'PermanentError',
            message: 'The webhook secret /eks-access-broker/jira/webhook-secret holds no secret',
          },
        },
      ]);
    });
  });
});

/**
 * Bad webhooks, generated: whatever arrives at /webhooks/<id> (any path, method, headers and bytes; forged or
 * missing signatures; bodies correctly signed but not what the vendor sends, or events the broker does not act
 * on) queues nothing, remembers nothing, and is answered 4xx or 202 ignored, never 5xx, through the real
 * webhook intake (acceptWebhook: the signature check, the vendors' body readers) with in-memory ports.
 * CI size: 1,000 cases per property (SAFETY_BAD_WEBHOOK_CASES to change it).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  acceptWebhook,
  type WebhookAnswer,
  type WebhookCall,
  type WebhookDeps,
} from '../../functions/app/accept-webhook';
import { MemoryLeaseTable } from '../support/fakes/memory-lease-table';
import { RecordingLog } from '../support/fakes/recording-log';
import { RecordingMetrics } from '../support/fakes/recording-metrics';
import { RecordingTicketEventQueue } from '../support/fakes/recording-ticket-event-queue';
import { StoredSecrets } from '../support/fakes/stored-secrets';
import {
  JIRA_SAMPLE_FILE,
  JIRA_WEBHOOK,
  type Json,
  jiraSignature,
  PAGERDUTY_SAMPLE_FILE,
  PAGERDUTY_WEBHOOK,
  pagerDutySignature,
  sample,
  WEBHOOK_RULES,
  withPath,
} from '../support/webhooks';

const CASES = Number(process.env.SAFETY_BAD_WEBHOOK_CASES ?? 1000);
const JIRA_SECRET = 'jira-webhook-secret';
const PAGERDUTY_SECRET = 'pagerduty-webhook-secret';
const JIRA_BODY = sample(JIRA_SAMPLE_FILE);
const PAGERDUTY_BODY = sample(PAGERDUTY_SAMPLE_FILE);

/** Sends `call` to a fresh intake; answers what it answered and what it left queued and remembered. */
async function send(
  call: WebhookCall,
): Promise<{ answer: WebhookAnswer; queued: number; remembered: number }> {
  const queue = new RecordingTicketEventQueue();
  const table = new MemoryLeaseTable();
  const deps: WebhookDeps = {
    rules: WEBHOOK_RULES,
    secrets: new StoredSecrets({
      [JIRA_WEBHOOK.secret]: JIRA_SECRET,
      [PAGERDUTY_WEBHOOK.secret]: `old-secret\n${PAGERDUTY_SECRET}`,
    }),
    queue,
    deliveries: table.deliveries,
    clock: () => 1_780_000_000_000,
    log: new RecordingLog(),
    metrics: new RecordingMetrics(),
  };
  const answer = await acceptWebhook(deps, call);
  return { answer, queued: queue.sent.length, remembered: table.calls.get('rememberDelivery') ?? 0 };
}

/** Refused (4xx) or ignored (202 with its reason), with nothing queued or remembered, and no echo unbounded. */
function expectNothingTaken(result: Awaited<ReturnType<typeof send>>, description: string): void {
  const { answer } = result;
  const refused = answer.status >= 400 && answer.status < 500;
  const ignored = answer.status === 202 && typeof answer.body.ignored === 'string';
  expect(refused || ignored, `${description}: ${answer.status} ${JSON.stringify(answer.body)}`).toBe(true);
  expect(result.queued, description).toBe(0);
  expect(result.remembered, description).toBe(0);
  expect(JSON.stringify(answer.body).length, description).toBeLessThan(1024);
}

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const headerValue = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  hex64.map((hex) => `sha256=${hex}`),
  fc.array(hex64, { minLength: 1, maxLength: 20 }).map((all) => all.map((hex) => `v1=${hex}`).join(',')),
);
const headerName = fc.oneof(
  fc.constantFrom(
    'x-hub-signature',
    'X-Hub-Signature',
    'x-pagerduty-signature',
    'x-atlassian-webhook-identifier',
    'x-webhook-id',
    'content-type',
  ),
  fc.string({ minLength: 1, maxLength: 40 }),
);
const anyBody = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value) ?? '')),
  fc.constantFrom(JIRA_BODY, PAGERDUTY_BODY).map((body) => Buffer.from(JSON.stringify(body))),
);

/** Anything at all, never signed with a secret the broker holds. */
const unsignedCall: fc.Arbitrary<WebhookCall> = fc.record({
  integrationId: fc.oneof(fc.constantFrom('jira', 'pagerduty', 'ticketing', ''), fc.string()),
  method: fc.oneof(fc.constantFrom('POST', 'GET', 'PUT', 'DELETE', 'OPTIONS'), fc.string()),
  headers: fc.dictionary(headerName, headerValue, { maxKeys: 8 }),
  body: anyBody,
});

/** A JSON value that is not a string (for a field that must be one). */
const notString = fc.jsonValue().filter((value) => typeof value !== 'string');
/** A JSON value that is not an object (for a field that must be one); undefined removes the field. */
const notObject = fc.oneof(
  fc.constant(undefined),
  fc.jsonValue().filter((value) => typeof value !== 'object' || value === null || Array.isArray(value)),
);
/** Present but neither an object nor null (optional objects may be null). */
const notObjectNorNull = fc
  .jsonValue()
  .filter((value) => value !== null && (typeof value !== 'object' || Array.isArray(value)));
const missingOrNotString = fc.oneof(fc.constant(undefined), notString);
const stringOtherThan = (...allowed: string[]) => fc.string().filter((text) => !allowed.includes(text));
const notMatching = (pattern: RegExp) => fc.string({ unit: 'binary' }).filter((text) => !pattern.test(text));

/** A path of the sample and a value that makes it something the broker must not queue. */
type Edit = readonly [readonly string[], fc.Arbitrary<unknown>];

const JIRA_EDITS: readonly Edit[] = [
  [
    ['webhookEvent'],
    fc.oneof(missingOrNotString, stringOtherThan('jira:issue_updated', 'jira:issue_created')),
  ],
  [['issue'], notObject],
  [
    ['issue', 'key'],
    fc.oneof(missingOrNotString, notMatching(/^[A-Za-z][A-Za-z0-9_]{0,99}-[1-9][0-9]{0,17}$/)),
  ],
  [['issue', 'fields'], notObject],
  [['issue', 'fields', 'project'], notObject],
  [['issue', 'fields', 'project', 'key'], fc.oneof(missingOrNotString, stringOtherThan('ACCESS'))],
  [['changelog'], notObjectNorNull],
  [
    ['changelog', 'items'],
    fc.oneof(
      fc.constant(undefined),
      fc.jsonValue().filter((value) => !Array.isArray(value)),
    ),
  ],
  [['changelog', 'items', '0', 'toString'], fc.oneof(fc.constant(undefined), notString)],
  [['user'], notObjectNorNull],
  [['user', 'accountId'], notString],
];

const PAGERDUTY_EDITS: readonly Edit[] = [
  [['event'], notObject],
  [['event', 'id'], fc.oneof(missingOrNotString, notMatching(/^[\x21-\x7e]{1,128}$/))],
  [
    ['event', 'event_type'],
    fc.oneof(missingOrNotString, stringOtherThan('incident.acknowledged', 'incident.resolved')),
  ],
  [['event', 'resource_type'], fc.jsonValue().filter((value) => value !== 'incident')],
  [['event', 'data'], notObject],
  [['event', 'data', 'id'], fc.oneof(missingOrNotString, notMatching(/^[A-Za-z0-9]{1,64}$/))],
  [
    ['event', 'data', 'service', 'id'],
    fc.oneof(
      notString.filter((value) => value !== null),
      stringOtherThan('PSVC001'),
    ),
  ],
  [['event', 'agent'], notObjectNorNull],
  [['event', 'agent', 'id'], notString],
];

/** The sample with one field made wrong, as a change to the parsed body. */
function editedBody(body: Json, edits: readonly Edit[]): fc.Arbitrary<{ description: string; body: Buffer }> {
  return fc.constantFrom(...edits).chain(([path, value]) =>
    value.map((wrong) => ({
      description: `${path.join('.')} = ${JSON.stringify(wrong) ?? 'removed'}`,
      body: Buffer.from(JSON.stringify(withPath(body, path, wrong))),
    })),
  );
}

/** Bodies signed correctly, none of which the vendor would send as an event the broker acts on. */
function signedBadBody(sampleBody: Json, edits: readonly Edit[]) {
  return fc.oneof(
    fc
      .uint8Array({ maxLength: 2048 })
      .map((bytes) => ({ description: 'random bytes', body: Buffer.from(bytes) })),
    fc.jsonValue().map((value) => ({
      description: `JSON ${JSON.stringify(value)?.slice(0, 80)}`,
      body: Buffer.from(JSON.stringify(value) ?? ''),
    })),
    editedBody(sampleBody, edits),
  );
}

const signedJiraCall = fc
  .record({
    bad: signedBadBody(JIRA_BODY, JIRA_EDITS),
    delivery: fc.oneof(fc.constant('6b1f0e2a-0d9e-4c55-a1f1-1f0c2b3d4e5f'), fc.string()),
  })
  .map(({ bad, delivery }) => ({
    description: `jira: ${bad.description}`,
    call: {
      integrationId: 'jira',
      method: 'POST',
      headers: {
        'x-atlassian-webhook-identifier': delivery,
        'x-hub-signature': jiraSignature(JIRA_SECRET, bad.body),
      },
      body: bad.body,
    },
  }));

/** A bad delivery id makes even the sample bad: only the header is wrong. */
const jiraCallWithBadDelivery = fc
  .oneof(fc.constant(undefined), notMatching(/^\s*[\x21-\x7e]{1,128}\s*$/))
  .map((delivery) => {
    const body = Buffer.from(JSON.stringify(JIRA_BODY));
    return {
      description: `jira: delivery id ${JSON.stringify(delivery) ?? 'absent'}`,
      call: {
        integrationId: 'jira',
        method: 'POST',
        headers: {
          ...(delivery === undefined ? {} : { 'x-atlassian-webhook-identifier': delivery }),
          'x-hub-signature': jiraSignature(JIRA_SECRET, body),
        },
        body,
      },
    };
  });

const signedPagerDutyCall = signedBadBody(PAGERDUTY_BODY, PAGERDUTY_EDITS).map((bad) => ({
  description: `pagerduty: ${bad.description}`,
  call: {
    integrationId: 'pagerduty',
    method: 'POST',
    headers: { 'x-pagerduty-signature': pagerDutySignature(['rotated-away', PAGERDUTY_SECRET], bad.body) },
    body: bad.body,
  },
}));

describe('bad webhooks through the webhook intake', () => {
  it('queues nothing for any request not signed with a secret the broker holds, and answers 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(unsignedCall, async (call) => {
        const result = await send(call);

        const description = `${call.method} /webhooks/${call.integrationId}`;
        expect(result.answer.status, description).toBeGreaterThanOrEqual(400);
        expect(result.answer.status, description).toBeLessThan(500);
        expectNothingTaken(result, description);
      }),
      { numRuns: CASES },
    );
  });

  it('queues nothing for bodies signed correctly but not an event the broker acts on, and never answers 5xx', async () => {
    const statuses = new Map<number, number>();

    await fc.assert(
      fc.asyncProperty(
        fc.oneof(signedJiraCall, jiraCallWithBadDelivery, signedPagerDutyCall),
        async (bad) => {
          const result = await send(bad.call);

          expectNothingTaken(result, bad.description);
          statuses.set(result.answer.status, (statuses.get(result.answer.status) ?? 0) + 1);
        },
      ),
      { numRuns: CASES },
    );

    // Both ways of taking nothing were generated: refused as invalid, and ignored.
    expect([...statuses.keys()].sort()).toEqual([202, 400]);
  });

  it('queues the samples themselves, signed: the generators above start from webhooks the broker takes', async () => {
    // Arrange
    const jira = Buffer.from(JSON.stringify(JIRA_BODY));
    const pagerDuty = Buffer.from(JSON.stringify(PAGERDUTY_BODY));

    // Act
    const results = [
      await send({
        integrationId: 'jira',
        method: 'POST',
        headers: {
          'x-atlassian-webhook-identifier': 'd-1',
          'x-hub-signature': jiraSignature(JIRA_SECRET, jira),
        },
        body: jira,
      }),
      await send({
        integrationId: 'pagerduty',
        method: 'POST',
        headers: { 'x-pagerduty-signature': pagerDutySignature([PAGERDUTY_SECRET], pagerDuty) },
        body: pagerDuty,
      }),
    ];

    // Assert
    expect(results).toEqual([
      { answer: { status: 202, body: { queued: true } }, queued: 1, remembered: 1 },
      { answer: { status: 202, body: { queued: true } }, queued: 1, remembered: 1 },
    ]);
  });
});

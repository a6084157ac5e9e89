import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { EventBridgeEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_WEBHOOK_BODY_BYTES } from '../../functions/app/accept-webhook';
import { signProof } from '../../functions/cli/proof';
import { LOCAL_RESOURCE_NAMES } from '../../functions/config/names';
import { DETAIL_TYPES } from '../../functions/core/contract';
import type { Lease } from '../../functions/core/model';
import { OUTCOME_SOURCE } from '../../functions/core/names';
import { bodySha256, type Proof } from '../../functions/core/proof';
import {
  TICKET_EVENT_DETAIL_TYPE,
  TICKET_EVENT_SOURCE,
  type TicketEvent,
} from '../../functions/core/tickets/ticket-event';
import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { runtime } from '../../functions/runtime';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { DEFAULT_IDENTITIES_FILE } from '../../infra/local/identities';
import type { FakeJira } from '../../infra/local/jira/server';
import { signature as jiraSignature, type WebhookDelivery } from '../../infra/local/jira/webhooks';
import { lambdaContext } from '../../infra/local/lambda-context';
import { eventId } from '../../infra/local/pagerduty/ids';
import type { FakePagerDuty } from '../../infra/local/pagerduty/server';
import { pagerDutySignature } from '../../infra/local/pagerduty/webhooks';
import { LOCAL_JIRA_WEBHOOK_SECRET } from '../../infra/local/vendors';
import { localCaller } from '../support/callers';
import { freshPrincipal, freshRequestId, sampleEvent } from '../support/fixtures';
import { PROOF_AUDIENCE } from '../support/proofs';

/**
 * The spoofing suite (issue 12, "Done when" 7): one row per way we know of asking the broker for access, or of
 * ending or faking someone's access, as someone else. Each row is refused with its own code, EKS sees no call,
 * no lease is recorded (or the live grant a row aims at is left exactly as it was), and where the broker answers
 * it publishes exactly one `Access Grant Rejected` with that code; where AWS refuses (the bus and queue policies
 * the template deploys, evaluated by the local edge) the broker sees nothing and publishes nothing.
 *
 * What the broker cannot check by itself: an EventBridge event does not name its sender, only its account.
 * Within the account, only the bus policy ties a source to its integration's principals (an intruder's or
 * another integration's PutEvents, a forged outcome event); the broker checks the event's account, and on the
 * queue the message's SenderId, but an event of the account with a ticketing source is, to the broker, the
 * ticketing integration's.
 */

const ACCOUNT = '111122223333';
const OTHER_ACCOUNT = '444455556666';
const REGION = 'us-east-1';
const TICKETING = 'com.example.ticketing';
const ONCALL = 'com.example.oncall';
const SELF_SERVICE = 'com.example.self-service';
const BOB = `arn:aws:iam::${ACCOUNT}:role/dev-bob`;
const ALICE = `arn:aws:iam::${ACCOUNT}:role/oncall-alice`;
const INTRUDER = `arn:aws:iam::${ACCOUNT}:role/intruder`;
/** A second developer, known to this suite's edge only: someone of the same integration who is not Bob. */
const CAROL_KEY = 'devcarol';
const REQUESTS_QUEUE = LOCAL_RESOURCE_NAMES.requestsQueue;
const REQUESTS_DLQ = LOCAL_RESOURCE_NAMES.requestsDeadLetterQueue;
const TIMER_QUEUE = LOCAL_RESOURCE_NAMES.timerQueue;

type RequestEvent = EventBridgeEvent<string, Record<string, unknown>>;
type Detail = Record<string, unknown>;

let broker: LocalBroker;
let identitiesDir: string;

beforeAll(async () => {
  identitiesDir = mkdtempSync(join(tmpdir(), 'spoofing-identities-'));
  const identitiesFile = join(identitiesDir, 'identities.json');
  const defaults = JSON.parse(readFileSync(DEFAULT_IDENTITIES_FILE, 'utf8')) as { identities: unknown[] };
  writeFileSync(
    identitiesFile,
    JSON.stringify({
      identities: [
        ...defaults.identities,
        {
          accessKeyId: CAROL_KEY,
          secretAccessKey: CAROL_KEY,
          arn: `arn:aws:iam::${ACCOUNT}:role/dev-carol`,
          description: 'another developer',
        },
      ],
    }),
  );
  broker = await startLocalBroker({ port: 0, sweepIntervalMs: 0, identitiesFile });
});

afterAll(async () => {
  await broker?.close();
  rmSync(identitiesDir, { recursive: true, force: true });
});

// Arrange helpers: requests as each party would send them.

/** A grant detail of the ticketing integration's kind, for a principal nobody else uses. */
function grantDetail(changes: Detail = {}): Detail {
  return {
    ...sampleEvent('grant-namespaced.json').detail,
    requestId: freshRequestId('SPOOF'),
    principalArn: freshPrincipal('spoofed'),
    ...changes,
  };
}

/** What Bob's CLI puts in a grant for himself through self-service (before its proof). */
function bobsGrantDetail(changes: Detail = {}): Detail {
  return {
    requestId: freshRequestId('SELF'),
    clusterName: 'demo',
    principalArn: BOB,
    policyArn: 'AmazonEKSViewPolicy',
    accessScope: { type: 'namespace', namespaces: ['team-a'] },
    durationSeconds: 3600,
    requestedBy: 'bob',
    reason: 'Read the logs of team-a',
    ...changes,
  };
}

function revokeDetail(requestId: string, requestedBy: string): Detail {
  return { requestId, requestedBy, reason: 'I am done' };
}

/** The event EventBridge hands the intake for an entry put on the bus from `account`. */
function busEvent(source: string, detailType: string, detail: Detail, account = ACCOUNT): RequestEvent {
  return {
    version: '0',
    id: crypto.randomUUID(),
    'detail-type': detailType,
    source,
    account,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: REGION,
    resources: [],
    detail,
  };
}

/** `detail` with a proof signed as the CLI signs it, with the local edge identity `accessKeyId`'s own key. */
async function signedBy(
  accessKeyId: string,
  detail: Detail,
  options: { audience?: string; now?: Date } = {},
): Promise<Detail> {
  const proof = await signProof(detail, {
    credentials: { accessKeyId, secretAccessKey: accessKeyId },
    region: REGION,
    audience: options.audience ?? PROOF_AUDIENCE,
    endpoint: broker.edge.url,
    ...(options.now ? { now: options.now } : {}),
  });
  return { ...detail, proof };
}

/** The intake as the bus's rule invokes it; its status. */
async function deliver(event: RequestEvent): Promise<string> {
  const result = (await eventBridgeHandler(event, lambdaContext('eventbridge-intake'))) as { status: string };
  return result.status;
}

/** Bob's own grant through self-service, granted: the target of the revoke rows. Its requestId. */
async function bobsGrant(): Promise<string> {
  const detail = await signedBy('devbob', bobsGrantDetail());
  const status = await deliver(busEvent(SELF_SERVICE, DETAIL_TYPES.grant, detail));
  if (status !== 'granted') throw new Error(`Bob's own grant was ${status}`);
  return String(detail.requestId);
}

/** A grant of the ticketing integration, granted: the target of the forged dead letter. Its requestId. */
async function ticketingGrant(): Promise<string> {
  const detail = grantDetail();
  const status = await deliver(busEvent(TICKETING, DETAIL_TYPES.grant, detail));
  if (status !== 'granted') throw new Error(`the ticketing grant was ${status}`);
  return String(detail.requestId);
}

// Act helpers: the real SDK clients, signed as a local edge identity (its secret is its id).

function clientConfig(accessKeyId: string) {
  return {
    endpoint: broker.edge.url,
    region: REGION,
    credentials: { accessKeyId, secretAccessKey: accessKeyId },
    maxAttempts: 1,
  };
}

/** PutEvents of one entry on the broker's bus as `accessKeyId`: `accepted`, or the error code AWS answers. */
async function putAs(
  accessKeyId: string,
  source: string,
  detailType: string,
  detail: Detail,
): Promise<string> {
  const client = new EventBridgeClient(clientConfig(accessKeyId));
  try {
    const result = await client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: LOCAL_RESOURCE_NAMES.eventBus,
            Source: source,
            DetailType: detailType,
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
    return result.Entries?.[0]?.ErrorCode ?? 'accepted';
  } catch (error) {
    return (error as Error).name;
  } finally {
    client.destroy();
  }
}

/** SendMessage of `body` to the local queue `queueName` as `accessKeyId`: `accepted`, or the error code. */
async function sendAs(accessKeyId: string, queueName: string, body: string): Promise<string> {
  const client = new SQSClient(clientConfig(accessKeyId));
  try {
    await client.send(
      new SendMessageCommand({
        QueueUrl: `${broker.edge.url}/${broker.edge.accountId}/${queueName}`,
        MessageBody: body,
      }),
    );
    return 'accepted';
  } catch (error) {
    return (error as Error).name;
  } finally {
    client.destroy();
  }
}

/** An SQS body as EventBridge delivers to SQS, and as integrations send on the requests queue. */
function envelope(source: string, detailType: string, detail: Detail): string {
  return JSON.stringify({ source, 'detail-type': detailType, detail });
}

/** Lets whatever the attempt set off finish: bus deliveries and queue consumers. */
async function settle(): Promise<void> {
  await broker.edge.bus.idle();
  await broker.edge.queues.idle(undefined, { timeoutMs: 10_000 });
}

// Assert helpers.

interface Mark {
  readonly eksCalls: number;
  readonly outcomes: number;
  readonly accepted: number;
  readonly lease: Lease | undefined;
}

async function mark(requestId: string): Promise<Mark> {
  return {
    eksCalls: broker.edge.eks.totalCalls(),
    outcomes: broker.outcomes().length,
    accepted: acceptedMentioning(requestId).length,
    lease: await runtime().store.findLease(requestId),
  };
}

/** [detail-type, code] of each outcome about `requestId` published since `before`. */
function outcomesSince(before: Mark, requestId: string): [string, unknown][] {
  return broker
    .outcomes()
    .slice(before.outcomes)
    .filter((e) => e.detail.requestId === requestId)
    .map((e) => [e['detail-type'], e.detail.code]);
}

/** Every entry ever accepted on the bus or the queues that names `requestId`. */
function acceptedMentioning(requestId: string): unknown[] {
  return [
    ...broker.edge.bus.events().filter((e) => JSON.stringify(e.event.detail).includes(requestId)),
    ...[REQUESTS_QUEUE, REQUESTS_DLQ, TIMER_QUEUE].flatMap((queue) =>
      broker.edge.queues.messages(queue).filter((m) => m.body.includes(requestId)),
    ),
  ];
}

async function expectNothingChanged(before: Mark, requestId: string): Promise<void> {
  expect(broker.edge.eks.totalCalls() - before.eksCalls).toBe(0);
  expect(await runtime().store.findLease(requestId)).toEqual(before.lease);
}

// The control: the same channels let each integration's own principal in, so the refusals below are the
// policies' doing, not a channel that refuses everyone.
describe("the bus and the queue let an integration's own principal in", () => {
  it.each([
    [
      'the ticketing role puts a ticketing grant on the bus',
      (detail: Detail) => putAs('test', TICKETING, DETAIL_TYPES.grant, detail),
      () => grantDetail(),
    ],
    [
      'the ticketing role sends a ticketing grant on the requests queue',
      (detail: Detail) => sendAs('test', REQUESTS_QUEUE, envelope(TICKETING, DETAIL_TYPES.grant, detail)),
      () => grantDetail(),
    ],
    [
      'Bob puts his own proven self-service grant on the bus',
      (detail: Detail) => putAs('devbob', SELF_SERVICE, DETAIL_TYPES.grant, detail),
      () => signedBy('devbob', bobsGrantDetail()),
    ],
  ])('accepts it when %s', async (_attempt, send, detailOf) => {
    // Arrange
    const detail = await detailOf();
    const requestId = String(detail.requestId);
    const before = await mark(requestId);

    // Act
    const answer = await send(detail);
    await settle();

    // Assert
    expect(answer).toBe('accepted');
    expect(outcomesSince(before, requestId)).toEqual([['Access Granted', undefined]]);
    expect((await runtime().store.findLease(requestId))?.status).toBe('active');
  });
});

interface AwsRow {
  readonly attempt: string;
  /** What the attempt aims at: a request of its own (none recorded), or a live ticketing grant. */
  readonly target: 'a new request' | 'a live grant';
  readonly send: (requestId: string) => Promise<string>;
  readonly code: string;
}

const REFUSED_BY_AWS: readonly AwsRow[] = [
  {
    attempt: 'an intruder puts a grant with the ticketing source on the bus',
    target: 'a new request',
    send: (requestId) =>
      putAs(
        'intruder',
        TICKETING,
        DETAIL_TYPES.grant,
        grantDetail({
          requestId,
          principalArn: INTRUDER,
          policyArn: 'AmazonEKSEditPolicy',
          accessScope: { type: 'cluster' },
        }),
      ),
    code: 'AccessDeniedException',
  },
  {
    attempt:
      "the on-call engineer puts a grant with the ticketing integration's source, which needs no proof",
    target: 'a new request',
    send: (requestId) =>
      putAs(
        'oncallalice',
        TICKETING,
        DETAIL_TYPES.grant,
        grantDetail({ requestId, principalArn: ALICE, accessScope: { type: 'cluster' } }),
      ),
    code: 'AccessDeniedException',
  },
  {
    attempt: 'an intruder sends a ticketing grant on the requests queue',
    target: 'a new request',
    send: (requestId) =>
      sendAs(
        'intruder',
        REQUESTS_QUEUE,
        envelope(TICKETING, DETAIL_TYPES.grant, grantDetail({ requestId, principalArn: INTRUDER })),
      ),
    code: 'AccessDenied',
  },
  {
    attempt: 'an intruder puts a forged Access Granted outcome on the bus',
    target: 'a new request',
    send: (requestId) => putAs('intruder', OUTCOME_SOURCE, 'Access Granted', forgedGrantedDetail(requestId)),
    code: 'AccessDeniedException',
  },
  {
    attempt: 'the ticketing integration puts a forged Access Granted outcome on the bus',
    target: 'a new request',
    send: (requestId) => putAs('test', OUTCOME_SOURCE, 'Access Granted', forgedGrantedDetail(requestId)),
    code: 'AccessDeniedException',
  },
  {
    // Were it let in, the dead-letter function would hand the grant to the sweeper, due at once.
    attempt: 'an intruder sends a forged dead letter of a revoke of a live grant to the requests DLQ',
    target: 'a live grant',
    send: (requestId) =>
      sendAs(
        'intruder',
        REQUESTS_DLQ,
        envelope(TICKETING, DETAIL_TYPES.revoke, revokeDetail(requestId, 'alice@example.com')),
      ),
    code: 'AccessDenied',
  },
  {
    attempt: 'an intruder sends a forged expiry timer of a live grant to the timer queue',
    target: 'a live grant',
    send: (requestId) =>
      sendAs(
        'intruder',
        TIMER_QUEUE,
        JSON.stringify({ requestId, expiresAt: Math.floor(Date.now() / 1000) }),
      ),
    code: 'AccessDenied',
  },
];

describe('refused by AWS (the bus and queue policies): the broker sees nothing', () => {
  it.each(REFUSED_BY_AWS.map((row) => [row.attempt, row.code, row] as const))(
    'refuses it when %s: %s',
    async (_attempt, code, { target, send }) => {
      // Arrange
      const requestId = target === 'a live grant' ? await ticketingGrant() : freshRequestId('AWS');
      const before = await mark(requestId);

      // Act
      const answer = await send(requestId);
      await settle();

      // Assert
      expect(answer).toBe(code);
      expect(acceptedMentioning(requestId)).toHaveLength(before.accepted);
      expect(outcomesSince(before, requestId)).toEqual([]);
      expect(before.lease?.status).toBe(target === 'a live grant' ? 'active' : undefined);
      await expectNothingChanged(before, requestId);
    },
  );
});

function forgedGrantedDetail(requestId: string): Detail {
  return {
    requestId,
    clusterName: 'demo',
    principalArn: INTRUDER,
    policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy',
    effectiveScope: { type: 'cluster' },
    durationSeconds: 3600,
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  };
}

/** What an attempt that reaches the broker sends, prepared (setup deliveries included) before it is measured. */
interface Attempt {
  readonly requestId: string;
  readonly send: () => Promise<unknown>;
}

interface BrokerRow {
  readonly attempt: string;
  readonly prepare: () => Promise<Attempt>;
  readonly code: string;
  /** The lease under the request's id: none for a grant; the live grant a revoke aims at, left as it was. */
  readonly lease?: 'active';
}

function viaHandler(event: RequestEvent): Attempt {
  return { requestId: String(event.detail.requestId), send: () => deliver(event) };
}

const REFUSED_BY_BROKER: readonly BrokerRow[] = [
  {
    attempt: 'an event of the ticketing source comes from another account (a bus policy letting it in)',
    prepare: async () =>
      viaHandler(
        busEvent(TICKETING, DETAIL_TYPES.grant, grantDetail({ principalArn: INTRUDER }), OTHER_ACCOUNT),
      ),
    code: 'ACCOUNT_NOT_ALLOWED',
  },
  {
    attempt: "an intruder's message reaches the requests queue (a queue policy letting it in)",
    prepare: async () => {
      const detail = grantDetail({ principalArn: INTRUDER });
      return {
        requestId: String(detail.requestId),
        send: async () => {
          broker.edge.queues.send(
            REQUESTS_QUEUE,
            { body: envelope(TICKETING, DETAIL_TYPES.grant, detail) },
            localCaller('intruder'),
          );
          await broker.edge.queues.idle(REQUESTS_QUEUE, { timeoutMs: 10_000 });
        },
      };
    },
    code: 'SENDER_NOT_ALLOWED',
  },
  {
    attempt: "Bob's proof is kept while a field is changed after signing and its bodySha256 updated to match",
    prepare: async () => {
      const signed = await signedBy('devbob', bobsGrantDetail());
      const { proof, ...rest } = signed;
      const tampered = { ...rest, policyArn: 'AmazonEKSEditPolicy' };
      const forged = { ...tampered, proof: { ...(proof as Proof), bodySha256: bodySha256(tampered) } };
      return viaHandler(busEvent(SELF_SERVICE, DETAIL_TYPES.grant, forged));
    },
    code: 'PROOF_INVALID',
  },
  {
    attempt: "Bob's proof was signed 2 minutes ago",
    prepare: async () => {
      const stale = await signedBy('devbob', bobsGrantDetail(), { now: new Date(Date.now() - 120_000) });
      return viaHandler(busEvent(SELF_SERVICE, DETAIL_TYPES.grant, stale));
    },
    code: 'PROOF_EXPIRED',
  },
  {
    attempt:
      "Bob's proof is replayed on another delivery of a request that was never recorded (its first delivery was refused after the proof was checked)",
    prepare: async () => {
      const signed = await signedBy('devbob', bobsGrantDetail({ durationSeconds: 28_801 }));
      const first = await deliver(busEvent(SELF_SERVICE, DETAIL_TYPES.grant, signed));
      if (first !== 'rejected') throw new Error(`the first delivery was ${first}`);
      return viaHandler(busEvent(SELF_SERVICE, DETAIL_TYPES.grant, signed));
    },
    code: 'PROOF_REPLAYED',
  },
  {
    attempt: "Bob's proof was made for another broker (eks-access-broker-prod)",
    prepare: async () => {
      const signed = await signedBy('devbob', bobsGrantDetail(), { audience: 'eks-access-broker-prod' });
      return viaHandler(busEvent(SELF_SERVICE, DETAIL_TYPES.grant, signed));
    },
    code: 'PROOF_WRONG_AUDIENCE',
  },
  {
    attempt: "the proof of one of Bob's requests is attached to another request",
    prepare: async () => {
      const { proof } = await signedBy('devbob', bobsGrantDetail());
      const other = { ...bobsGrantDetail({ policyArn: 'AmazonEKSEditPolicy' }), proof };
      return viaHandler(busEvent(SELF_SERVICE, DETAIL_TYPES.grant, other));
    },
    code: 'PROOF_WRONG_BODY',
  },
  {
    attempt: 'Bob proves who he is and asks self-service for access for role/dev-other',
    prepare: async () => {
      const signed = await signedBy(
        'devbob',
        bobsGrantDetail({ principalArn: `arn:aws:iam::${ACCOUNT}:role/dev-other` }),
      );
      return viaHandler(busEvent(SELF_SERVICE, DETAIL_TYPES.grant, signed));
    },
    code: 'NOT_SELF',
  },
  {
    attempt:
      'the intruder proves who he is with his own key and sends an on-call grant of Edit for his role (a bus policy letting it in)',
    prepare: async () => {
      const signed = await signedBy('intruder', {
        ...grantDetail({ principalArn: INTRUDER }),
        policyArn: 'AmazonEKSEditPolicy',
        accessScope: { type: 'cluster' },
      });
      return viaHandler(busEvent(ONCALL, DETAIL_TYPES.grant, signed));
    },
    code: 'SENDER_NOT_ALLOWED',
  },
  {
    attempt: 'a self-service request (a proven integration) comes without a proof',
    prepare: async () => viaHandler(busEvent(SELF_SERVICE, DETAIL_TYPES.grant, bobsGrantDetail())),
    code: 'PROOF_REQUIRED',
  },
  {
    attempt: "the on-call integration sends a request without its engineer's proof",
    prepare: async () =>
      viaHandler(
        busEvent(ONCALL, DETAIL_TYPES.grant, {
          ...sampleEvent('grant-break-glass.json').detail,
          requestId: freshRequestId('BG'),
        }),
      ),
    code: 'PROOF_REQUIRED',
  },
  {
    attempt: 'the ticketing integration asks for break-glass cluster admin',
    prepare: async () =>
      viaHandler(
        busEvent(TICKETING, DETAIL_TYPES.grant, {
          ...sampleEvent('grant-break-glass.json').detail,
          requestId: freshRequestId('BG'),
          principalArn: ALICE,
        }),
      ),
    code: 'BREAK_GLASS_NOT_ALLOWED',
  },
  {
    attempt: "the ticketing integration revokes Bob's self-service grant, knowing its requestId",
    prepare: async () => {
      const requestId = await bobsGrant();
      return viaHandler(busEvent(TICKETING, DETAIL_TYPES.revoke, revokeDetail(requestId, 'mallory')));
    },
    code: 'INTEGRATION_MISMATCH',
    lease: 'active',
  },
  {
    attempt: "another developer revokes Bob's proven grant with her own proof",
    prepare: async () => {
      const requestId = await bobsGrant();
      const signed = await signedBy(CAROL_KEY, revokeDetail(requestId, 'carol'));
      return viaHandler(busEvent(SELF_SERVICE, DETAIL_TYPES.revoke, signed));
    },
    code: 'NOT_SELF',
    lease: 'active',
  },
];

describe('refused by the broker, as it must be when a policy is misconfigured or the requester lies', () => {
  it.each(REFUSED_BY_BROKER.map((row) => [row.attempt, row.code, row] as const))(
    'refuses it when %s: %s',
    async (_attempt, code, { prepare, lease }) => {
      // Arrange
      const { requestId, send } = await prepare();
      const before = await mark(requestId);

      // Act
      await send();
      await settle();

      // Assert
      expect(outcomesSince(before, requestId)).toEqual([['Access Grant Rejected', code]]);
      expect(before.lease?.status).toBe(lease);
      await expectNothingChanged(before, requestId);
    },
  );
});

// Webhook integrations (issue 13): Jira and PagerDuty post to the broker's webhook function, which checks the
// vendor's signature, size and delivery id, and queues only a hint (a ticket event); the intake takes a ticket
// event only from that function, and reads the ticket back with the broker's own token before anything is
// decided. The fakes of the local broker (infra/local/jira, infra/local/pagerduty) send their signed webhooks
// to the edge's /webhooks/<id>, as the vendors would to the function URL.

const JIRA = 'jira';
const PAGERDUTY = 'pagerduty';
/** Jira users of infra/local/jira/site.json, by email. Alice owns role/dev-alice in the access rules. */
const JIRA_ALICE = 'alice@example.com';
const JIRA_BOB = 'bob@example.com';
/** In eks-access-approvers, the rules' approverGroup. */
const JIRA_CAROL = 'carol@example.com';
/** Not in eks-access-approvers. */
const JIRA_DAVE = 'dave@example.com';
const DEV_ALICE = `arn:aws:iam::${ACCOUNT}:role/dev-alice`;
/** The site's workflow: Open -> Waiting for approval -> Approved. */
const REQUEST_APPROVAL = '11';
const APPROVE = '21';
/** PagerDuty users of infra/local/pagerduty/account.json: Alice is mapped to role/oncall-alice, Bob to none. */
const PD_ALICE = 'PUSR0AL';
const PD_BOB = 'PUSR0BO';
/** The service the rules map to cluster demo; its escalation policy assigns Alice first. */
const PD_SERVICE = 'PSVC001';

type Json = Record<string, unknown>;

function fakeJira(): FakeJira {
  const fake = broker.vendors.jira.get(JIRA);
  if (!fake) throw new Error(`the local broker runs no fake Jira for the ${JIRA} integration`);
  return fake;
}

function fakePagerDuty(): FakePagerDuty {
  const fake = broker.vendors.pagerDuty.get(PAGERDUTY);
  if (!fake) throw new Error(`the local broker runs no fake PagerDuty for the ${PAGERDUTY} integration`);
  return fake;
}

/** Every message the requests queue ever accepted. */
function queuedRequests(): number {
  return broker.edge.queues.messages(REQUESTS_QUEUE).length;
}

/**
 * Lets every webhook the fakes send, and whatever it sets off (the ticket event, its outcome, the write-back),
 * finish: the fakes, the bus and the queues are waited for until a pass changes nothing, within a deadline.
 */
async function settleWebhooks(timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const progress = () =>
    JSON.stringify([
      fakeJira()
        .deliveries()
        .map((d) => d.state),
      fakePagerDuty()
        .deliveries()
        .map((d) => d.state),
      broker.edge.bus.events().length,
      broker.edge.queues.queueNames().map((queue) => broker.edge.queues.stats(queue)),
    ]);
  let before = progress();
  for (;;) {
    await broker.vendors.idle();
    await settle();
    const after = progress();
    if (after === before) return;
    if (Date.now() > deadline) throw new Error(`webhooks still under way after ${timeoutMs} ms: ${after}`);
    before = after;
  }
}

/** An access request in Jira for `principalArn`, reported by `reporter` and sent for approval: its key. */
async function jiraRequest(principalArn: string, reporter = JIRA_ALICE): Promise<string> {
  const jira = fakeJira();
  const { key } = jira.createIssue(
    {
      project: { key: 'ACCESS' },
      issuetype: { name: 'Access request' },
      summary: 'Read the logs of team-a',
      customfield_10100: 'demo',
      customfield_10101: principalArn,
      customfield_10102: 'AmazonEKSViewPolicy',
      customfield_10103: 'team-a',
      customfield_10104: 1,
    },
    reporter,
  );
  jira.transition(key, REQUEST_APPROVAL, reporter);
  await settleWebhooks();
  return key;
}

/** The last webhook the fake Jira sent about `key`, as it sent it. */
function lastJiraDelivery(key: string): WebhookDelivery {
  const delivery = fakeJira()
    .deliveries()
    .findLast((d) => d.issueKey === key);
  if (!delivery) throw new Error(`the fake Jira sent no webhook about ${key}`);
  return delivery;
}

interface Post {
  readonly integration: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * What a Jira webhook saying Carol moved `key` to Approved would be: the last real delivery about it, its
 * changelog's status move and its user edited, under a new delivery id; `sign` gives its X-Hub-Signature.
 */
function claimedJiraApproval(key: string, sign: (body: string) => string | undefined, padding = 0): Post {
  const payload = JSON.parse(lastJiraDelivery(key).body) as Json;
  const carol = fakeJira().user(JIRA_CAROL);
  const changelog = payload.changelog as { items: Json[] };
  const body = JSON.stringify({
    ...payload,
    user: { ...(payload.user as Json), accountId: carol.accountId, displayName: carol.displayName },
    changelog: {
      ...changelog,
      items: changelog.items.map((item) =>
        item.fieldId === 'status' ? { ...item, to: '10002', toString: 'Approved' } : item,
      ),
    },
    ...(padding > 0 ? { padding: 'x'.repeat(padding) } : {}),
  });
  const signature = sign(body);
  return {
    integration: JIRA,
    body,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'x-atlassian-webhook-identifier': randomUUID(),
      ...(signature === undefined ? {} : { 'x-hub-signature': signature }),
    },
  };
}

/** A PagerDuty incident of the mapped service, triggered (assigned to Alice): its id. */
async function pagerDutyIncident(): Promise<string> {
  const incident = fakePagerDuty().trigger({ title: 'Payments API is down', serviceId: PD_SERVICE });
  await settleWebhooks();
  return incident.id;
}

/**
 * What a PagerDuty webhook saying `user` acknowledged `incidentId` would be: the last real delivery about it
 * made an acknowledgement by that user, under a new event id; `secrets` sign it.
 */
function claimedAcknowledgement(incidentId: string, user: string, secrets: readonly string[]): Post {
  const delivery = fakePagerDuty()
    .deliveries()
    .findLast((d) => d.incidentId === incidentId);
  if (!delivery) throw new Error(`the fake PagerDuty sent no webhook about ${incidentId}`);
  const { event } = JSON.parse(delivery.body) as { event: Json };
  const id = eventId(new Date());
  const body = JSON.stringify({
    event: {
      ...event,
      id,
      event_type: 'incident.acknowledged',
      agent: { id: user, type: 'user_reference' },
      data: { ...(event.data as Json), status: 'acknowledged' },
    },
  });
  return {
    integration: PAGERDUTY,
    body,
    headers: {
      'content-type': 'application/json',
      'x-pagerduty-signature': pagerDutySignature(secrets, body),
      'x-webhook-id': id,
    },
  };
}

/**
 * Runs `change` with the fake PagerDuty's webhook subscription removed, so nothing it does reaches the broker
 * until a test sends the webhook itself; then subscribes the broker again, as the local broker does.
 */
async function withPagerDutyWebhooksHeldBack(change: () => void): Promise<void> {
  const pagerDuty = fakePagerDuty();
  pagerDuty.setWebhooks([]);
  try {
    change();
  } finally {
    pagerDuty.setWebhooks([
      { url: `${broker.edge.url}/webhooks/${PAGERDUTY}`, secrets: [pagerDuty.account.webhook.secret] },
    ]);
  }
  await settleWebhooks();
}

/** POSTs to the edge's /webhooks/<integration>, as the vendor would to the function URL: the answer. */
async function postWebhook(post: Post): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${broker.edge.url}/webhooks/${post.integration}`, {
    method: 'POST',
    headers: post.headers,
    body: post.body,
  });
  return { status: response.status, body: await response.json() };
}

/** The EKS access entry of `principalArn` on cluster demo, if any. */
function eksEntryOf(principalArn: string): unknown {
  return broker.edge.eks
    .snapshot()
    .flatMap((cluster) => cluster.entries)
    .find((entry) => entry.principalArn === principalArn);
}

/** The REST calls the fake Jira answered since `since` that read issue `key`. */
function readsOfIssue(since: number, key: string): string[] {
  return fakeJira()
    .calls()
    .slice(since)
    .filter((call) => call.method === 'GET' && call.url.startsWith(`/rest/api/3/issue/${key}`))
    .map((call) => call.url);
}

/** A Jira request approved by Carol and granted: the target of the replayed delivery. Its key. */
async function approvedJiraRequest(): Promise<string> {
  const key = await jiraRequest(freshPrincipal('jira'));
  fakeJira().transition(key, APPROVE, JIRA_CAROL);
  await settleWebhooks();
  const lease = await runtime().store.findLease(`${JIRA}:${key}`);
  if (lease?.status !== 'active')
    throw new Error(`Carol's approval of ${key} left the lease ${lease?.status}`);
  return key;
}

interface WebhookPostRow {
  readonly attempt: string;
  /** Sets up the ticket the post is about; the post, and the requestId the ticket would have. */
  readonly prepare: () => Promise<{ readonly requestId: string; readonly post: Post }>;
  readonly status: number;
  readonly answer: unknown;
  /** The lease under the ticket's requestId: none, or the live grant a replay aims at, left as it was. */
  readonly lease?: 'active';
}

const REFUSED_AT_THE_WEBHOOK: readonly WebhookPostRow[] = [
  {
    attempt: "a Jira webhook claiming Carol's approval is signed with a wrong secret",
    prepare: async () => {
      const key = await jiraRequest(freshPrincipal('jira'));
      const post = claimedJiraApproval(key, (body) => jiraSignature('not-the-webhook-secret', body));
      return { requestId: `${JIRA}:${key}`, post };
    },
    status: 401,
    answer: { error: expect.any(String) },
  },
  {
    attempt: "a Jira webhook claiming Carol's approval comes unsigned",
    prepare: async () => {
      const key = await jiraRequest(freshPrincipal('jira'));
      return { requestId: `${JIRA}:${key}`, post: claimedJiraApproval(key, () => undefined) };
    },
    status: 401,
    answer: { error: expect.any(String) },
  },
  {
    attempt: "a PagerDuty webhook claiming Alice's acknowledgement is signed with a wrong secret",
    prepare: async () => {
      const incident = await pagerDutyIncident();
      const post = claimedAcknowledgement(incident, PD_ALICE, ['not-the-webhook-secret']);
      return { requestId: `${PAGERDUTY}:${incident}:${PD_ALICE}`, post };
    },
    status: 401,
    answer: { error: expect.any(String) },
  },
  {
    attempt: "Jira's real delivery of Carol's approval is replayed, the same bytes and headers",
    prepare: async () => {
      const key = await approvedJiraRequest();
      const { body, headers } = lastJiraDelivery(key);
      return { requestId: `${JIRA}:${key}`, post: { integration: JIRA, body, headers } };
    },
    status: 200,
    answer: { duplicate: true },
    lease: 'active',
  },
  {
    attempt: `a correctly signed Jira webhook is larger than ${MAX_WEBHOOK_BODY_BYTES} bytes`,
    prepare: async () => {
      const key = await jiraRequest(freshPrincipal('jira'));
      const post = claimedJiraApproval(
        key,
        (body) => jiraSignature(LOCAL_JIRA_WEBHOOK_SECRET, body),
        MAX_WEBHOOK_BODY_BYTES,
      );
      return { requestId: `${JIRA}:${key}`, post };
    },
    status: 413,
    answer: { error: `the body is larger than ${MAX_WEBHOOK_BODY_BYTES} bytes` },
  },
];

interface TicketEventRow {
  readonly attempt: string;
  readonly accessKeyId: string;
  /** SendMessage's answer: `accepted`, or the error code AWS answers. */
  readonly answer: string;
  /** [detail-type, requestType, code] of every outcome the attempt caused. */
  readonly outcomes: readonly (readonly [string, unknown, unknown])[];
}

const TICKET_EVENT_SENDERS: readonly TicketEventRow[] = [
  {
    attempt: 'an intruder sends a ticket event on the requests queue',
    accessKeyId: 'intruder',
    answer: 'AccessDenied',
    outcomes: [],
  },
  {
    attempt: 'the ticketing integration, which may use the requests queue, sends a ticket event on it',
    accessKeyId: 'test',
    answer: 'accepted',
    outcomes: [['Access Grant Rejected', TICKET_EVENT_DETAIL_TYPE, 'SENDER_NOT_ALLOWED']],
  },
];

interface ReadBackRow {
  readonly attempt: string;
  /** Sets up the ticket; the requestId it would have, the role at stake, and the move that is refused. */
  readonly prepare: () => Promise<{
    readonly requestId: string;
    readonly principalArn: string;
    readonly act: () => Promise<void>;
  }>;
  readonly code: string;
}

/** Posts a correctly signed webhook that the function must take (queue) for the read-back to answer it. */
async function queued(post: Post): Promise<void> {
  const answer = await postWebhook(post);
  if (answer.status !== 202) throw new Error(`the webhook was answered ${answer.status}`);
}

const REFUSED_ON_READ_BACK: readonly ReadBackRow[] = [
  {
    attempt: 'Alice approves the Jira request she reported',
    prepare: async () => {
      const principalArn = freshPrincipal('jira');
      const key = await jiraRequest(principalArn, JIRA_ALICE);
      return {
        requestId: `${JIRA}:${key}`,
        principalArn,
        act: async () => fakeJira().transition(key, APPROVE, JIRA_ALICE),
      };
    },
    code: 'SELF_APPROVAL',
  },
  {
    attempt: 'Alice approves a Jira request Bob reported for role/dev-alice, which she owns',
    prepare: async () => {
      const key = await jiraRequest(DEV_ALICE, JIRA_BOB);
      return {
        requestId: `${JIRA}:${key}`,
        principalArn: DEV_ALICE,
        act: async () => fakeJira().transition(key, APPROVE, JIRA_ALICE),
      };
    },
    code: 'SELF_APPROVAL',
  },
  {
    attempt: "Dave, who is not in eks-access-approvers, approves Alice's Jira request",
    prepare: async () => {
      const principalArn = freshPrincipal('jira');
      const key = await jiraRequest(principalArn);
      return {
        requestId: `${JIRA}:${key}`,
        principalArn,
        act: async () => fakeJira().transition(key, APPROVE, JIRA_DAVE),
      };
    },
    code: 'APPROVER_NOT_IN_GROUP',
  },
  {
    attempt: 'a correctly signed Jira webhook claims Carol approved an issue still waiting for approval',
    prepare: async () => {
      const principalArn = freshPrincipal('jira');
      const key = await jiraRequest(principalArn);
      const post = claimedJiraApproval(key, (body) => jiraSignature(LOCAL_JIRA_WEBHOOK_SECRET, body));
      return { requestId: `${JIRA}:${key}`, principalArn, act: () => queued(post) };
    },
    code: 'APPROVAL_NOT_FOUND',
  },
  {
    attempt: 'Bob, whom the rules map to no role, acknowledges a PagerDuty incident',
    prepare: async () => {
      const incident = await pagerDutyIncident();
      return {
        requestId: `${PAGERDUTY}:${incident}:${PD_BOB}`,
        principalArn: ALICE,
        act: async () => {
          fakePagerDuty().acknowledge(incident, PD_BOB);
        },
      };
    },
    code: 'RESPONDER_NOT_MAPPED',
  },
  {
    attempt:
      "Alice's acknowledgement arrives after the incident was reassigned away from her (its webhook held back)",
    prepare: async () => {
      const incident = await pagerDutyIncident();
      const pagerDuty = fakePagerDuty();
      await withPagerDutyWebhooksHeldBack(() => {
        pagerDuty.acknowledge(incident, PD_ALICE);
        pagerDuty.assign(incident, [PD_BOB]);
      });
      const post = claimedAcknowledgement(incident, PD_ALICE, [pagerDuty.account.webhook.secret]);
      return {
        requestId: `${PAGERDUTY}:${incident}:${PD_ALICE}`,
        principalArn: ALICE,
        act: () => queued(post),
      };
    },
    code: 'RESPONDER_NOT_ASSIGNED',
  },
  {
    attempt: 'a correctly signed PagerDuty webhook claims Alice acknowledged an incident she has not',
    prepare: async () => {
      const incident = await pagerDutyIncident();
      const post = claimedAcknowledgement(incident, PD_ALICE, [fakePagerDuty().account.webhook.secret]);
      return {
        requestId: `${PAGERDUTY}:${incident}:${PD_ALICE}`,
        principalArn: ALICE,
        act: () => queued(post),
      };
    },
    code: 'APPROVAL_NOT_FOUND',
  },
];

describe('webhooks: refused at the webhook function, on the queue, or on what the broker reads back', () => {
  it('grants when Carol, an approver, approves the Jira request Alice reported (the control)', async () => {
    // Arrange
    const principalArn = freshPrincipal('jira');
    const key = await jiraRequest(principalArn);
    const before = await mark(`${JIRA}:${key}`);

    // Act
    fakeJira().transition(key, APPROVE, JIRA_CAROL);
    await settleWebhooks();

    // Assert
    expect(outcomesSince(before, `${JIRA}:${key}`)).toEqual([['Access Granted', undefined]]);
    expect((await runtime().store.findLease(`${JIRA}:${key}`))?.status).toBe('active');
    expect(eksEntryOf(principalArn)).toMatchObject({ principalArn });
  });

  it.each(REFUSED_AT_THE_WEBHOOK.map((row) => [row.attempt, row.status, row] as const))(
    'refuses it when %s: %s, nothing queued',
    async (_attempt, status, { prepare, answer, lease }) => {
      // Arrange
      const { requestId, post } = await prepare();
      const before = await mark(requestId);
      const queuedBefore = queuedRequests();

      // Act
      const answered = await postWebhook(post);
      await settleWebhooks();

      // Assert
      expect(answered).toEqual({ status, body: answer });
      expect(queuedRequests()).toBe(queuedBefore);
      expect(outcomesSince(before, requestId)).toEqual([]);
      expect(before.lease?.status).toBe(lease);
      await expectNothingChanged(before, requestId);
    },
  );

  it.each(TICKET_EVENT_SENDERS.map((row) => [row.attempt, row.answer, row] as const))(
    'refuses it when %s: %s, and reads nothing back',
    async (_attempt, answer, { accessKeyId, outcomes }) => {
      // Arrange
      const key = await jiraRequest(freshPrincipal('jira'));
      const requestId = `${JIRA}:${key}`;
      const event: TicketEvent = {
        integration: JIRA,
        vendor: 'jira',
        deliveryId: randomUUID(),
        ticket: key,
        event: 'jira:issue_updated',
        claims: { status: 'Approved', user: fakeJira().user(JIRA_CAROL).accountId },
        receivedAt: new Date().toISOString(),
      };
      const before = await mark(requestId);
      const jiraCallsBefore = fakeJira().calls().length;

      // Act
      const sent = await sendAs(
        accessKeyId,
        REQUESTS_QUEUE,
        JSON.stringify({
          source: TICKET_EVENT_SOURCE,
          'detail-type': TICKET_EVENT_DETAIL_TYPE,
          detail: event,
        }),
      );
      await settleWebhooks();

      // Assert
      expect(sent).toBe(answer);
      expect(
        broker
          .outcomes()
          .slice(before.outcomes)
          .map((e) => [e['detail-type'], e.detail.requestType, e.detail.code]),
      ).toEqual(outcomes);
      expect(readsOfIssue(jiraCallsBefore, key)).toEqual([]);
      expect(before.lease).toBeUndefined();
      await expectNothingChanged(before, requestId);
    },
  );

  it.each(REFUSED_ON_READ_BACK.map((row) => [row.attempt, row.code, row] as const))(
    'refuses it when %s: %s',
    async (_attempt, code, { prepare }) => {
      // Arrange
      const { requestId, principalArn, act } = await prepare();
      const before = await mark(requestId);

      // Act
      await act();
      await settleWebhooks();

      // Assert
      expect(outcomesSince(before, requestId)).toEqual([['Access Grant Rejected', code]]);
      expect(before.lease).toBeUndefined();
      expect(eksEntryOf(principalArn)).toBeUndefined();
      await expectNothingChanged(before, requestId);
    },
  );
});

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { EventBridgeEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signProof } from '../../functions/cli/proof';
import { LOCAL_RESOURCE_NAMES } from '../../functions/config/names';
import { DETAIL_TYPES } from '../../functions/core/contract';
import type { Lease } from '../../functions/core/model';
import { OUTCOME_SOURCE } from '../../functions/core/names';
import { bodySha256, type Proof } from '../../functions/core/proof';
import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { runtime } from '../../functions/runtime';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { DEFAULT_IDENTITIES_FILE } from '../../infra/local/identities';
import { lambdaContext } from '../../infra/local/lambda-context';
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

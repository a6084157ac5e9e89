import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../../functions/runtime';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import type { FakePagerDuty } from '../../infra/local/pagerduty/server';
import {
  ADMIN,
  entryOf,
  notes,
  ONCALL_ALICE,
  outcome,
  outcomeTypes,
  PD_ALICE,
  PD_BOB,
  PD_MAPPED_SERVICE,
  pagerDutyOf,
  policiesOf,
  postWebhook,
  queuedRequests,
  settle,
} from '../support/ticket-flows';
import { PAGERDUTY_SAMPLE_FILE, sample } from '../support/webhooks';

/**
 * The PagerDuty flow end to end through the local edge: the fake PagerDuty sends signed v3 webhooks to
 * /webhooks/pagerduty over HTTP, the SQS intake reads each incident back from the fake's REST API, a mapped
 * responder who acknowledged and is assigned gets break-glass cluster admin for their own role, resolving the
 * incident takes it back, and every outcome is written back as an incident note.
 */
const CLUSTER = { type: 'cluster' };
/** How the EKS emulator lists a cluster-wide association, as the EKS API answers it. */
const HELD_CLUSTER_WIDE = { type: 'cluster', namespaces: [] };
const UNMAPPED_SERVICE = 'PSVC002';

let broker: LocalBroker;
let pagerDuty: FakePagerDuty;
let webhookUrl: string;
let secret: string;
/** The incidents a test opened: resolved after it, so a failed test leaves no access for the next one. */
const opened: string[] = [];

beforeAll(async () => {
  process.env.LOCK_WAIT_MS = '300';
  broker = await startLocalBroker({ port: 0, sweepIntervalMs: 0, queueVisibilityTimeoutSeconds: 3 });
  pagerDuty = pagerDutyOf(broker);
  webhookUrl = `${broker.edge.url}/webhooks/pagerduty`;
  secret = pagerDuty.account.webhook.secret;
});

afterEach(async () => {
  pagerDuty.setWebhooks([{ url: webhookUrl, secrets: [secret] }]);
  for (const id of opened.splice(0)) {
    if (pagerDuty.incident(id)?.status !== 'resolved') pagerDuty.resolve(id, PD_ALICE);
  }
  await settle(broker);
});

/** Triggers an incident through the fake's API shortcut, remembered for the clean-up. */
function trigger(input: Parameters<FakePagerDuty['trigger']>[0]) {
  const incident = pagerDuty.trigger(input);
  opened.push(incident.id);
  return incident;
}

afterAll(async () => {
  await broker?.close();
});

/** Both grant outcomes go out in one PutEvents, in either order; the revocation comes after them. */
const GRANTED_THEN_REVOKED = [['Access Granted', 'Break Glass Access Granted'], ['Access Revoked']];

function grantThenRevoke(requestId: string): string[][] {
  const types = outcomeTypes(broker, requestId).map(([type]) => String(type));
  return [types.slice(0, 2).sort(), types.slice(2)];
}

/** The requestId of a refusal about a responder: the incident and the user. */
function requestIdOf(incidentId: string, userId: string): string {
  return `pagerduty:${incidentId}:${userId}`;
}

/**
 * Acknowledges the incident as the user (reopening it if it was resolved), and answers the requestId of the grant
 * that acknowledgement asks for: one lease per acknowledgement, named by its instant to the second.
 */
function acknowledge(incidentId: string, userId: string): string {
  const incident = pagerDuty.acknowledge(incidentId, userId);
  const at = incident.acknowledgements.find((ack) => ack.acknowledger.id === userId)?.at;
  if (at === undefined) throw new Error(`${userId} has no acknowledgement of ${incidentId}`);
  const second = new Date(Math.floor(Date.parse(at) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  return `${requestIdOf(incidentId, userId)}:${second}`;
}

/** The HTTP statuses the edge answered to each attempt of each delivery about an incident. */
function answersAbout(incidentId: string): (number | undefined)[][] {
  return pagerDuty
    .deliveries()
    .filter((delivery) => delivery.incidentId === incidentId)
    .map((delivery) => delivery.attempts.map((attempt) => attempt.status));
}

describe('an incident of a mapped service', () => {
  it("gives its acknowledging responder's role break-glass cluster admin, notes it, and takes it back when resolved", async () => {
    const incident = trigger({ title: 'Payments API 5xx', serviceId: PD_MAPPED_SERVICE });
    await settle(broker);

    const requestId = acknowledge(incident.id, PD_ALICE);
    const announced = await outcome(broker, requestId, 'Break Glass Access Granted');
    const granted = await outcome(broker, requestId, 'Access Granted');
    const grantNotes = await notes(broker, incident.id, 1);
    await settle(broker);

    const reason = `PagerDuty incident #${incident.incident_number} (${incident.id}) acknowledged by responder ${PD_ALICE}`;
    expect(policiesOf(broker, ONCALL_ALICE)).toEqual([[ADMIN, HELD_CLUSTER_WIDE]]);
    expect(granted.detail).toMatchObject({
      clusterName: 'demo',
      principalArn: ONCALL_ALICE,
      policyArn: ADMIN,
      effectiveScope: CLUSTER,
      durationSeconds: 3600,
      breakGlass: true,
      requestedBy: `pagerduty:${PD_ALICE}`,
      ticket: { system: 'pagerduty', key: incident.id },
      origin: {
        integration: 'pagerduty',
        requestedByProof: 'read-back',
        approvedBy: `pagerduty:${PD_ALICE}`,
      },
    });
    expect(announced.detail).toMatchObject({ principalArn: ONCALL_ALICE, reason });
    const expiresAt = String(granted.detail.expiresAt);
    const holds = `EKS holds AmazonEKSClusterAdminPolicy for ${ONCALL_ALICE} on cluster demo, cluster-wide. The broker takes it back at ${expiresAt}.`;
    // One note a grant: its Break Glass Access Granted is not written back, its Access Granted says break-glass.
    expect(grantNotes).toEqual([
      `Break-glass access granted (request ${requestId}).\n\n${holds}\n\nAcknowledged by pagerduty:${PD_ALICE}.`,
    ]);
    expect(await runtime().store.findLease(requestId)).toMatchObject({
      status: 'active',
      ruleId: 'pagerduty-break-glass-admin',
    });

    pagerDuty.resolve(incident.id, PD_ALICE);
    const revoked = await outcome(broker, requestId, 'Access Revoked');
    const allNotes = await notes(broker, incident.id, 2);
    await settle(broker);

    expect(revoked.detail).toMatchObject({ reason: 'requested', principalArn: ONCALL_ALICE });
    expect(allNotes[1]).toBe(
      `Access revoked (request ${requestId}).\n\n` +
        `AmazonEKSClusterAdminPolicy for ${ONCALL_ALICE} on cluster demo was removed from EKS at ` +
        `${String(revoked.detail.revokedAt)}, as requested by integration pagerduty.`,
    );
    expect(entryOf(broker, ONCALL_ALICE)).toBeUndefined();
    expect(grantThenRevoke(requestId)).toEqual(GRANTED_THEN_REVOKED);
    expect(pagerDuty.notes(incident.id).map((note) => note.user.id)).toEqual(['PUSR0EB', 'PUSR0EB']);
  });

  it('gives the responder access again when they reopen the resolved incident acknowledged, and takes it back at the next resolve', async () => {
    const incident = trigger({ title: 'Payments API 5xx again', serviceId: PD_MAPPED_SERVICE });
    const first = acknowledge(incident.id, PD_ALICE);
    await outcome(broker, first, 'Access Granted');
    pagerDuty.resolve(incident.id, PD_ALICE);
    await outcome(broker, first, 'Access Revoked');
    await settle(broker);
    // The acknowledgement instant is kept to the second: the next one must fall in another second.
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    const second = acknowledge(incident.id, PD_ALICE);
    await outcome(broker, second, 'Access Granted');
    await settle(broker);
    const during = policiesOf(broker, ONCALL_ALICE);
    pagerDuty.resolve(incident.id, PD_ALICE);
    await outcome(broker, second, 'Access Revoked');
    await settle(broker);

    expect(second).not.toBe(first);
    expect(
      pagerDuty
        .deliveries()
        .filter((delivery) => delivery.incidentId === incident.id)
        .map((delivery) => delivery.eventType),
    ).toEqual([
      'incident.triggered',
      'incident.acknowledged',
      'incident.resolved',
      'incident.reopened',
      'incident.resolved',
    ]);
    expect(during).toEqual([[ADMIN, HELD_CLUSTER_WIDE]]);
    expect(grantThenRevoke(first)).toEqual(GRANTED_THEN_REVOKED);
    expect(grantThenRevoke(second)).toEqual(GRANTED_THEN_REVOKED);
    expect(entryOf(broker, ONCALL_ALICE)).toBeUndefined();
  });

  it('refuses a responder who maps to no role (RESPONDER_NOT_MAPPED), notes why, and gives no access', async () => {
    const incident = trigger({
      title: 'Payments queue backlog',
      serviceId: PD_MAPPED_SERVICE,
      assignees: [PD_BOB],
    });
    const requestId = requestIdOf(incident.id, PD_BOB);
    await settle(broker);
    const mutations = broker.edge.eks.mutations().length;

    pagerDuty.acknowledge(incident.id, PD_BOB);
    const rejected = await outcome(broker, requestId, 'Access Grant Rejected');
    const [note] = await notes(broker, incident.id, 1);
    await settle(broker);

    expect(rejected.detail).toMatchObject({
      code: 'RESPONDER_NOT_MAPPED',
      ticket: { system: 'pagerduty', key: incident.id },
    });
    expect(note).toBe(
      `Access request refused (request ${requestId}).\n\nRESPONDER_NOT_MAPPED: ${String(rejected.detail.reason)}`,
    );
    expect(String(rejected.detail.reason)).toContain(PD_BOB);
    expect(broker.edge.eks.mutations()).toHaveLength(mutations);
    expect(outcomeTypes(broker, requestId)).toEqual([['Access Grant Rejected', 'RESPONDER_NOT_MAPPED']]);
    expect(pagerDuty.notes(incident.id)).toHaveLength(1);
  });
});

describe('webhook signatures', () => {
  it('accepts a delivery signed with the new and the old secret while the stored secret is still the old one', async () => {
    pagerDuty.setWebhooks([{ url: webhookUrl, secrets: ['pd-rotated-webhook-secret', secret] }]);
    const incident = trigger({ title: 'Payments latency', serviceId: PD_MAPPED_SERVICE });

    const requestId = acknowledge(incident.id, PD_ALICE);
    await outcome(broker, requestId, 'Access Granted');
    pagerDuty.resolve(incident.id, PD_ALICE);
    await outcome(broker, requestId, 'Access Revoked');
    await settle(broker);

    const [acknowledged] = pagerDuty
      .deliveries()
      .filter(
        (delivery) => delivery.incidentId === incident.id && delivery.eventType === 'incident.acknowledged',
      );
    expect(acknowledged?.headers['x-pagerduty-signature']?.split(',')).toHaveLength(2);
    expect(answersAbout(incident.id).every((answers) => answers.length === 1 && answers[0] === 202)).toBe(
      true,
    );
    expect(grantThenRevoke(requestId)).toEqual(GRANTED_THEN_REVOKED);
    expect(entryOf(broker, ONCALL_ALICE)).toBeUndefined();
  });

  it('refuses with 401 every attempt of a delivery signed only with a secret the broker does not hold, and queues nothing', async () => {
    pagerDuty.setWebhooks([{ url: webhookUrl, secrets: ['pd-wrong-webhook-secret'] }]);
    const queued = queuedRequests(broker);
    const mutations = broker.edge.eks.mutations().length;
    const incident = trigger({ title: 'Payments down', serviceId: PD_MAPPED_SERVICE });

    const requestId = acknowledge(incident.id, PD_ALICE);
    await settle(broker);

    const answers = answersAbout(incident.id);
    expect(answers).toHaveLength(2);
    expect(answers.flat().every((status) => status === 401)).toBe(true);
    expect(
      pagerDuty
        .deliveries()
        .filter((d) => d.incidentId === incident.id)
        .map((d) => d.state),
    ).toEqual(['failed', 'failed']);
    expect(queuedRequests(broker)).toBe(queued);
    expect(outcomeTypes(broker, requestId)).toEqual([]);
    expect(broker.edge.eks.mutations()).toHaveLength(mutations);
    expect(entryOf(broker, ONCALL_ALICE)).toBeUndefined();
  });

  it('refuses with 401 a webhook without X-PagerDuty-Signature, and queues nothing', async () => {
    const body = JSON.stringify(sample(PAGERDUTY_SAMPLE_FILE));
    const queued = queuedRequests(broker);

    const answer = await postWebhook(broker, 'pagerduty', body, { 'content-type': 'application/json' });

    expect(answer.status).toBe(401);
    expect(queuedRequests(broker)).toBe(queued);
  });

  it('takes no unmapped service: an incident of one is acknowledged and nobody gets access', async () => {
    const incident = trigger({ title: 'Marketing site down', serviceId: UNMAPPED_SERVICE });
    const mutations = broker.edge.eks.mutations().length;

    const requestId = acknowledge(incident.id, PD_ALICE);
    await settle(broker);

    expect(outcomeTypes(broker, requestId)).toEqual([]);
    expect(pagerDuty.notes(incident.id)).toEqual([]);
    expect(broker.edge.eks.mutations()).toHaveLength(mutations);
  });
});

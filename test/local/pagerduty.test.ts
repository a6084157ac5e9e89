import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakePagerDuty, startFakePagerDuty } from '../../infra/local/pagerduty/server';

const BROKER_KEY = 'pd-local-broker-key';
const READ_ONLY_KEY = 'pd-local-readonly-key';
const SECRET = 'first-secret';
const NEXT_SECRET = 'second-secret';

/** A webhook endpoint that keeps the exact bytes and headers of every POST and answers what it is told. */
interface Receiver {
  readonly url: string;
  readonly received: { body: Buffer; headers: IncomingHttpHeaders }[];
  /** Statuses for the next requests, in order; 202 once used up. */
  readonly answers: number[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const answers: number[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(answers.shift() ?? 202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/pagerduty`,
    received,
    answers,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const hmac = (secret: string, body: Buffer) => createHmac('sha256', secret).update(body).digest('hex');

let fake: FakePagerDuty;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  fake = await startFakePagerDuty({
    port: 0,
    webhooks: [{ url: receiver.url, secrets: [SECRET], id: 'PSUB001' }],
    delivery: { attempts: 3, firstRetryMs: 10 },
  });
});

afterEach(async () => {
  await fake.idle();
  fake.reset();
  fake.setWebhooks([{ url: receiver.url, secrets: [SECRET], id: 'PSUB001' }]);
  receiver.received.length = 0;
  receiver.answers.length = 0;
});

afterAll(async () => {
  await fake.close();
  await receiver.close();
});

async function api(
  method: string,
  path: string,
  options: { body?: unknown; from?: string; key?: string | null } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { accept: 'application/vnd.pagerduty+json;version=2' };
  if (options.key !== null) headers.authorization = `Token token=${options.key ?? BROKER_KEY}`;
  if (options.from) headers.from = options.from;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${fake.url}${path}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function createBody(title: string, serviceId = 'PSVC001') {
  return { incident: { type: 'incident', title, service: { id: serviceId, type: 'service_reference' } } };
}

const userRef = (id: string, summary: string) => ({
  id,
  type: 'user_reference',
  summary,
  self: `${fake.url}/users/${id}`,
  html_url: `https://example.pagerduty.com/users/${id}`,
});

async function createIncident(title = 'Payments API latency'): Promise<string> {
  const created = await api('POST', '/incidents', { body: createBody(title), from: 'alice@example.com' });
  return (created.body.incident as { id: string }).id;
}

function setStatus(id: string, status: string, from: string) {
  return api('PUT', `/incidents/${id}`, {
    body: { incident: { type: 'incident_reference', status } },
    from,
  });
}

describe('authentication', () => {
  it('answers 401 Authentication Failed (2006) without a key, with an unknown key or another scheme', async () => {
    const missing = await api('GET', '/incidents', { key: null });
    const unknown = await api('GET', '/incidents', { key: 'not-a-key-of-this-account' });
    const bearer = await fetch(`${fake.url}/incidents`, {
      headers: { authorization: `Bearer ${BROKER_KEY}` },
    });

    const refusal = { error: { message: 'Authentication Failed', code: 2006 } };
    expect(missing).toEqual({ status: 401, body: refusal });
    expect(unknown).toEqual({ status: 401, body: refusal });
    expect(bearer.status).toBe(401);
  });

  it('serves reads to a read-only key and answers its writes 403 Access Denied (2010)', async () => {
    const id = await createIncident();

    const read = await api('GET', `/incidents/${id}`, { key: READ_ONLY_KEY });
    const write = await api('POST', `/incidents/${id}/notes`, {
      key: READ_ONLY_KEY,
      from: 'alice@example.com',
      body: { note: { content: 'looking' } },
    });

    expect(read.status).toBe(200);
    expect(write).toEqual({ status: 403, body: { error: { message: 'Access Denied', code: 2010 } } });
  });
});

describe('incidents', () => {
  it('creates an incident, 201, assigned to the first level of its service escalation policy', async () => {
    const created = await api('POST', '/incidents', {
      body: createBody('Payments API latency'),
      from: 'alice@example.com',
    });

    expect(created.status).toBe(201);
    const incident = created.body.incident as Record<string, unknown>;
    const id = incident.id as string;
    expect(id).toMatch(/^Q[0-9A-Z]{13}$/);
    expect(incident).toMatchObject({
      type: 'incident',
      summary: '[#1] Payments API latency',
      self: `${fake.url}/incidents/${id}`,
      html_url: `https://example.pagerduty.com/incidents/${id}`,
      incident_number: 1,
      title: 'Payments API latency',
      status: 'triggered',
      urgency: 'high',
      service: {
        id: 'PSVC001',
        type: 'service_reference',
        summary: 'Payments',
        self: `${fake.url}/services/PSVC001`,
        html_url: 'https://example.pagerduty.com/service-directory/PSVC001',
      },
      assigned_via: 'escalation_policy',
      assignments: [{ at: incident.created_at, assignee: userRef('PUSR0AL', 'Alice Oncall') }],
      acknowledgements: [],
      escalation_policy: { id: 'PESC001', type: 'escalation_policy_reference', summary: 'Payments on call' },
      last_status_change_by: userRef('PUSR0AL', 'Alice Oncall'),
      resolved_at: null,
    });
    expect(incident.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(incident.incident_key).toMatch(/^[0-9a-f]{32}$/);
    expect(await api('GET', `/incidents/${id}`)).toEqual({ status: 200, body: { incident } });
  });

  it('numbers incidents from 1, assigns the users named, and refuses a second open one with the same key', async () => {
    const first = await createIncident('first');
    const second = await api('POST', '/incidents', {
      from: 'bob@example.com',
      body: {
        incident: {
          ...createBody('second').incident,
          incident_key: 'payments-latency',
          assignments: [{ assignee: { id: 'PUSR0CA', type: 'user_reference' } }],
        },
      },
    });
    const duplicate = await api('POST', '/incidents', {
      from: 'bob@example.com',
      body: { incident: { ...createBody('third').incident, incident_key: 'payments-latency' } },
    });

    expect(fake.incident(first)?.incident_number).toBe(1);
    expect(second.body.incident).toMatchObject({
      incident_number: 2,
      incident_key: 'payments-latency',
      assigned_via: 'direct_assignment',
      assignments: [{ assignee: { id: 'PUSR0CA' } }],
      last_status_change_by: { id: 'PUSR0BO' },
    });
    expect(duplicate).toEqual({
      status: 400,
      body: {
        error: {
          message: 'Invalid Input Provided',
          code: 2001,
          errors: ['Open incident with matching dedup key already exists on this service'],
        },
      },
    });
  });

  it('refuses a write without From, or From naming no user, as Invalid Input Provided (2001)', async () => {
    const id = await createIncident();

    const missing = await api('POST', '/incidents', { body: createBody('no from') });
    const stranger = await setStatus(id, 'acknowledged', 'mallory@example.com');

    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ message: 'Invalid Input Provided', code: 2001 });
    expect(stranger).toEqual({
      status: 400,
      body: {
        error: {
          message: 'Invalid Input Provided',
          code: 2001,
          errors: ['Requester User Not Found: no user has the email mallory@example.com'],
        },
      },
    });
    expect(fake.incident(id)?.status).toBe('triggered');
  });

  it('refuses an unknown service, a wrong type and a body that is not JSON, naming what is wrong', async () => {
    const unknownService = await api('POST', '/incidents', {
      body: createBody('x', 'PNOPE01'),
      from: 'alice@example.com',
    });
    const wrongType = await api('POST', '/incidents', {
      body: { incident: { ...createBody('x').incident, type: 'incident_reference' } },
      from: 'alice@example.com',
    });
    const notJson = await fetch(`${fake.url}/incidents`, {
      method: 'POST',
      headers: { authorization: `Token token=${BROKER_KEY}`, from: 'alice@example.com' },
      body: '{"incident":',
    });

    expect(unknownService.body).toEqual({
      error: { message: 'Invalid Input Provided', code: 2001, errors: ['Service PNOPE01 not found'] },
    });
    expect(wrongType.status).toBe(400);
    expect((wrongType.body.error as { errors: string[] }).errors[0]).toMatch(/^incident\.type: /);
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({
      error: {
        message: 'Invalid Input Provided',
        code: 2001,
        errors: ['The request body is not valid JSON'],
      },
    });
  });

  it('answers 404 Not Found (2100) for an unknown incident, its notes and an unknown path', async () => {
    const notFound = { status: 404, body: { error: { message: 'Not Found', code: 2100 } } };

    expect(await api('GET', '/incidents/Q000000000000X')).toEqual(notFound);
    expect(await api('GET', '/incidents/Q000000000000X/notes')).toEqual(notFound);
    expect(await api('GET', '/services')).toEqual(notFound);
  });

  it('acknowledging adds the acting user as acknowledger, and assigns them when they were not', async () => {
    const id = await createIncident();

    const byCarol = await setStatus(id, 'acknowledged', 'carol@example.com');
    const byAlice = await setStatus(id, 'acknowledged', 'alice@example.com');
    const again = await setStatus(id, 'acknowledged', 'alice@example.com');

    expect(byCarol.status).toBe(200);
    const incident = byAlice.body.incident as Record<string, unknown>;
    expect(incident).toMatchObject({
      status: 'acknowledged',
      acknowledgements: [
        { acknowledger: userRef('PUSR0CA', 'Carol Backup') },
        { acknowledger: userRef('PUSR0AL', 'Alice Oncall') },
      ],
      assignments: [{ assignee: { id: 'PUSR0AL' } }, { assignee: { id: 'PUSR0CA' } }],
      last_status_change_by: { id: 'PUSR0AL' },
    });
    expect(again.body.incident).toMatchObject({ acknowledgements: incident.acknowledgements });
  });

  it('resolving empties assignments and acknowledgements; resolving again is Incident Already Resolved', async () => {
    const id = await createIncident();
    await setStatus(id, 'acknowledged', 'alice@example.com');

    const resolved = await setStatus(id, 'resolved', 'alice@example.com');
    const twice = await setStatus(id, 'resolved', 'alice@example.com');

    expect(resolved.body.incident).toMatchObject({
      status: 'resolved',
      assignments: [],
      acknowledgements: [],
    });
    expect((resolved.body.incident as { resolved_at: string }).resolved_at).toMatch(/Z$/);
    expect(twice).toEqual({
      status: 400,
      body: {
        error: { message: 'Arguments Caused Error', code: 2002, errors: ['Incident Already Resolved'] },
      },
    });
  });

  it('reopening a resolved incident as acknowledged assigns it to the acting user', async () => {
    const id = await createIncident();
    await setStatus(id, 'resolved', 'alice@example.com');

    const reopened = await setStatus(id, 'acknowledged', 'carol@example.com');

    expect(reopened.body.incident).toMatchObject({
      status: 'acknowledged',
      resolved_at: null,
      assignments: [{ assignee: { id: 'PUSR0CA' } }],
      acknowledgements: [{ acknowledger: { id: 'PUSR0CA' } }],
    });
  });

  it('unacknowledging and reassigning put an acknowledged incident back to triggered, acknowledgements cleared', async () => {
    const first = await createIncident('first');
    const second = await createIncident('second');
    await setStatus(first, 'acknowledged', 'alice@example.com');
    await setStatus(second, 'acknowledged', 'alice@example.com');

    const unacknowledged = await setStatus(first, 'triggered', 'alice@example.com');
    const reassigned = await api('PUT', `/incidents/${second}`, {
      from: 'alice@example.com',
      body: {
        incident: {
          type: 'incident_reference',
          assignments: [{ assignee: { id: 'PUSR0BO', type: 'user_reference' } }],
        },
      },
    });

    expect(unacknowledged.body.incident).toMatchObject({
      status: 'triggered',
      acknowledgements: [],
      assignments: [{ assignee: { id: 'PUSR0AL' } }],
    });
    expect(reassigned.body.incident).toMatchObject({
      status: 'triggered',
      acknowledgements: [],
      assigned_via: 'direct_assignment',
      assignments: [{ assignee: { id: 'PUSR0BO' } }],
    });
  });

  it('lists every incident', async () => {
    const first = await createIncident('first');
    const second = await createIncident('second');

    const listed = await api('GET', '/incidents');

    expect(listed.status).toBe(200);
    expect((listed.body.incidents as { id: string }[]).map((incident) => incident.id)).toEqual([
      first,
      second,
    ]);
    expect(listed.body).toMatchObject({ offset: 0, more: false, total: null });
  });
});

describe('notes', () => {
  it('adds a note as the From user, 200 {note}, and lists it', async () => {
    const id = await createIncident();

    const added = await api('POST', `/incidents/${id}/notes`, {
      from: 'eks-access-broker@example.com',
      body: { note: { content: 'Access granted: cluster admin on demo until 10:00 UTC.' } },
    });
    const listed = await api('GET', `/incidents/${id}/notes`);

    expect(added.status).toBe(200);
    const note = added.body.note as Record<string, unknown>;
    expect(note).toEqual({
      id: expect.stringMatching(/^P[0-9A-Z]{6}$/),
      user: userRef('PUSR0EB', 'EKS Access Broker'),
      channel: { summary: 'The PagerDuty website or APIs' },
      content: 'Access granted: cluster admin on demo until 10:00 UTC.',
      created_at: expect.stringMatching(/Z$/),
      updated_at: note.created_at,
    });
    expect(listed).toEqual({ status: 200, body: { notes: [note] } });
    expect(fake.notes(id)).toEqual([note]);
  });

  it('refuses an empty note, and a note on an unknown incident with 404', async () => {
    const id = await createIncident();

    const empty = await api('POST', `/incidents/${id}/notes`, {
      from: 'alice@example.com',
      body: { note: { content: '' } },
    });
    const missing = await api('POST', '/incidents/Q000000000000X/notes', {
      from: 'alice@example.com',
      body: { note: { content: 'hello' } },
    });

    expect(empty.status).toBe(400);
    expect(missing.status).toBe(404);
    expect(fake.notes(id)).toEqual([]);
  });
});

describe('webhooks', () => {
  it('sends a signed v3 event for each change, with the incident as it was then', async () => {
    const id = await createIncident();
    await setStatus(id, 'acknowledged', 'alice@example.com');
    await setStatus(id, 'resolved', 'alice@example.com');
    await fake.idle();

    expect(receiver.received).toHaveLength(3);
    const events = receiver.received.map(
      ({ body }) => (JSON.parse(body.toString('utf8')) as { event: Record<string, unknown> }).event,
    );
    expect(events.map((event) => event.event_type)).toEqual([
      'incident.triggered',
      'incident.acknowledged',
      'incident.resolved',
    ]);
    const incident = fake.incident(id);
    expect(events[1]).toEqual({
      id: expect.stringMatching(/^[0-9A-Z]{26}$/),
      event_type: 'incident.acknowledged',
      resource_type: 'incident',
      occurred_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      agent: userRef('PUSR0AL', 'Alice Oncall'),
      client: null,
      data: {
        id,
        type: 'incident',
        self: `${fake.url}/incidents/${id}`,
        html_url: `https://example.pagerduty.com/incidents/${id}`,
        number: 1,
        status: 'acknowledged',
        incident_key: incident?.incident_key,
        created_at: incident?.created_at,
        title: 'Payments API latency',
        service: incident?.service,
        assignees: [userRef('PUSR0AL', 'Alice Oncall')],
        escalation_policy: incident?.escalation_policy,
        teams: [],
        priority: null,
        urgency: 'high',
        conference_bridge: null,
        resolve_reason: null,
      },
    });
    expect(events[2]).toMatchObject({ data: { status: 'resolved', assignees: [] } });
  });

  it('signs the exact bytes sent: X-PagerDuty-Signature is v1=<HMAC-SHA256>, with the event and subscription ids', async () => {
    await createIncident();
    await fake.idle();

    const [delivery] = receiver.received;
    const eventId = (JSON.parse(delivery?.body.toString('utf8') ?? '{}') as { event: { id: string } }).event
      .id;
    expect(delivery?.headers['x-pagerduty-signature']).toBe(
      `v1=${hmac(SECRET, delivery?.body ?? Buffer.alloc(0))}`,
    );
    expect(delivery?.headers['x-webhook-id']).toBe(eventId);
    expect(delivery?.headers['x-webhook-subscription']).toBe('PSUB001');
    expect(delivery?.headers['content-type']).toBe('application/json');
    expect(delivery?.headers['user-agent']).toBe('PagerDuty-Webhook/V3.0');
  });

  it('while a secret rotates, carries one comma-separated v1= signature per secret', async () => {
    fake.setWebhooks([{ url: receiver.url, secrets: [SECRET, NEXT_SECRET], id: 'PSUB001' }]);

    await createIncident();
    await fake.idle();

    const [delivery] = receiver.received;
    const body = delivery?.body ?? Buffer.alloc(0);
    expect(delivery?.headers['x-pagerduty-signature']).toBe(
      `v1=${hmac(SECRET, body)},v1=${hmac(NEXT_SECRET, body)}`,
    );
  });

  it('retries a failed delivery with the same bytes and event id until it is accepted', async () => {
    receiver.answers.push(503, 500);

    await createIncident();
    await fake.idle();

    expect(receiver.received).toHaveLength(3);
    const bodies = receiver.received.map(({ body }) => body.toString('utf8'));
    expect(new Set(bodies).size).toBe(1);
    expect(new Set(receiver.received.map(({ headers }) => headers['x-webhook-id'])).size).toBe(1);
    const [delivery] = fake.deliveries();
    expect(delivery?.state).toBe('delivered');
    expect(delivery?.attempts.map((attempt) => attempt.status)).toEqual([503, 500, 202]);
    expect(delivery?.body).toBe(bodies[0]);
  });

  it('gives up after the configured attempts, and records an unreachable endpoint the same way', async () => {
    receiver.answers.push(401, 401, 401);
    fake.setWebhooks([
      { url: receiver.url, secrets: [SECRET], id: 'PSUB001' },
      { url: 'http://127.0.0.1:9/webhooks/pagerduty', secrets: [SECRET], id: 'PSUB002' },
    ]);

    await createIncident();
    await fake.idle();

    const [refused, unreachable] = fake.deliveries();
    expect(refused?.state).toBe('failed');
    expect(refused?.attempts.map((attempt) => attempt.status)).toEqual([401, 401, 401]);
    expect(unreachable?.state).toBe('failed');
    expect(unreachable?.attempts).toHaveLength(3);
    expect(unreachable?.attempts.every((attempt) => attempt.error !== undefined)).toBe(true);
  });

  it('sends a subscription only the event types it chose', async () => {
    fake.setWebhooks([{ url: receiver.url, secrets: [SECRET], events: ['incident.resolved'] }]);

    const id = await createIncident();
    await setStatus(id, 'acknowledged', 'alice@example.com');
    await setStatus(id, 'resolved', 'alice@example.com');
    await fake.idle();

    expect(fake.deliveries().map((delivery) => delivery.eventType)).toEqual(['incident.resolved']);
  });
});

describe('test hooks', () => {
  it('failNext answers the next calls with the status given, or drops the connection', async () => {
    fake.failNext(2, 503);
    fake.failNext(1, 'drop');

    const first = await api('GET', '/incidents');
    const second = await api('GET', '/incidents');
    const dropped = await fetch(`${fake.url}/incidents`).then(
      () => 'answered',
      () => 'dropped',
    );
    const after = await api('GET', '/incidents');

    expect(first).toEqual({ status: 503, body: { error: { message: 'Service Unavailable' } } });
    expect(second.status).toBe(503);
    expect(dropped).toBe('dropped');
    expect(after.status).toBe(200);
  });

  it('trigger, acknowledge and resolve act as the API does, webhooks included', async () => {
    const incident = fake.trigger({ title: 'Disk full' });
    fake.acknowledge(incident.id, 'PUSR0BO');
    fake.resolve(incident.id, 'PUSR0BO');
    await fake.idle();

    expect(fake.incident(incident.id)?.status).toBe('resolved');
    expect(fake.deliveries().map((delivery) => delivery.eventType)).toEqual([
      'incident.triggered',
      'incident.acknowledged',
      'incident.resolved',
    ]);
    expect(fake.deliveries()[1]?.body).toContain('"agent":{"id":"PUSR0BO"');
  });

  it('assign replaces the assignees and leaves status and acknowledgements as they were', async () => {
    const incident = fake.trigger({ title: 'Disk full' });
    fake.acknowledge(incident.id, 'PUSR0AL');

    fake.assign(incident.id, ['PUSR0CA']);

    expect(fake.incident(incident.id)).toMatchObject({
      status: 'acknowledged',
      assignments: [{ assignee: { id: 'PUSR0CA' } }],
      acknowledgements: [{ acknowledger: { id: 'PUSR0AL' } }],
    });
  });

  it('records every request with its headers', async () => {
    await api('GET', '/incidents');

    expect(fake.requests()).toEqual([
      {
        method: 'GET',
        path: '/incidents',
        headers: expect.objectContaining({
          authorization: `Token token=${BROKER_KEY}`,
          accept: 'application/vnd.pagerduty+json;version=2',
        }),
        body: '',
      },
    ]);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PagerDutyRestApi } from '../../functions/adapters/pagerduty-api';
import { PermanentError, RetryableError } from '../../functions/core/errors';
import { type FakePagerDuty, startFakePagerDuty } from '../../infra/local/pagerduty/server';
import { caught } from '../support/aws';

const BROKER_KEY = 'pd-local-broker-key';
const BROKER_EMAIL = 'eks-access-broker@example.com';

let fake: FakePagerDuty;

beforeAll(async () => {
  fake = await startFakePagerDuty({ port: 0 });
});

afterEach(() => {
  fake.reset();
});

afterAll(async () => {
  await fake.close();
});

function client(options: { token?: string; from?: string; baseUrl?: string } = {}): PagerDutyRestApi {
  return new PagerDutyRestApi({
    baseUrl: options.baseUrl ?? fake.url,
    token: async () => options.token ?? BROKER_KEY,
    from: options.from ?? BROKER_EMAIL,
  });
}

/** A fetcher that answers one JSON body, for shapes the fake never produces. */
function answering(body: unknown): typeof fetch {
  return async () => new Response(JSON.stringify(body), { status: 200 });
}

describe('incident', () => {
  it('reads the incident back, normalized to PagerDutyIncident', async () => {
    const created = fake.trigger({ title: 'Payments API latency', serviceId: 'PSVC001' });
    fake.acknowledge(created.id, 'PUSR0CA');
    fake.acknowledge(created.id, 'PUSR0AL');
    const acknowledgements = fake.incident(created.id)?.acknowledgements ?? [];

    const incident = await client().incident(created.id);

    expect(incident).toEqual({
      id: created.id,
      number: 1,
      title: 'Payments API latency',
      status: 'acknowledged',
      serviceId: 'PSVC001',
      url: `https://example.pagerduty.com/incidents/${created.id}`,
      assignees: ['PUSR0AL', 'PUSR0CA'],
      acknowledgements: [
        { user: 'PUSR0CA', at: new Date(acknowledgements[0]?.at ?? '').toISOString() },
        { user: 'PUSR0AL', at: new Date(acknowledgements[1]?.at ?? '').toISOString() },
      ],
    });
  });

  it('sends the API key as Token token=, the v2 media type, and no From on a read', async () => {
    const created = fake.trigger({ title: 'Disk full' });

    await client({ baseUrl: `${fake.url}/` }).incident(created.id);

    const [request] = fake.requests();
    expect(request?.method).toBe('GET');
    expect(request?.path).toBe(`/incidents/${created.id}`);
    expect(request?.headers.authorization).toBe(`Token token=${BROKER_KEY}`);
    expect(request?.headers.accept).toBe('application/vnd.pagerduty+json;version=2');
    expect(request?.headers.from).toBeUndefined();
  });

  it('answers undefined for an incident PagerDuty does not know (404)', async () => {
    expect(await client().incident('Q000000000000X')).toBeUndefined();
  });

  it('encodes the id into the path, so an id from a webhook cannot reach another endpoint', async () => {
    const created = fake.trigger({ title: 'Disk full' });

    const incident = await client().incident(`${created.id}/notes`);

    expect(incident).toBeUndefined();
    expect(fake.requests()[0]?.path).toBe(`/incidents/${created.id}%2Fnotes`);
  });

  it('throws RetryableError when PagerDuty is unavailable, throttles or drops the connection', async () => {
    const created = fake.trigger({ title: 'Disk full' });
    fake.failNext(1, 503);
    fake.failNext(1, 429);
    fake.failNext(1, 'drop');

    const unavailable = await caught(() => client().incident(created.id));
    const throttled = await caught(() => client().incident(created.id));
    const dropped = await caught(() => client().incident(created.id));

    expect(unavailable).toBeInstanceOf(RetryableError);
    expect(unavailable.message).toBe(
      `PagerDuty GET /incidents/${created.id} answered 503: Service Unavailable`,
    );
    expect(throttled).toBeInstanceOf(RetryableError);
    expect(dropped).toBeInstanceOf(RetryableError);
    expect(await client().incident(created.id)).toMatchObject({ id: created.id });
  });

  it('throws PermanentError naming the token secret when PagerDuty refuses the key (401)', async () => {
    const created = fake.trigger({ title: 'Disk full' });

    const error = await caught(() => client({ token: 'revoked-key-0001' }).incident(created.id));

    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(
      `PagerDuty GET /incidents/${created.id} answered 401: Authentication Failed. PagerDuty did not accept the ` +
        "REST API key: store a current REST API key (Integrations, API Access Keys) in the secret the integration's " +
        '`token` names',
    );
  });

  it('throws PermanentError when the answer is not an incident it can read', async () => {
    const api = new PagerDutyRestApi({
      baseUrl: 'https://api.pagerduty.com',
      token: async () => BROKER_KEY,
      from: BROKER_EMAIL,
      fetcher: answering({
        incident: { id: 'Q1', incident_number: 1, status: 'snoozed', service: { id: 'P' } },
      }),
    });

    const error = await caught(() => api.incident('Q1'));

    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe('PagerDuty GET incident Q1: unknown incident status "snoozed"');
  });

  it('counts only people: an acknowledgement by a service is left out, and acknowledgements are sorted by time', async () => {
    const api = new PagerDutyRestApi({
      baseUrl: 'https://api.pagerduty.com',
      token: async () => BROKER_KEY,
      from: BROKER_EMAIL,
      fetcher: answering({
        incident: {
          id: 'Q1',
          incident_number: 7,
          title: 'Disk full',
          status: 'acknowledged',
          html_url: 'https://example.pagerduty.com/incidents/Q1',
          service: { id: 'PSVC001', type: 'service_reference' },
          assignments: [
            { at: '2026-01-02T03:00:00Z', assignee: { id: 'PUSR0AL', type: 'user_reference' } },
            { at: '2026-01-02T03:00:00Z', assignee: { id: 'PSVC001', type: 'service_reference' } },
          ],
          acknowledgements: [
            { at: '2026-01-02T03:05:00-01:00', acknowledger: { id: 'PUSR0AL', type: 'user_reference' } },
            { at: '2026-01-02T03:01:00Z', acknowledger: { id: 'PSVC001', type: 'service_reference' } },
            { at: '2026-01-02T03:02:00Z', acknowledger: { id: 'PUSR0CA', type: 'user' } },
          ],
        },
      }),
    });

    const incident = await api.incident('Q1');

    expect(incident).toEqual({
      id: 'Q1',
      number: 7,
      title: 'Disk full',
      status: 'acknowledged',
      serviceId: 'PSVC001',
      url: 'https://example.pagerduty.com/incidents/Q1',
      assignees: ['PUSR0AL'],
      acknowledgements: [
        { user: 'PUSR0CA', at: '2026-01-02T03:02:00.000Z' },
        { user: 'PUSR0AL', at: '2026-01-02T04:05:00.000Z' },
      ],
    });
  });
});

describe('note', () => {
  it('adds the note as the From user', async () => {
    const created = fake.trigger({ title: 'Disk full' });

    await client().note(created.id, 'Access granted: cluster admin on demo until 10:00 UTC.');

    expect(fake.notes(created.id)).toEqual([
      expect.objectContaining({
        user: expect.objectContaining({ id: 'PUSR0EB', type: 'user_reference' }),
        content: 'Access granted: cluster admin on demo until 10:00 UTC.',
      }),
    ]);
    const [request] = fake.requests();
    expect(request?.headers.from).toBe(BROKER_EMAIL);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request?.body ?? '')).toEqual({
      note: { content: 'Access granted: cluster admin on demo until 10:00 UTC.' },
    });
  });

  it('throws PermanentError naming `from` when PagerDuty knows no user with that email', async () => {
    const created = fake.trigger({ title: 'Disk full' });

    const error = await caught(() => client({ from: 'nobody@example.com' }).note(created.id, 'hello'));

    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(
      `PagerDuty POST /incidents/${created.id}/notes answered 400: Invalid Input Provided; Requester User Not ` +
        "Found: no user has the email nobody@example.com. Check that the integration's `from` " +
        '(nobody@example.com) is the email address of a user of the PagerDuty account',
    );
    expect(fake.notes(created.id)).toEqual([]);
  });

  it('throws PermanentError asking for a full-access key when the key is read-only (403)', async () => {
    const created = fake.trigger({ title: 'Disk full' });

    const error = await caught(() => client({ token: 'pd-local-readonly-key' }).note(created.id, 'hello'));

    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(
      `PagerDuty POST /incidents/${created.id}/notes answered 403: Access Denied. PagerDuty refused the API key ` +
        'this write: a read-only key cannot add notes, use a full-access REST API key',
    );
  });

  it('throws PermanentError when the incident is gone, and RetryableError when PagerDuty is down', async () => {
    const created = fake.trigger({ title: 'Disk full' });
    fake.failNext(1, 502);

    const down = await caught(() => client().note(created.id, 'hello'));
    const gone = await caught(() => client().note('Q000000000000X', 'hello'));

    expect(down).toBeInstanceOf(RetryableError);
    expect(gone).toBeInstanceOf(PermanentError);
    expect(gone.message).toBe(
      'PagerDuty incident Q000000000000X does not exist or the API key may not see it: the note was not written',
    );
  });
});

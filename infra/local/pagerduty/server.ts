import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as z from 'zod';
import { BodyTooLargeError, closeServer, decodeSegment, listen, readBody } from '../http';
import { DEFAULT_PAGERDUTY_ACCOUNT_FILE, loadPagerDutyAccount, type PagerDutyAccount } from './account';
import { objectId } from './ids';
import type { ErrorBody, RestIncident, RestNote } from './shapes';
import {
  type CreateIncidentInput,
  type IncidentChange,
  type IncidentEvent,
  PagerDutyApiError,
  PagerDutyState,
  pagerDutyErrors,
} from './state';
import {
  type DeliveryOptions,
  type FakeWebhookSubscription,
  type PagerDutyDelivery,
  WebhookDispatcher,
} from './webhooks';

export const DEFAULT_PAGERDUTY_PORT = 4581;
const MAX_BODY_BYTES = 1024 * 1024;
/** PagerDuty's limit on a note's length (assumed from its web app; the API reference states none). */
const MAX_NOTE_LENGTH = 25_000;

export interface FakePagerDutyOptions {
  /** 127.0.0.1 unless told otherwise. */
  readonly host?: string;
  /** 4581 by default; 0 picks a free port (tests). */
  readonly port?: number;
  /** Users, API keys, escalation policies and services; infra/local/pagerduty/account.json by default. */
  readonly accountFile?: string;
  /** v3 webhook subscriptions; none by default. */
  readonly webhooks?: readonly FakeWebhookSubscription[];
  readonly delivery?: DeliveryOptions;
}

/** One API call as the fake received it (header names in lower case). */
export interface RecordedRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface FakePagerDuty {
  /** The REST API's base URL, what https://api.pagerduty.com is to the real service. */
  readonly url: string;
  readonly port: number;
  readonly account: PagerDutyAccount;
  /**
   * Shortcuts for tests, changing the account as the API calls would (acting as the user with that id) and
   * sending the same webhooks; an error is thrown as the PagerDutyApiError the API would answer.
   */
  trigger(input: {
    readonly title: string;
    /** The first service of the account by default. */
    readonly serviceId?: string;
    readonly assignees?: readonly string[];
    /** Who triggers it; the first user of the account by default. */
    readonly by?: string;
  }): RestIncident;
  acknowledge(incidentId: string, userId: string): RestIncident;
  resolve(incidentId: string, userId: string): RestIncident;
  /** Test hook: replaces the assignees, nothing else (see PagerDutyState.assign); no webhook. */
  assign(incidentId: string, userIds: readonly string[]): void;
  incident(incidentId: string): RestIncident | undefined;
  notes(incidentId: string): RestNote[];
  /** The next `count` API calls answer `status` with a PagerDuty error body, or drop the connection. */
  failNext(count: number, status: number | 'drop'): void;
  requests(): RecordedRequest[];
  deliveries(): PagerDutyDelivery[];
  /** Replaces the webhook subscriptions, e.g. to rotate a secret. */
  setWebhooks(subscriptions: readonly FakeWebhookSubscription[]): void;
  /** Resolves once no webhook delivery is pending. */
  idle(): Promise<void>;
  /** Forgets incidents, notes, recorded requests, deliveries and pending failures. */
  reset(): void;
  close(): Promise<void>;
}

/**
 * Starts a fake PagerDuty: the subset of the REST API v2 the broker and its tests use, with PagerDuty's
 * authentication (`Authorization: Token token=<key>`), its `From` header on writes and its error bodies, and v3
 * webhooks signed as PagerDuty signs them.
 *
 * Served: GET /incidents, POST /incidents (201), GET /incidents/{id}, PUT /incidents/{id} (status or
 * assignments), GET /incidents/{id}/notes, POST /incidents/{id}/notes (200, as the API reference documents).
 * Anything else answers 404 Not Found (2100).
 */
export async function startFakePagerDuty(options: FakePagerDutyOptions = {}): Promise<FakePagerDuty> {
  const host = options.host ?? '127.0.0.1';
  // Read first: a bad account file stops the fake before anything listens.
  const account = loadPagerDutyAccount(options.accountFile ?? DEFAULT_PAGERDUTY_ACCOUNT_FILE);
  const now = () => new Date();
  const dispatcher = new WebhookDispatcher(options.webhooks ?? [], options.delivery ?? {}, objectId, now);

  const server = createServer();
  await listen(server, host, options.port ?? DEFAULT_PAGERDUTY_PORT);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host}:${port}`;
  const state = new PagerDutyState(
    account,
    { api: url, web: `https://${account.subdomain}.pagerduty.com` },
    now,
  );
  const recorded: RecordedRequest[] = [];
  const failures: (number | 'drop')[] = [];

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else send(res, 500, { error: { message: `The fake PagerDuty failed: ${(error as Error).message}` } });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer;
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        send(res, 413, { error: { message: 'Request Entity Too Large' } });
        return;
      }
      throw error;
    }
    const request: RecordedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(', ') : (value ?? ''),
        ]),
      ),
      body: body.toString('utf8'),
    };
    recorded.push(request);
    const failure = failures.shift();
    if (failure === 'drop') {
      req.socket.destroy();
      return;
    }
    if (failure !== undefined) {
      send(res, failure, injectedError(failure));
      return;
    }
    let answer: Answer;
    try {
      answer = route(request);
    } catch (error) {
      if (!(error instanceof PagerDutyApiError)) throw error;
      send(res, error.status, error.body);
      return;
    }
    send(res, answer.status, answer.body);
    dispatcher.dispatch(answer.events ?? []);
  }

  function route(request: RecordedRequest): Answer {
    const key = authenticate(request);
    const segments = new URL(request.path, url).pathname.split('/').slice(1);
    const [collection, rawId, sub, ...rest] = segments;
    const incidentId = rawId === undefined ? undefined : decodeSegment(rawId);
    if (collection !== 'incidents' || rest.length > 0 || (incidentId === undefined && rawId !== undefined)) {
      throw pagerDutyErrors.notFound();
    }
    if (request.method !== 'GET' && key.access === 'read-only') throw pagerDutyErrors.accessDenied();

    if (incidentId === undefined || incidentId === '') {
      if (request.method === 'GET') {
        const incidents = state.allIncidents();
        return {
          status: 200,
          body: { incidents, limit: incidents.length, offset: 0, more: false, total: null },
        };
      }
      if (request.method === 'POST') {
        const by = requester(request);
        const input = parse(createSchema, request.body).incident;
        const created = state.createIncident({
          title: input.title,
          serviceId: input.service.id,
          by,
          ...(input.urgency ? { urgency: input.urgency } : {}),
          ...(input.incident_key ? { incidentKey: input.incident_key } : {}),
          ...(input.assignments ? { assignees: input.assignments.map((a) => a.assignee.id) } : {}),
        } satisfies CreateIncidentInput);
        return { status: 201, body: { incident: created.incident }, events: created.events };
      }
      throw pagerDutyErrors.notFound();
    }

    if (sub === undefined) {
      if (request.method === 'GET') {
        const incident = state.incident(incidentId);
        if (!incident) throw pagerDutyErrors.notFound();
        return { status: 200, body: { incident } };
      }
      if (request.method === 'PUT') {
        const by = requester(request);
        const input = parse(updateSchema, request.body).incident;
        const change: IncidentChange = input.status
          ? { status: input.status }
          : { assignees: (input.assignments ?? []).map((a) => a.assignee.id) };
        const updated = state.update(incidentId, by, change);
        return { status: 200, body: { incident: updated.incident }, events: updated.events };
      }
      throw pagerDutyErrors.notFound();
    }

    if (sub === 'notes') {
      const id = incidentId;
      if (request.method === 'GET') return { status: 200, body: { notes: state.notes(id) } };
      if (request.method === 'POST') {
        const by = requester(request);
        const input = parse(noteSchema, request.body).note;
        // PagerDuty answers 404 for a missing incident before it looks at the note.
        if (!state.incident(id)) throw pagerDutyErrors.notFound();
        return { status: 200, body: { note: state.addNote(id, by, input.content) } };
      }
    }
    throw pagerDutyErrors.notFound();
  }

  function authenticate(request: RecordedRequest): PagerDutyAccount['apiKeys'][number] {
    const match = /^Token token=(\S+)$/.exec(request.headers.authorization ?? '');
    const key = match && account.apiKeys.find((candidate) => candidate.token === match[1]);
    if (!key) throw pagerDutyErrors.authenticationFailed();
    return key;
  }

  /** The user a write acts as: PagerDuty requires the From header to name one of the account's users. */
  function requester(request: RecordedRequest): string {
    const from = request.headers.from;
    if (!from) {
      throw pagerDutyErrors.invalidInput(
        'The From header is required: the email address of a user of the account',
      );
    }
    const user = state.userByEmail(from);
    if (!user) throw pagerDutyErrors.invalidInput(`Requester User Not Found: no user has the email ${from}`);
    return user.id;
  }

  function changeAs(incidentId: string, userId: string, change: IncidentChange): RestIncident {
    if (!state.user(userId)) throw pagerDutyErrors.invalidInput(`User ${userId} not found`);
    const updated = state.update(incidentId, userId, change);
    dispatcher.dispatch(updated.events);
    return updated.incident;
  }

  return {
    url,
    port,
    account,
    trigger(input) {
      const serviceId = input.serviceId ?? account.services[0]?.id ?? '';
      const created = state.createIncident({
        title: input.title,
        serviceId,
        by: input.by ?? account.users[0]?.id ?? '',
        ...(input.assignees ? { assignees: input.assignees } : {}),
      });
      dispatcher.dispatch(created.events);
      return created.incident;
    },
    acknowledge: (incidentId, userId) => changeAs(incidentId, userId, { status: 'acknowledged' }),
    resolve: (incidentId, userId) => changeAs(incidentId, userId, { status: 'resolved' }),
    assign: (incidentId, userIds) => state.assign(incidentId, userIds),
    incident: (incidentId) => state.incident(incidentId),
    notes: (incidentId) => state.notes(incidentId),
    failNext(count, status) {
      if (!Number.isInteger(count) || count < 0)
        throw new RangeError('failNext: count must be a whole number');
      if (status !== 'drop' && !(Number.isInteger(status) && status >= 400 && status <= 599)) {
        throw new RangeError('failNext: status must be an HTTP error status (400-599) or "drop"');
      }
      for (let i = 0; i < count; i++) failures.push(status);
    },
    requests: () => recorded.map((request) => ({ ...request, headers: { ...request.headers } })),
    deliveries: () => dispatcher.deliveries(),
    setWebhooks: (subscriptions) => dispatcher.setSubscriptions(subscriptions),
    idle: () => dispatcher.idle(),
    reset() {
      state.reset();
      dispatcher.reset();
      recorded.length = 0;
      failures.length = 0;
    },
    async close() {
      await dispatcher.close();
      await closeServer(server);
    },
  };
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
  /** Webhook events to send once the answer is on its way. */
  readonly events?: readonly IncidentEvent[];
}

const reference = (type: string) => z.object({ id: z.string().min(1), type: z.literal(type) });

const createSchema = z.object({
  incident: z.object({
    type: z.literal('incident'),
    title: z.string().min(1).max(1024),
    service: reference('service_reference'),
    urgency: z.enum(['high', 'low']).optional(),
    incident_key: z.string().min(1).max(255).optional(),
    assignments: z
      .array(z.object({ assignee: reference('user_reference') }))
      .min(1)
      .optional(),
  }),
});

const updateSchema = z.object({
  incident: z
    .object({
      type: z.enum(['incident', 'incident_reference']),
      status: z.enum(['triggered', 'acknowledged', 'resolved']).optional(),
      assignments: z.array(z.object({ assignee: reference('user_reference') })).optional(),
    })
    // The fake changes status or assignees, one per call; PagerDuty's other fields are not served.
    .refine((incident) => (incident.status === undefined) !== (incident.assignments === undefined), {
      message: 'give either status or assignments',
    }),
});

const noteSchema = z.object({
  note: z.object({ content: z.string().min(1).max(MAX_NOTE_LENGTH) }),
});

function parse<T>(schema: z.ZodType<T>, body: string): T {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw pagerDutyErrors.invalidInput('The request body is not valid JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw pagerDutyErrors.invalidInput(
      ...parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`),
    );
  }
  return parsed.data;
}

function injectedError(status: number): ErrorBody {
  switch (status) {
    case 400:
      return pagerDutyErrors.invalidInput('Injected failure').body;
    case 401:
      return pagerDutyErrors.authenticationFailed().body;
    case 403:
      return pagerDutyErrors.accessDenied().body;
    case 404:
      return pagerDutyErrors.notFound().body;
    case 429:
      return { error: { message: 'Rate Limit Exceeded' } };
    default:
      return { error: { message: STATUS_CODES[status] ?? 'Error' } };
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(payload.length),
  });
  res.end(payload);
}

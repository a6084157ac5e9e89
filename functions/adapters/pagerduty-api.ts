/**
 * PagerDuty's REST API v2, read and written with the broker's own REST API key: the incident that decides a
 * break-glass request (its status, assignees and acknowledgers), and the note that writes the outcome back.
 * PagerDuty's JSON is normalized here to PagerDutyIncident, so the core never sees its shapes.
 */
import type { PagerDutyApi } from '../app/ports';
import { PermanentError } from '../core/errors';
import type { PagerDutyIncident } from '../core/tickets/read-back';
import { callVendor, type VendorAnswer, type VendorRequest } from './vendor-http';

export interface PagerDutyRestApiOptions {
  /** The REST API, `https://api.pagerduty.com` (locally the fake's URL). */
  readonly baseUrl: string;
  /** The REST API key, read when needed (the Secrets port caches it). */
  readonly token: () => Promise<string>;
  /** The email of the PagerDuty user notes are written as: PagerDuty requires it in `From` on every write. */
  readonly from: string;
  readonly fetcher?: typeof fetch;
}

/** The versioned media type PagerDuty documents for REST API v2. */
const ACCEPT = 'application/vnd.pagerduty+json;version=2';
const STATUSES: readonly PagerDutyIncident['status'][] = ['triggered', 'acknowledged', 'resolved'];
/** Both the reference and, with include[], the full object name a user. */
const USER_TYPES = new Set(['user_reference', 'user']);

export class PagerDutyRestApi implements PagerDutyApi {
  private readonly baseUrl: string;
  private readonly fetcher: typeof fetch;

  constructor(private readonly options: PagerDutyRestApiOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetcher = options.fetcher ?? fetch;
  }

  async incident(id: string): Promise<PagerDutyIncident | undefined> {
    const answer = await this.call('GET', `/incidents/${encodeURIComponent(id)}`);
    if (answer.status === 404) return undefined;
    const body = record(answer.body, `PagerDuty GET incident ${id}`);
    return toIncident(body.incident, `PagerDuty GET incident ${id}`);
  }

  async note(id: string, text: string): Promise<void> {
    const answer = await this.call('POST', `/incidents/${encodeURIComponent(id)}/notes`, {
      note: { content: text },
    });
    if (answer.status === 404) {
      throw new PermanentError(
        `PagerDuty incident ${id} does not exist or the API key may not see it: the note was not written`,
      );
    }
  }

  /**
   * One call through callVendor. A 401 or 403 (and a 400 on a write, which is how PagerDuty refuses an unknown
   * `From`) is permanent there; here it also names what to fix, which only this adapter knows.
   */
  private async call(method: VendorRequest['method'], path: string, body?: unknown): Promise<VendorAnswer> {
    const token = await this.options.token();
    let refused: number | undefined;
    const fetcher: typeof fetch = async (input, init) => {
      const response = await this.fetcher(input, init);
      if (response.status === 400 || response.status === 401 || response.status === 403) {
        refused = response.status;
      }
      return response;
    };
    const write = method !== 'GET';
    try {
      return await callVendor(
        'PagerDuty',
        {
          method,
          url: `${this.baseUrl}${path}`,
          headers: {
            authorization: `Token token=${token}`,
            accept: ACCEPT,
            ...(write ? { from: this.options.from } : {}),
          },
          ...(body === undefined ? {} : { body }),
        },
        fetcher,
      );
    } catch (error) {
      const hint = refusalHint(refused, write, this.options.from);
      if (hint) throw new PermanentError(`${(error as Error).message}. ${hint}`, { cause: error });
      throw error;
    }
  }
}

function refusalHint(status: number | undefined, write: boolean, from: string): string | undefined {
  if (status === 401) {
    return (
      'PagerDuty did not accept the REST API key: store a current REST API key (Integrations, API Access Keys) ' +
      "in the secret the integration's `token` names"
    );
  }
  if (status === 403) {
    return write
      ? 'PagerDuty refused the API key this write: a read-only key cannot add notes, use a full-access REST API key'
      : "PagerDuty refused the API key this incident: the key must see the integration's services (team restrictions)";
  }
  if (status === 400 && write) {
    return `Check that the integration's \`from\` (${from}) is the email address of a user of the PagerDuty account`;
  }
  return undefined;
}

function toIncident(value: unknown, what: string): PagerDutyIncident {
  const incident = record(value, `${what}: incident`);
  const { id, incident_number: number, status } = incident;
  const serviceId = (incident.service as { id?: unknown } | null | undefined)?.id;
  if (typeof id !== 'string' || typeof number !== 'number' || typeof serviceId !== 'string') {
    throw new PermanentError(`${what}: the answer has no incident id, incident_number or service.id`);
  }
  if (!STATUSES.includes(status as PagerDutyIncident['status'])) {
    throw new PermanentError(`${what}: unknown incident status ${JSON.stringify(status)}`);
  }
  const assignments = Array.isArray(incident.assignments) ? incident.assignments : [];
  const acknowledgements = Array.isArray(incident.acknowledgements) ? incident.acknowledgements : [];
  return {
    id,
    number,
    title: typeof incident.title === 'string' ? incident.title : '',
    status: status as PagerDutyIncident['status'],
    serviceId,
    url: typeof incident.html_url === 'string' ? incident.html_url : '',
    assignees: [
      ...new Set(
        assignments.flatMap((assignment: unknown) => {
          const user = userId((assignment as { assignee?: unknown } | null)?.assignee);
          return user ? [user] : [];
        }),
      ),
    ],
    // An acknowledger may also be a service (an integration acknowledged the alert): only people count.
    acknowledgements: acknowledgements
      .flatMap((ack: unknown) => {
        const entry = ack as { acknowledger?: unknown; at?: unknown } | null;
        const user = userId(entry?.acknowledger);
        const at = typeof entry?.at === 'string' ? isoTime(entry.at) : undefined;
        return user && at ? [{ user, at }] : [];
      })
      .sort((a, b) => Date.parse(a.at) - Date.parse(b.at)),
  };
}

function userId(value: unknown): string | undefined {
  const ref = value as { id?: unknown; type?: unknown } | null | undefined;
  return typeof ref?.id === 'string' && typeof ref.type === 'string' && USER_TYPES.has(ref.type)
    ? ref.id
    : undefined;
}

/** PagerDuty's timestamps (`2015-10-06T21:30:42Z`, or with an offset) as ISO UTC; kept as sent when unreadable. */
function isoTime(value: string): string {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PermanentError(`${what}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

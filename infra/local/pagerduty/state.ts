import type { PagerDutyAccount, PagerDutyService, PagerDutyUser } from './account';
import { eventId, incidentId, incidentKey, objectId } from './ids';
import {
  type ErrorBody,
  type Reference,
  type RestIncident,
  type RestNote,
  restTime,
  type WebhookEventBody,
} from './shapes';

/** The v3 webhook event types the fake sends: the incident lifecycle the broker may care about. */
export const PAGERDUTY_EVENT_TYPES = [
  'incident.triggered',
  'incident.acknowledged',
  'incident.unacknowledged',
  'incident.reassigned',
  'incident.resolved',
  'incident.reopened',
] as const;
export type PagerDutyEventType = (typeof PAGERDUTY_EVENT_TYPES)[number];

export type IncidentStatus = RestIncident['status'];

interface Stamp {
  readonly userId: string;
  readonly at: Date;
}

interface IncidentRecord {
  readonly id: string;
  readonly number: number;
  readonly title: string;
  readonly incidentKey: string;
  readonly service: PagerDutyService;
  readonly urgency: 'high' | 'low';
  readonly createdAt: Date;
  updatedAt: Date;
  status: IncidentStatus;
  lastStatusChange: Stamp;
  resolvedAt: Date | undefined;
  assignedVia: RestIncident['assigned_via'];
  assignments: Stamp[];
  acknowledgements: Stamp[];
  readonly notes: {
    readonly id: string;
    readonly userId: string;
    readonly content: string;
    readonly at: Date;
  }[];
}

/** A change that PagerDuty announces to webhook subscriptions, with the event body already rendered. */
export interface IncidentEvent {
  readonly id: string;
  readonly type: PagerDutyEventType;
  readonly incidentId: string;
  /** The event as sent: the incident as it was when the event happened, not when it is delivered. */
  readonly body: WebhookEventBody;
}

/** An answer PagerDuty gives instead of the resource: the status and its `{"error": …}` body. */
export class PagerDutyApiError extends Error {
  override readonly name = 'PagerDutyApiError';
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(body.error.message);
  }
}

/**
 * The error bodies, by PagerDuty's documented error codes (2001 Invalid Input Provided, 2002 Arguments Caused
 * Error, 2006 Authentication Failed, 2010 Access Denied, 2100 Not Found). The `errors` details are our wording.
 */
export const pagerDutyErrors = {
  invalidInput: (...errors: string[]) =>
    new PagerDutyApiError(400, { error: { message: 'Invalid Input Provided', code: 2001, errors } }),
  argumentsCausedError: (...errors: string[]) =>
    new PagerDutyApiError(400, { error: { message: 'Arguments Caused Error', code: 2002, errors } }),
  authenticationFailed: () =>
    new PagerDutyApiError(401, { error: { message: 'Authentication Failed', code: 2006 } }),
  accessDenied: () => new PagerDutyApiError(403, { error: { message: 'Access Denied', code: 2010 } }),
  notFound: () => new PagerDutyApiError(404, { error: { message: 'Not Found', code: 2100 } }),
};

export interface CreateIncidentInput {
  readonly title: string;
  readonly serviceId: string;
  /** Who creates it (the From header's user). */
  readonly by: string;
  readonly urgency?: 'high' | 'low';
  readonly incidentKey?: string;
  /** User ids to assign directly; the service's escalation policy's first level otherwise. */
  readonly assignees?: readonly string[];
}

export type IncidentChange = { readonly status: IncidentStatus } | { readonly assignees: readonly string[] };

/**
 * The account's incidents and notes, changed the way PagerDuty changes them (its API reference and help
 * pages; what could not be tried against the real service is marked "assumed"):
 * - A new incident is assigned to the users named, else to every user of the first level of the service's
 *   escalation policy. Escalation by timeout is not simulated.
 * - Acknowledging adds an acknowledgement by the acting user. It also assigns that user when they were not
 *   assigned: PagerDuty's guide says acknowledging "will assign the incident to you" (assumed to hold for the
 *   API as for the web app). So any user can acknowledge any open incident, and an acknowledger is assigned
 *   until someone reassigns the incident; acknowledging twice as the same user changes nothing.
 * - Reassigning (PUT with `assignments`) replaces the assignees and puts an acknowledged incident back to
 *   triggered, its acknowledgements cleared (assumed: the new assignee is paged again).
 * - `acknowledgements` are listed only while the incident is acknowledged, `assignments` only until it is
 *   resolved (both as the API reference documents the fields). Resolving twice is "Incident Already Resolved".
 * - Setting a resolved incident to triggered or acknowledged reopens it; reopened as acknowledged, it is
 *   assigned to the acting user (API reference of PUT /incidents/{id}).
 */
export class PagerDutyState {
  private readonly incidents = new Map<string, IncidentRecord>();
  private nextNumber = 1;

  constructor(
    readonly account: PagerDutyAccount,
    /** The API's base URL (`self` links) and the web app's (`html_url` links). */
    private readonly links: { readonly api: string; readonly web: string },
    private readonly now: () => Date = () => new Date(),
  ) {}

  reset(): void {
    this.incidents.clear();
    this.nextNumber = 1;
  }

  userByEmail(email: string): PagerDutyUser | undefined {
    const wanted = email.trim().toLowerCase();
    return this.account.users.find((user) => user.email.toLowerCase() === wanted);
  }

  user(id: string): PagerDutyUser | undefined {
    return this.account.users.find((user) => user.id === id);
  }

  incident(id: string): RestIncident | undefined {
    const record = this.incidents.get(id);
    return record && this.renderIncident(record);
  }

  allIncidents(): RestIncident[] {
    return [...this.incidents.values()].map((record) => this.renderIncident(record));
  }

  notes(id: string): RestNote[] {
    return this.record(id).notes.map((note) => this.renderNote(note));
  }

  createIncident(input: CreateIncidentInput): { incident: RestIncident; events: IncidentEvent[] } {
    const service = this.account.services.find((candidate) => candidate.id === input.serviceId);
    if (!service) throw pagerDutyErrors.invalidInput(`Service ${input.serviceId} not found`);
    const key = input.incidentKey ?? incidentKey();
    const duplicate = [...this.incidents.values()].find(
      (open) => open.status !== 'resolved' && open.service.id === service.id && open.incidentKey === key,
    );
    if (duplicate) {
      throw pagerDutyErrors.invalidInput(
        'Open incident with matching dedup key already exists on this service',
      );
    }
    const assignees = input.assignees ?? this.firstLevel(service);
    this.requireUsers(assignees);
    const at = this.now();
    const record: IncidentRecord = {
      id: incidentId(),
      number: this.nextNumber++,
      title: input.title,
      incidentKey: key,
      service,
      urgency: input.urgency ?? 'high',
      createdAt: at,
      updatedAt: at,
      status: 'triggered',
      lastStatusChange: { userId: input.by, at },
      resolvedAt: undefined,
      assignedVia: input.assignees ? 'direct_assignment' : 'escalation_policy',
      assignments: unique(assignees).map((userId) => ({ userId, at })),
      acknowledgements: [],
      notes: [],
    };
    this.incidents.set(record.id, record);
    return {
      incident: this.renderIncident(record),
      events: [this.event('incident.triggered', record, input.by)],
    };
  }

  /** Applies one PUT /incidents/{id}; `events` is empty when nothing changed. */
  update(
    id: string,
    by: string,
    change: IncidentChange,
  ): { incident: RestIncident; events: IncidentEvent[] } {
    const record = this.record(id);
    const at = this.now();
    const type = 'status' in change ? this.changeStatus(record, by, change.status, at) : undefined;
    const reassigned = 'assignees' in change ? this.reassign(record, by, change.assignees, at) : false;
    const events: IncidentEvent[] = [];
    if (type) events.push(this.event(type, record, by));
    if (reassigned) events.push(this.event('incident.reassigned', record, by));
    if (events.length > 0) record.updatedAt = at;
    return { incident: this.renderIncident(record), events };
  }

  addNote(id: string, by: string, content: string): RestNote {
    const record = this.record(id);
    const note = { id: objectId(), userId: by, content, at: this.now() };
    record.notes.push(note);
    return this.renderNote(note);
  }

  /**
   * Test hook: replaces the assignees and touches nothing else (status, acknowledgements). The API cannot do
   * this (reassigning clears acknowledgements): it stands for a state the broker must not trust, such as an
   * acknowledger no longer assigned.
   */
  assign(id: string, userIds: readonly string[]): void {
    const record = this.record(id);
    this.requireUsers(userIds);
    const at = this.now();
    record.assignments = unique(userIds).map((userId) => ({ userId, at }));
    record.updatedAt = at;
  }

  private changeStatus(
    record: IncidentRecord,
    by: string,
    status: IncidentStatus,
    at: Date,
  ): PagerDutyEventType | undefined {
    const from = record.status;
    if (status === 'resolved') {
      if (from === 'resolved') throw pagerDutyErrors.argumentsCausedError('Incident Already Resolved');
      record.status = 'resolved';
      record.resolvedAt = at;
      record.assignments = [];
      record.acknowledgements = [];
      record.lastStatusChange = { userId: by, at };
      return 'incident.resolved';
    }
    if (from === 'resolved') {
      record.status = status;
      record.resolvedAt = undefined;
      record.assignments =
        status === 'acknowledged'
          ? [{ userId: by, at }]
          : this.firstLevel(record.service).map((userId) => ({ userId, at }));
      record.acknowledgements = status === 'acknowledged' ? [{ userId: by, at }] : [];
      record.lastStatusChange = { userId: by, at };
      return 'incident.reopened';
    }
    if (status === 'triggered') {
      if (from === 'triggered') return undefined;
      record.status = 'triggered';
      record.acknowledgements = [];
      record.lastStatusChange = { userId: by, at };
      return 'incident.unacknowledged';
    }
    if (record.acknowledgements.some((ack) => ack.userId === by)) return undefined;
    record.status = 'acknowledged';
    record.acknowledgements.push({ userId: by, at });
    if (!record.assignments.some((assignment) => assignment.userId === by)) {
      record.assignments.push({ userId: by, at });
    }
    record.lastStatusChange = { userId: by, at };
    return 'incident.acknowledged';
  }

  private reassign(record: IncidentRecord, by: string, userIds: readonly string[], at: Date): boolean {
    if (record.status === 'resolved') throw pagerDutyErrors.argumentsCausedError('Incident Already Resolved');
    if (userIds.length === 0) throw pagerDutyErrors.invalidInput('Assignments must name at least one user');
    this.requireUsers(userIds);
    record.assignments = unique(userIds).map((userId) => ({ userId, at }));
    record.assignedVia = 'direct_assignment';
    if (record.status === 'acknowledged') {
      record.status = 'triggered';
      record.acknowledgements = [];
      record.lastStatusChange = { userId: by, at };
    }
    return true;
  }

  private record(id: string): IncidentRecord {
    const record = this.incidents.get(id);
    if (!record) throw pagerDutyErrors.notFound();
    return record;
  }

  private firstLevel(service: PagerDutyService): string[] {
    const policy = this.policy(service);
    return [...(policy.levels[0] ?? [])];
  }

  private policy(service: PagerDutyService) {
    const policy = this.account.escalationPolicies.find((p) => p.id === service.escalationPolicy);
    // account.ts checks every reference when it loads the file.
    if (!policy)
      throw new Error(`service ${service.id} has no escalation policy ${service.escalationPolicy}`);
    return policy;
  }

  private requireUsers(userIds: readonly string[]): void {
    const unknown = userIds.filter((userId) => !this.user(userId));
    if (unknown.length > 0) throw pagerDutyErrors.invalidInput(`User ${unknown.join(', ')} not found`);
  }

  private event(type: PagerDutyEventType, record: IncidentRecord, by: string): IncidentEvent {
    const at = this.now();
    const id = eventId(at);
    return {
      id,
      type,
      incidentId: record.id,
      body: {
        event: {
          id,
          event_type: type,
          resource_type: 'incident',
          occurred_at: at.toISOString(),
          agent: this.userRef(by),
          client: null,
          data: {
            id: record.id,
            type: 'incident',
            self: `${this.links.api}/incidents/${record.id}`,
            html_url: `${this.links.web}/incidents/${record.id}`,
            number: record.number,
            status: record.status,
            incident_key: record.incidentKey,
            created_at: restTime(record.createdAt),
            title: record.title,
            service: this.serviceRef(record.service),
            assignees: record.assignments.map((assignment) => this.userRef(assignment.userId)),
            escalation_policy: this.policyRef(record.service),
            teams: [],
            priority: null,
            urgency: record.urgency,
            conference_bridge: null,
            resolve_reason: null,
          },
        },
      },
    };
  }

  private renderIncident(record: IncidentRecord): RestIncident {
    return {
      id: record.id,
      type: 'incident',
      summary: `[#${record.number}] ${record.title}`,
      self: `${this.links.api}/incidents/${record.id}`,
      html_url: `${this.links.web}/incidents/${record.id}`,
      incident_number: record.number,
      title: record.title,
      created_at: restTime(record.createdAt),
      updated_at: restTime(record.updatedAt),
      status: record.status,
      incident_key: record.incidentKey,
      service: this.serviceRef(record.service),
      assignments: record.assignments.map((assignment) => ({
        at: restTime(assignment.at),
        assignee: this.userRef(assignment.userId),
      })),
      assigned_via: record.assignedVia,
      last_status_change_at: restTime(record.lastStatusChange.at),
      last_status_change_by: this.userRef(record.lastStatusChange.userId),
      resolved_at: record.resolvedAt ? restTime(record.resolvedAt) : null,
      alert_counts: { all: 0, triggered: 0, resolved: 0 },
      is_mergeable: true,
      escalation_policy: this.policyRef(record.service),
      teams: [],
      pending_actions: [],
      acknowledgements: record.acknowledgements.map((ack) => ({
        at: restTime(ack.at),
        acknowledger: this.userRef(ack.userId),
      })),
      alert_grouping: null,
      priority: null,
      urgency: record.urgency,
      incident_type: { name: 'incident_default' },
      resolve_reason: null,
    };
  }

  private renderNote(note: IncidentRecord['notes'][number]): RestNote {
    return {
      id: note.id,
      user: this.userRef(note.userId),
      channel: { summary: 'The PagerDuty website or APIs' },
      content: note.content,
      created_at: restTime(note.at),
      updated_at: restTime(note.at),
    };
  }

  private userRef(userId: string): Reference {
    return {
      id: userId,
      type: 'user_reference',
      summary: this.user(userId)?.name ?? userId,
      self: `${this.links.api}/users/${userId}`,
      html_url: `${this.links.web}/users/${userId}`,
    };
  }

  private serviceRef(service: PagerDutyService): Reference {
    return {
      id: service.id,
      type: 'service_reference',
      summary: service.name,
      self: `${this.links.api}/services/${service.id}`,
      html_url: `${this.links.web}/service-directory/${service.id}`,
    };
  }

  private policyRef(service: PagerDutyService): Reference {
    const policy = this.policy(service);
    return {
      id: policy.id,
      type: 'escalation_policy_reference',
      summary: policy.name,
      self: `${this.links.api}/escalation_policies/${policy.id}`,
      html_url: `${this.links.web}/escalation_policies/${policy.id}`,
    };
  }
}

function unique(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

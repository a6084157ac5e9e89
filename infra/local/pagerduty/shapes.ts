/**
 * The JSON the fake PagerDuty answers and sends, in the shapes of PagerDuty's REST API v2 (the published
 * OpenAPI document, PagerDuty/api-schema reference/REST/openapiv3.json) and of its v3 webhook events (as received
 * from PagerDuty: `{"event": {id, event_type, resource_type, occurred_at, agent, client, data}}`). Only the
 * fields a client of this subset reads or might log are filled; those PagerDuty returns only on `include[]`
 * are left out, as PagerDuty leaves them out without it.
 */

export interface Reference {
  readonly id: string;
  readonly type: string;
  readonly summary: string;
  readonly self: string | null;
  readonly html_url: string | null;
}

export interface RestIncident {
  readonly id: string;
  readonly type: 'incident';
  readonly summary: string;
  readonly self: string;
  readonly html_url: string;
  readonly incident_number: number;
  readonly title: string;
  readonly created_at: string;
  readonly updated_at: string;
  readonly status: 'triggered' | 'acknowledged' | 'resolved';
  readonly incident_key: string;
  readonly service: Reference;
  /** Empty once the incident is resolved (PagerDuty: "This list will be empty if the status is resolved"). */
  readonly assignments: readonly { readonly at: string; readonly assignee: Reference }[];
  readonly assigned_via: 'escalation_policy' | 'direct_assignment';
  readonly last_status_change_at: string;
  readonly last_status_change_by: Reference;
  readonly resolved_at: string | null;
  readonly alert_counts: { readonly all: number; readonly triggered: number; readonly resolved: number };
  readonly is_mergeable: boolean;
  readonly escalation_policy: Reference;
  readonly teams: readonly Reference[];
  readonly pending_actions: readonly unknown[];
  /** Empty unless the status is acknowledged (PagerDuty: "empty if the status is resolved or triggered"). */
  readonly acknowledgements: readonly { readonly at: string; readonly acknowledger: Reference }[];
  readonly alert_grouping: null;
  readonly priority: null;
  readonly urgency: 'high' | 'low';
  readonly incident_type: { readonly name: string };
  readonly resolve_reason: null;
}

export interface RestNote {
  readonly id: string;
  readonly user: Reference;
  readonly channel: { readonly summary: string };
  readonly content: string;
  readonly created_at: string;
  readonly updated_at: string;
}

/** The incident as a v3 webhook event carries it in `data`: a different shape from the REST one. */
export interface WebhookIncidentData {
  readonly id: string;
  readonly type: 'incident';
  readonly self: string;
  readonly html_url: string;
  readonly number: number;
  readonly status: RestIncident['status'];
  readonly incident_key: string;
  readonly created_at: string;
  readonly title: string;
  readonly service: Reference;
  readonly assignees: readonly Reference[];
  readonly escalation_policy: Reference;
  readonly teams: readonly Reference[];
  readonly priority: null;
  readonly urgency: RestIncident['urgency'];
  readonly conference_bridge: null;
  readonly resolve_reason: null;
}

export interface WebhookEventBody {
  readonly event: {
    readonly id: string;
    readonly event_type: string;
    readonly resource_type: 'incident';
    readonly occurred_at: string;
    readonly agent: Reference;
    readonly client: null;
    readonly data: WebhookIncidentData;
  };
}

/** A PagerDuty error body: `{"error": {"message", "code", "errors"?}}`. */
export interface ErrorBody {
  readonly error: { readonly message: string; readonly code?: number; readonly errors?: readonly string[] };
}

/** REST timestamps carry seconds (2015-10-06T21:30:42Z); webhook `occurred_at` keeps milliseconds. */
export function restTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

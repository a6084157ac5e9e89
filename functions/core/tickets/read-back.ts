/**
 * What the broker reads back from a vendor with its own credentials, normalized by the vendor adapters
 * (functions/adapters/jira-api.ts, pagerduty-api.ts). Only these, never a webhook's body, decide a request.
 */

/** A Jira issue as GET /rest/api/3/issue/{key} answers it. */
export interface JiraIssue {
  readonly key: string;
  readonly projectKey: string;
  /** The current status's name. */
  readonly status: string;
  /** The reporter's accountId, when the issue has one. */
  readonly reporter?: string;
  readonly summary: string;
  /** The issue in the browser: `<site>/browse/<key>`. */
  readonly url: string;
  /** Every field as Jira answered it (custom fields by id); the mapping picks its own. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** One entry of an issue's changelog (GET /rest/api/3/issue/{key}/changelog), oldest first. */
export interface JiraChange {
  /** The history id: unique within the site, the same on every read. */
  readonly id: string;
  /** The accountId of who made the change (absent for anonymous or automation without a user). */
  readonly author?: string;
  readonly authorName?: string;
  /** ISO timestamp. */
  readonly created: string;
  readonly items: readonly {
    readonly field: string;
    readonly from?: string | null;
    readonly fromString?: string | null;
    readonly to?: string | null;
    readonly toString?: string | null;
  }[];
}

/** A PagerDuty incident as GET /incidents/{id} answers it. */
export interface PagerDutyIncident {
  readonly id: string;
  readonly number: number;
  readonly title: string;
  readonly status: 'triggered' | 'acknowledged' | 'resolved';
  readonly serviceId: string;
  readonly url: string;
  /** User ids currently assigned. */
  readonly assignees: readonly string[];
  /** Who acknowledged it, oldest first. */
  readonly acknowledgements: readonly { readonly user: string; readonly at: string }[];
}

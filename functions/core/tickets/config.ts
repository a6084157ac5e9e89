/**
 * The webhook integrations' vendor settings, as the access rules declare them under an integration's `webhook`
 * (rules.ts validates them). A webhook integration is a ticketing or paging system the broker does not take at
 * its word: the webhook is only a hint, the broker reads the ticket back with its own credentials and decides
 * from what it read (jira.ts, pagerduty.ts).
 *
 * Secrets are never in the file: `secret` and `token` name where they are kept, an SSM SecureString parameter
 * (`/path/name`) or a Secrets Manager secret (`secretsmanager:<name or ARN>`), read through Powertools Parameters.
 */

export type WebhookConfig = JiraWebhook | PagerDutyWebhook;

/** Where a secret is kept: an SSM parameter name (`/…`), or `secretsmanager:<name or ARN>`. */
export type SecretRef = string;

/** Jira Cloud (Jira Service Management): an issue approved by a transition grants; closing it revokes. */
export interface JiraWebhook {
  readonly vendor: 'jira';
  /** The webhook's signing secret (Jira's X-Hub-Signature HMAC). May hold several, one per line, to rotate. */
  readonly secret: SecretRef;
  /** The site, `https://<site>.atlassian.net` (the validated rules hold it without a trailing `/`). */
  readonly url: string;
  /** The Atlassian account (email) whose API token the broker reads and comments with. */
  readonly user: string;
  /** That account's API token. */
  readonly token: SecretRef;
  /** Project keys whose issues are access requests; any other issue is ignored. */
  readonly projects: readonly string[];
  readonly statuses: {
    /** Moving an issue into one of these (by an allowed approver) grants. */
    readonly approved: readonly string[];
    /** Moving an issue into one of these revokes its grant. */
    readonly closed: readonly string[];
    /** Optional: moving an issue into one of these (by an allowed approver) extends its grant by `fields.extensionHours`. */
    readonly extend?: readonly string[];
  };
  /** Optional: the approver must be a member of this Jira group. */
  readonly approverGroup?: string;
  /** Field ids (`customfield_10050`, or a system field such as `summary`) holding the request's parts. */
  readonly fields: {
    /** The cluster's name (as in the access rules). */
    readonly cluster: string;
    /** The beneficiary's IAM role ARN. */
    readonly principal: string;
    /** The access policy, a name or a full ARN. */
    readonly policy: string;
    /** Optional: namespaces, comma or space separated (or a multi-value field); empty or absent: cluster scope. */
    readonly namespaces?: string;
    /** The duration in hours (a number field). */
    readonly durationHours: string;
    /** Optional: hours added by an extension transition. */
    readonly extensionHours?: string;
  };
  /**
   * Who owns a beneficiary: Jira accounts that may not approve access for these principals (globs), besides the
   * issue's reporter, who never may.
   */
  readonly owners: readonly { readonly principal: string; readonly accountIds: readonly string[] }[];
}

/** PagerDuty: an incident acknowledged by a mapped responder gives that responder's role break-glass access. */
export interface PagerDutyWebhook {
  readonly vendor: 'pagerduty';
  /** The v3 webhook subscription's signing secret. May hold several, one per line, to rotate. */
  readonly secret: SecretRef;
  /** The REST API, `https://api.pagerduty.com` (the validated rules hold it without a trailing `/`). */
  readonly url: string;
  /** A REST API key (read incidents, write notes). */
  readonly token: SecretRef;
  /** The PagerDuty user (email) notes are written as (the API's `From` header). */
  readonly from: string;
  /** Which services' incidents give access, and to which cluster. */
  readonly services: readonly { readonly id: string; readonly cluster: string }[];
  /** Responders: a PagerDuty user id and the IAM role ARN that user gets. */
  readonly users: readonly { readonly id: string; readonly principal: string }[];
  /**
   * The access policy a responder gets (cluster scope): a name or a full ARN in the file, its name in the
   * validated rules (the partition comes from the cluster, as for the rules' policies).
   */
  readonly policy: string;
  readonly durationSeconds: number;
}

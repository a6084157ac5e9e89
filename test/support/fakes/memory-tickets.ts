import type { JiraApi, PagerDutyApi, TicketSystems } from '../../../functions/app/ports';
import { PermanentError, RetryableError } from '../../../functions/core/errors';
import type { JiraChange, JiraIssue, PagerDutyIncident } from '../../../functions/core/tickets/read-back';

/**
 * In-memory Jira and PagerDuty behind the TicketSystems port, for test/app: the issues, changelogs, groups and
 * incidents a test sets, the comments and notes the broker wrote, and failures on demand (`failNext`). The
 * vendor adapters themselves are tested against the HTTP fakes of infra/local (jira/, pagerduty/).
 */
export class MemoryTickets implements TicketSystems {
  readonly issues = new Map<string, JiraIssue>();
  readonly changelogs = new Map<string, JiraChange[]>();
  readonly groups = new Map<string, string[]>();
  readonly incidents = new Map<string, PagerDutyIncident>();
  /** Written back: `<key>` -> texts, in order (Jira comments and PagerDuty notes alike). */
  readonly written = new Map<string, string[]>();
  /** Vendor calls made, as `<method> <key>`. */
  readonly calls: string[] = [];
  private failures: { count: number; kind: 'retryable' | 'permanent' } | undefined;

  /** The next `count` calls fail: retryable (an outage) or permanent (the vendor refuses the token). */
  failNext(count: number, kind: 'retryable' | 'permanent' = 'retryable'): void {
    this.failures = { count, kind };
  }

  jira(_integrationId: string): JiraApi {
    return {
      issue: async (key) => {
        this.call(`issue ${key}`);
        return this.issues.get(key);
      },
      changelog: async (key) => {
        this.call(`changelog ${key}`);
        return [...(this.changelogs.get(key) ?? [])];
      },
      groupsOf: async (accountId) => {
        this.call(`groups ${accountId}`);
        return [...(this.groups.get(accountId) ?? [])];
      },
      comment: async (key, text) => {
        this.call(`comment ${key}`);
        this.write(key, text);
      },
    };
  }

  pagerDuty(_integrationId: string): PagerDutyApi {
    return {
      incident: async (id) => {
        this.call(`incident ${id}`);
        return this.incidents.get(id);
      },
      note: async (id, text) => {
        this.call(`note ${id}`);
        this.write(id, text);
      },
    };
  }

  private call(what: string): void {
    this.calls.push(what);
    if (this.failures && this.failures.count > 0) {
      this.failures.count -= 1;
      throw this.failures.kind === 'retryable'
        ? new RetryableError(`vendor ${what} answered 503`)
        : new PermanentError(`vendor ${what} answered 401: the token was refused`);
    }
  }

  private write(key: string, text: string): void {
    this.written.set(key, [...(this.written.get(key) ?? []), text]);
  }
}

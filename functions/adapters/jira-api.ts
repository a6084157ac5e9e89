/**
 * Jira Cloud's REST API v3, read and written with the broker's own account (HTTP Basic, email and API token):
 * the issue and its changelog that decide a request, the approver's groups, and the comment that writes the
 * outcome back. Jira's JSON is normalized here to JiraIssue / JiraChange, so the core never sees its shapes.
 */
import type { JiraApi } from '../app/ports';
import { PermanentError } from '../core/errors';
import type { JiraChange, JiraIssue } from '../core/tickets/read-back';
import { callVendor, type VendorAnswer, type VendorRequest } from './vendor-http';

export interface JiraCloudApiOptions {
  /** The site, `https://<site>.atlassian.net` (locally the fake's URL). */
  readonly baseUrl: string;
  /** The Atlassian account's email: the Basic auth user. */
  readonly user: string;
  /** That account's API token, read when needed (the Secrets port caches it). */
  readonly token: () => Promise<string>;
  readonly fetcher?: typeof fetch;
  /** maxResults asked per changelog page (Jira's most is 100; it may answer fewer, which is paged through). */
  readonly pageSize?: number;
}

/** A bound on changelog pages, so a site that never says isLast cannot keep the broker paging forever. */
const MAX_CHANGELOG_PAGES = 1000;

export class JiraCloudApi implements JiraApi {
  private readonly baseUrl: string;
  private readonly fetcher: typeof fetch;
  private readonly pageSize: number;

  constructor(private readonly options: JiraCloudApiOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetcher = options.fetcher ?? fetch;
    this.pageSize = options.pageSize ?? 100;
  }

  async issue(key: string): Promise<JiraIssue | undefined> {
    const answer = await this.call('GET', `/rest/api/3/issue/${encodeURIComponent(key)}`);
    if (answer.status === 404) return undefined;
    return toIssue(this.baseUrl, answer.body, `Jira GET issue ${key}`);
  }

  async changelog(key: string): Promise<JiraChange[]> {
    const changes: JiraChange[] = [];
    let startAt = 0;
    for (let pages = 0; pages < MAX_CHANGELOG_PAGES; pages++) {
      const answer = await this.call(
        'GET',
        `/rest/api/3/issue/${encodeURIComponent(key)}/changelog?startAt=${startAt}&maxResults=${this.pageSize}`,
      );
      // No issue, no history: the caller has read the issue first and decides what a vanished one means.
      if (answer.status === 404) return [];
      const page = record(answer.body, `Jira changelog of ${key}`);
      const values = Array.isArray(page.values) ? page.values : [];
      changes.push(...values.map((value) => toChange(value, `Jira changelog of ${key}`)));
      startAt += values.length;
      const total = typeof page.total === 'number' ? page.total : undefined;
      // isLast is what Jira documents; total and an empty page guard a site that leaves it out.
      const last =
        page.isLast === true ||
        values.length === 0 ||
        (page.isLast === undefined && total !== undefined && startAt >= total);
      if (last) return sortOldestFirst(changes);
    }
    throw new PermanentError(
      `Jira changelog of ${key} has more than ${MAX_CHANGELOG_PAGES} pages: refusing to read on`,
    );
  }

  async groupsOf(accountId: string): Promise<string[]> {
    const answer = await this.call(
      'GET',
      `/rest/api/3/user/groups?accountId=${encodeURIComponent(accountId)}`,
    );
    // An account Jira does not know is in no group.
    if (answer.status === 404) return [];
    if (!Array.isArray(answer.body)) {
      throw new PermanentError(
        `Jira groups of ${accountId}: expected a list of groups, got ${typeof answer.body}`,
      );
    }
    return answer.body.flatMap((group: unknown) => {
      const name = (group as { name?: unknown } | null)?.name;
      return typeof name === 'string' ? [name] : [];
    });
  }

  async comment(key: string, text: string): Promise<void> {
    const answer = await this.call('POST', `/rest/api/3/issue/${encodeURIComponent(key)}/comment`, {
      body: toAdf(text),
    });
    if (answer.status === 404) {
      throw new PermanentError(
        `Jira issue ${key} does not exist or ${this.options.user} may not see it: the comment was not written`,
      );
    }
  }

  /**
   * One call through callVendor. A 401 or 403 is permanent there; here it also names what to fix, which only
   * this adapter knows (the account and what Jira wants of it).
   */
  private async call(method: VendorRequest['method'], path: string, body?: unknown): Promise<VendorAnswer> {
    const token = await this.options.token();
    let refused: number | undefined;
    const fetcher: typeof fetch = async (input, init) => {
      const response = await this.fetcher(input, init);
      if (response.status === 401 || response.status === 403) refused = response.status;
      return response;
    };
    const authorization = `Basic ${Buffer.from(`${this.options.user}:${token}`).toString('base64')}`;
    try {
      return await callVendor(
        'Jira',
        {
          method,
          url: `${this.baseUrl}${path}`,
          headers: { authorization },
          ...(body === undefined ? {} : { body }),
        },
        fetcher,
      );
    } catch (error) {
      // The vendor's message first (it may end with a period of its own), then what to do about it.
      const said = (error as Error).message.replace(/\.?$/, '.');
      if (refused === 401) {
        throw new PermanentError(
          `${said} Jira did not accept the API token of ${this.options.user}: store a current ` +
            "API token of that account (id.atlassian.com, Security, API tokens) in the secret the integration's " +
            "`token` names, and check `user` is that account's email",
          { cause: error },
        );
      }
      if (refused === 403) {
        throw new PermanentError(
          `${said} Jira refused ${this.options.user} this operation: the account needs ` +
            "Browse projects and Add comments on the integration's projects, and the global Browse users and " +
            "groups permission to read an approver's groups",
          { cause: error },
        );
      }
      throw error;
    }
  }
}

function toIssue(baseUrl: string, body: unknown, what: string): JiraIssue {
  const issue = record(body, what);
  const fields = record(issue.fields, `${what}: fields`);
  const key = issue.key;
  const projectKey = (fields.project as { key?: unknown } | null | undefined)?.key;
  const status = (fields.status as { name?: unknown } | null | undefined)?.name;
  if (typeof key !== 'string' || typeof projectKey !== 'string' || typeof status !== 'string') {
    throw new PermanentError(`${what}: the answer has no key, fields.project.key or fields.status.name`);
  }
  const reporter = (fields.reporter as { accountId?: unknown } | null | undefined)?.accountId;
  return {
    key,
    projectKey,
    status,
    ...(typeof reporter === 'string' ? { reporter } : {}),
    summary: typeof fields.summary === 'string' ? fields.summary : '',
    url: `${baseUrl}/browse/${key}`,
    fields,
  };
}

function toChange(value: unknown, what: string): JiraChange {
  const entry = record(value, `${what}: entry`);
  const author = entry.author as { accountId?: unknown; displayName?: unknown } | null | undefined;
  if (typeof entry.id !== 'string' || typeof entry.created !== 'string') {
    throw new PermanentError(`${what}: an entry has no id or created`);
  }
  const items = Array.isArray(entry.items) ? entry.items : [];
  return {
    id: entry.id,
    ...(typeof author?.accountId === 'string' ? { author: author.accountId } : {}),
    ...(typeof author?.displayName === 'string' ? { authorName: author.displayName } : {}),
    created: isoTime(entry.created),
    items: items.flatMap((item: unknown) => {
      const i = item as Record<string, unknown> | null;
      if (typeof i?.field !== 'string') return [];
      // A custom field is named by its id: one a site admin named "status" must never pass for the status.
      const custom = i.fieldtype === 'custom';
      const field = custom ? (typeof i.fieldId === 'string' ? i.fieldId : `custom:${i.field}`) : i.field;
      return [
        {
          field,
          from: optionalString(i.from),
          fromString: optionalString(i.fromString),
          to: optionalString(i.to),
          toString: optionalString(i.toString),
        },
      ];
    }),
  };
}

/** Jira's `2024-05-02T10:11:12.345+0000` as ISO `2024-05-02T10:11:12.345Z`; kept as sent when unreadable. */
function isoTime(jira: string): string {
  const withColon = jira.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const ms = Date.parse(withColon);
  return Number.isNaN(ms) ? jira : new Date(ms).toISOString();
}

/** Jira lists the changelog oldest first; sorted again (by time, then history id) so a reordering site cannot mislead. */
function sortOldestFirst(changes: JiraChange[]): JiraChange[] {
  const time = (c: JiraChange) => Date.parse(c.created) || 0;
  const id = (c: JiraChange) => (/^\d+$/.test(c.id) ? Number(c.id) : Number.MAX_SAFE_INTEGER);
  return changes.sort((a, b) => time(a) - time(b) || id(a) - id(b));
}

function optionalString(value: unknown): string | null | undefined {
  if (value === null) return null;
  if (typeof value === 'string') return value;
  return undefined;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PermanentError(`${what}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Plain text as an Atlassian Document Format document, which REST v3 requires for comments: one paragraph per
 * block separated by a blank line, a hard break for each single newline. ADF refuses empty text nodes, so empty
 * lines and blocks are left out.
 */
export function toAdf(text: string): { type: 'doc'; version: 1; content: unknown[] } {
  const blocks = text
    .replace(/\r\n?/g, '\n')
    .split(/\n\s*\n/)
    .map((block) => block.split('\n').filter((line) => line.trim() !== ''))
    .filter((lines) => lines.length > 0);
  return {
    type: 'doc',
    version: 1,
    content: blocks.map((lines) => ({
      type: 'paragraph',
      content: lines.flatMap((line, i) => [
        ...(i > 0 ? [{ type: 'hardBreak' }] : []),
        { type: 'text', text: line },
      ]),
    })),
  };
}

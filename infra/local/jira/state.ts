import type { JiraField, JiraProject, JiraSite, JiraStatus, JiraTransition, JiraUser } from './site';

/** A refusal as Jira words it: the status and the `{errorMessages, errors}` body. */
export class JiraApiError extends Error {
  override readonly name = 'JiraApiError';
  constructor(
    readonly status: number,
    readonly errorMessages: readonly string[],
    readonly errors: Readonly<Record<string, string>> = {},
  ) {
    super(errorMessages[0] ?? Object.values(errors)[0] ?? `Jira answered ${status}`);
  }
}

/** What Jira answers for an issue that does not exist and one the caller may not see alike. */
export const ISSUE_NOT_FOUND = 'Issue does not exist or you do not have permission to see it.';

const CANNOT_SET = (id: string) =>
  `Field '${id}' cannot be set. It is not on the appropriate screen, or unknown.`;
const NOT_ADF = 'Operation value must be an Atlassian Document (see the Atlassian Document Format)';

export type FieldValue = string | number | null;

export interface IssueRecord {
  readonly id: string;
  readonly key: string;
  readonly project: JiraProject;
  readonly issueType: { readonly id: string; readonly name: string };
  readonly reporter: JiraUser;
  readonly creator: JiraUser;
  readonly created: Date;
  summary: string;
  description: unknown;
  status: JiraStatus;
  resolutionDate: Date | undefined;
  updated: Date;
  /** The project's custom fields by id; null when empty. */
  readonly custom: Map<string, FieldValue>;
}

/** One changelog item, exactly as Jira lists it in a history entry and in a webhook's changelog. */
export interface ChangeItem {
  readonly field: string;
  readonly fieldtype: 'jira' | 'custom';
  readonly fieldId: string;
  readonly from: string | null;
  readonly fromString: string | null;
  readonly to: string | null;
  readonly toString: string | null;
}

export interface HistoryRecord {
  readonly id: string;
  readonly issueKey: string;
  readonly author: JiraUser;
  readonly created: Date;
  readonly items: readonly ChangeItem[];
}

export interface CommentRecord {
  readonly id: string;
  readonly issueKey: string;
  readonly author: JiraUser;
  /** The Atlassian Document Format body as posted. */
  readonly body: AdfNode;
  readonly created: Date;
}

export interface AdfNode {
  readonly type: string;
  readonly text?: string;
  readonly content?: readonly AdfNode[];
  readonly [key: string]: unknown;
}

/**
 * The site's issues, their changelogs and comments, in memory. Every change by a user is one history entry with
 * that user as author, as Jira records it; the server turns each into a webhook.
 */
export class JiraState {
  private readonly issues = new Map<string, IssueRecord>();
  private readonly histories = new Map<string, HistoryRecord[]>();
  private readonly commentsByKey = new Map<string, CommentRecord[]>();
  private readonly counters = { issue: 10000, history: 10000, comment: 10000 };
  private readonly keyCounters = new Map<string, number>();

  constructor(
    readonly site: JiraSite,
    private readonly clock: () => Date,
  ) {}

  /** Forgets every issue; numbering starts again at <KEY>-1. */
  reset(): void {
    this.issues.clear();
    this.histories.clear();
    this.commentsByKey.clear();
    this.keyCounters.clear();
    Object.assign(this.counters, { issue: 10000, history: 10000, comment: 10000 });
  }

  userByAccountId(accountId: string): JiraUser | undefined {
    return this.site.users.find((u) => u.accountId === accountId);
  }

  /** The user whose email and API token these are; undefined when they do not match. */
  authenticate(email: string, token: string): JiraUser | undefined {
    return this.site.users.find(
      (u) => u.emailAddress.toLowerCase() === email.toLowerCase() && u.apiToken === token,
    );
  }

  /** By key (any case) or numeric id, as the REST API's `issueIdOrKey`. */
  issue(idOrKey: string): IssueRecord | undefined {
    const byKey = this.issues.get(idOrKey.toUpperCase());
    if (byKey) return byKey;
    return [...this.issues.values()].find((issue) => issue.id === idOrKey);
  }

  requireIssue(idOrKey: string): IssueRecord {
    const issue = this.issue(idOrKey);
    if (!issue) throw new JiraApiError(404, [ISSUE_NOT_FOUND]);
    return issue;
  }

  history(key: string): readonly HistoryRecord[] {
    return this.histories.get(key) ?? [];
  }

  comments(key: string): readonly CommentRecord[] {
    return this.commentsByKey.get(key) ?? [];
  }

  fieldsOf(project: JiraProject): JiraField[] {
    return project.fields.map((id) => this.site.fields.find((f) => f.id === id) as JiraField);
  }

  availableTransitions(issue: IssueRecord): JiraTransition[] {
    return this.site.transitions.filter((t) => t.from.includes(issue.status.name));
  }

  statusNamed(name: string): JiraStatus {
    return this.site.statuses.find((s) => s.name === name) as JiraStatus;
  }

  /** POST /rest/api/3/issue. */
  create(user: JiraUser, body: unknown): IssueRecord {
    const fields = fieldsOfBody(body);
    const errors: Record<string, string> = {};
    const project = this.projectOf(fields.project, errors);
    const issueType = project ? issueTypeOf(project, fields.issuetype, errors) : undefined;
    if (fields.summary === undefined || fields.summary === null || fields.summary === '') {
      errors.summary = 'You must specify a summary of the issue.';
    }
    let reporter = user;
    if (fields.reporter !== undefined) {
      const accountId = (fields.reporter as { accountId?: unknown } | null)?.accountId;
      const found = typeof accountId === 'string' ? this.userByAccountId(accountId) : undefined;
      if (found) reporter = found;
      else errors.reporter = 'Specify a valid value for reporter';
    }
    const { project: _p, issuetype: _t, reporter: _r, ...settable } = fields;
    const changes = project ? this.validateFields(project, settable, errors) : new Map<string, unknown>();
    if (!project || !issueType || Object.keys(errors).length > 0) throw new JiraApiError(400, [], errors);

    const next = (this.keyCounters.get(project.key) ?? 0) + 1;
    this.keyCounters.set(project.key, next);
    const now = this.clock();
    const issue: IssueRecord = {
      id: String(++this.counters.issue),
      key: `${project.key}-${next}`,
      project,
      issueType,
      reporter,
      creator: user,
      created: now,
      updated: now,
      summary: '',
      description: null,
      status: this.statusNamed(this.site.initialStatus),
      resolutionDate: undefined,
      custom: new Map(project.fields.map((id) => [id, null])),
    };
    this.apply(issue, changes);
    this.issues.set(issue.key, issue);
    return issue;
  }

  /** PUT /rest/api/3/issue/{key}: the entry recorded, or undefined when nothing changed (Jira records none). */
  edit(user: JiraUser, idOrKey: string, body: unknown): { issue: IssueRecord; history?: HistoryRecord } {
    const issue = this.requireIssue(idOrKey);
    if (isObject(body) && body.update !== undefined) {
      throw new JiraApiError(400, ['This fake Jira supports edits through "fields" only, not "update".']);
    }
    const errors: Record<string, string> = {};
    const changes = this.validateFields(issue.project, fieldsOfBody(body), errors);
    if (Object.keys(errors).length > 0) throw new JiraApiError(400, [], errors);
    const items = this.apply(issue, changes);
    if (items.length === 0) return { issue };
    return { issue, history: this.record(user, issue, items) };
  }

  /** POST /rest/api/3/issue/{key}/transitions `{transition: {id}, fields?}`. */
  transition(user: JiraUser, idOrKey: string, body: unknown): { issue: IssueRecord; history: HistoryRecord } {
    const issue = this.requireIssue(idOrKey);
    const transition = isObject(body) && isObject(body.transition) ? body.transition : undefined;
    const id = transition?.id;
    if (typeof id !== 'string' && typeof id !== 'number') {
      throw new JiraApiError(400, ["Missing 'transition' identifier"]);
    }
    const chosen = this.availableTransitions(issue).find((t) => t.id === String(id));
    if (!chosen) throw new JiraApiError(400, [`Transition id '${id}' is not valid for this issue.`]);
    const errors: Record<string, string> = {};
    const changes =
      isObject(body) && body.fields !== undefined
        ? this.validateFields(issue.project, fieldsOfBody(body), errors)
        : new Map<string, unknown>();
    if (Object.keys(errors).length > 0) throw new JiraApiError(400, [], errors);

    const from = issue.status;
    const to = this.statusNamed(chosen.to);
    const items: ChangeItem[] = [];
    if (from.resolution !== to.resolution) {
      const fromResolution = resolutionId(this.site, from);
      const toResolution = resolutionId(this.site, to);
      items.push({
        field: 'resolution',
        fieldtype: 'jira',
        fieldId: 'resolution',
        from: fromResolution ?? null,
        fromString: from.resolution ?? null,
        to: toResolution ?? null,
        toString: to.resolution ?? null,
      });
    }
    items.push({
      field: 'status',
      fieldtype: 'jira',
      fieldId: 'status',
      from: from.id,
      fromString: from.name,
      to: to.id,
      toString: to.name,
    });
    issue.status = to;
    issue.resolutionDate = to.resolution ? this.clock() : undefined;
    items.push(...this.apply(issue, changes));
    return { issue, history: this.record(user, issue, items) };
  }

  /** POST /rest/api/3/issue/{key}/comment `{body: <ADF doc>}`. */
  comment(user: JiraUser, idOrKey: string, body: unknown): CommentRecord {
    const issue = this.requireIssue(idOrKey);
    const doc = isObject(body) ? body.body : undefined;
    const problem = adfProblem(doc);
    if (problem) throw new JiraApiError(400, [], { comment: `${NOT_ADF}: ${problem}` });
    const comment: CommentRecord = {
      id: String(++this.counters.comment),
      issueKey: issue.key,
      author: user,
      body: doc as AdfNode,
      created: this.clock(),
    };
    this.commentsByKey.set(issue.key, [...this.comments(issue.key), comment]);
    return comment;
  }

  private record(user: JiraUser, issue: IssueRecord, items: readonly ChangeItem[]): HistoryRecord {
    const now = this.clock();
    issue.updated = now;
    const entry: HistoryRecord = {
      id: String(++this.counters.history),
      issueKey: issue.key,
      author: user,
      created: now,
      items,
    };
    this.histories.set(issue.key, [...this.history(issue.key), entry]);
    return entry;
  }

  private projectOf(value: unknown, errors: Record<string, string>): JiraProject | undefined {
    const ref = isObject(value) ? value : undefined;
    const project = this.site.projects.find(
      (p) =>
        (typeof ref?.key === 'string' && p.key === ref.key) ||
        (typeof ref?.id === 'string' && p.id === ref.id),
    );
    if (!project) errors.project = 'valid project is required';
    return project;
  }

  /** Checks `fields` of a create, edit or transition; returns the new values by field id. */
  private validateFields(
    project: JiraProject,
    fields: Record<string, unknown>,
    errors: Record<string, string>,
  ): Map<string, unknown> {
    const changes = new Map<string, unknown>();
    for (const [id, value] of Object.entries(fields)) {
      if (id === 'summary') {
        if (typeof value !== 'string' || value.trim() === '')
          errors.summary = 'You must specify a summary of the issue.';
        else if (value.length > 255) errors.summary = 'Summary must be less than 255 characters.';
        else if (/[\r\n]/.test(value))
          errors.summary = 'The summary is invalid because it contains newline characters.';
        else changes.set(id, value);
      } else if (id === 'description') {
        if (value !== null && adfProblem(value)) errors.description = NOT_ADF;
        else changes.set(id, value);
      } else if (project.fields.includes(id)) {
        const field = this.site.fields.find((f) => f.id === id) as JiraField;
        if (value === null) changes.set(id, null);
        else if (field.type === 'number' && (typeof value !== 'number' || !Number.isFinite(value))) {
          errors[id] = 'Operation value must be a number';
        } else if (field.type === 'string' && typeof value !== 'string') {
          errors[id] = 'Operation value must be a string';
        } else changes.set(id, value === '' ? null : value);
      } else {
        errors[id] = CANNOT_SET(id);
      }
    }
    return changes;
  }

  /** Sets the values and returns the changelog items of what actually changed. */
  private apply(issue: IssueRecord, changes: Map<string, unknown>): ChangeItem[] {
    const items: ChangeItem[] = [];
    for (const [id, value] of changes) {
      if (id === 'summary') {
        if (issue.summary !== value) {
          items.push(systemItem('summary', issue.summary || null, value as string));
          issue.summary = value as string;
        }
      } else if (id === 'description') {
        if (JSON.stringify(issue.description) !== JSON.stringify(value)) {
          items.push(systemItem('description', adfText(issue.description), adfText(value)));
          issue.description = value;
        }
      } else {
        const before = issue.custom.get(id) ?? null;
        if (before !== value) {
          const field = this.site.fields.find((f) => f.id === id) as JiraField;
          items.push({
            field: field.name,
            fieldtype: 'custom',
            fieldId: id,
            from: null,
            fromString: before === null ? null : String(before),
            to: null,
            toString: value === null ? null : String(value),
          });
          issue.custom.set(id, value as FieldValue);
        }
      }
    }
    if (items.length > 0) issue.updated = this.clock();
    return items;
  }
}

function systemItem(id: string, from: string | null, to: string | null): ChangeItem {
  return { field: id, fieldtype: 'jira', fieldId: id, from: null, fromString: from, to: null, toString: to };
}

/** A resolution's id: its position among the site's resolutions (Jira numbers them from 10000). */
export function resolutionId(site: JiraSite, status: JiraStatus): string | undefined {
  if (!status.resolution) return undefined;
  const names = [...new Set(site.statuses.flatMap((s) => (s.resolution ? [s.resolution] : [])))];
  return String(10000 + names.indexOf(status.resolution));
}

function fieldsOfBody(body: unknown): Record<string, unknown> {
  if (!isObject(body) || !isObject(body.fields))
    throw new JiraApiError(400, ["Request body must have 'fields'."]);
  return body.fields;
}

function issueTypeOf(
  project: JiraProject,
  value: unknown,
  errors: Record<string, string>,
): { id: string; name: string } | undefined {
  const ref = isObject(value) ? value : undefined;
  const type = project.issueTypes.find(
    (t) =>
      (typeof ref?.name === 'string' && t.name === ref.name) ||
      (typeof ref?.id === 'string' && t.id === ref.id),
  );
  if (!type) errors.issuetype = 'Specify an issue type';
  return type;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Why a value is not an ADF document, or undefined when it is one. Checks what Jira's own validation refuses
 * most often: the doc wrapper, version 1, nodes without a type, and empty or missing text in text nodes.
 */
export function adfProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'not an object';
  if (value.type !== 'doc' || value.version !== 1) return 'the root must be {"type": "doc", "version": 1}';
  if (!Array.isArray(value.content)) return 'the doc has no content array';
  const walk = (node: unknown, path: string): string | undefined => {
    if (!isObject(node) || typeof node.type !== 'string') return `${path} has no type`;
    if (node.type === 'text' && (typeof node.text !== 'string' || node.text === '')) {
      return `${path} is a text node without text`;
    }
    if (node.content !== undefined) {
      if (!Array.isArray(node.content)) return `${path}.content is not an array`;
      for (const [i, child] of node.content.entries()) {
        const problem = walk(child, `${path}.content[${i}]`);
        if (problem) return problem;
      }
    }
    return undefined;
  };
  for (const [i, node] of value.content.entries()) {
    const problem = walk(node, `content[${i}]`);
    if (problem) return problem;
  }
  return undefined;
}

/** The text of an ADF document: paragraphs separated by a blank line, hard breaks as newlines. */
export function adfText(value: unknown): string | null {
  if (!isObject(value) || !Array.isArray(value.content)) return null;
  const inline = (node: unknown): string => {
    if (!isObject(node)) return '';
    if (node.type === 'text' && typeof node.text === 'string') return node.text;
    if (node.type === 'hardBreak') return '\n';
    return Array.isArray(node.content) ? node.content.map(inline).join('') : '';
  };
  return value.content.map(inline).join('\n\n');
}

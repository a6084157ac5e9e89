import { createHash, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { commentJson, historyJson, issueJson, myselfJson, page, statusJson, userJson } from './shapes';
import type { JiraUser } from './site';
import {
  adfText,
  type HistoryRecord,
  ISSUE_NOT_FOUND,
  type IssueRecord,
  JiraApiError,
  type JiraState,
} from './state';

/** One REST call as the fake's server hands it to the routes: body already read. */
export interface JiraRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly authorization: string | undefined;
  readonly body: Buffer;
  /** The base URL the client used, for `self` links. */
  readonly base: string;
}

/** A change the server turns into webhooks once the call is answered. */
export interface JiraEvent {
  readonly webhookEvent: 'jira:issue_created' | 'jira:issue_updated';
  readonly issueKey: string;
  readonly payload: Record<string, unknown>;
}

/** Jira's most entries per page, whatever maxResults asks. */
export const MAX_PAGE_SIZE = 100;

/** What Jira Cloud answers a call without valid Basic credentials. */
const UNAUTHENTICATED = 'Client must be authenticated to access this resource.';

export interface JiraRoutesOptions {
  /** The most changelog entries one page holds (Jira: 100); small in tests to exercise paging. */
  readonly changelogPageSize: number;
  /** Jira also sends jira:issue_updated (issue_event_type_name issue_commented) when a comment is added. */
  readonly commentWebhooks: boolean;
  readonly clock: () => Date;
}

/**
 * Answers one REST v3 call. Returns the events to send as webhooks after the answer (Jira sends them
 * asynchronously, never before the call returns).
 */
export function handleJira(
  state: JiraState,
  options: JiraRoutesOptions,
  req: JiraRequest,
  res: ServerResponse,
): { user?: JiraUser; events: JiraEvent[] } {
  const browse = /^\/browse\/([^/]+)$/.exec(req.path);
  if (browse && req.method === 'GET') {
    sendBrowsePage(state, decodeURIComponent(browse[1] as string), res);
    return { events: [] };
  }
  const user = authenticate(state, req.authorization);
  if (!user) {
    const payload = Buffer.from(UNAUTHENTICATED);
    res.writeHead(401, {
      'content-type': 'text/plain;charset=UTF-8',
      'content-length': String(payload.length),
      'www-authenticate': 'Basic realm="protected-by-api-token"',
    });
    res.end(payload);
    return { events: [] };
  }
  try {
    return { user, events: route(state, options, req, res, user) };
  } catch (error) {
    if (error instanceof JiraApiError) {
      sendJiraJson(res, error.status, { errorMessages: error.errorMessages, errors: error.errors });
      return { user, events: [] };
    }
    throw error;
  }
}

function route(
  state: JiraState,
  options: JiraRoutesOptions,
  req: JiraRequest,
  res: ServerResponse,
  user: JiraUser,
): JiraEvent[] {
  const { method, path, base } = req;
  const issuePath = /^\/rest\/api\/3\/issue\/([^/]+)(?:\/(changelog|transitions|comment))?\/?$/.exec(path);

  if (path === '/rest/api/3/myself') {
    if (method !== 'GET') return notAllowed(res);
    sendJiraJson(res, 200, myselfJson(base, user));
    return [];
  }
  if (path === '/rest/api/3/user' || path === '/rest/api/3/user/groups') {
    if (method !== 'GET') return notAllowed(res);
    const accountId = req.query.get('accountId');
    if (!accountId) throw new JiraApiError(400, ['The accountId query parameter needs to be provided.']);
    const found = state.userByAccountId(accountId);
    if (!found)
      throw new JiraApiError(404, [`Specified user does not exist or you do not have required permissions`]);
    if (path === '/rest/api/3/user') sendJiraJson(res, 200, userJson(base, found));
    else
      sendJiraJson(
        res,
        200,
        found.groups.map((name) => ({
          name,
          groupId: groupId(name),
          self: `${base}/rest/api/3/group?groupId=${groupId(name)}`,
        })),
      );
    return [];
  }
  if (path === '/rest/api/3/issue' || path === '/rest/api/3/issue/') {
    if (method !== 'POST') return notAllowed(res);
    const issue = state.create(user, parseJson(req.body));
    sendJiraJson(res, 201, { id: issue.id, key: issue.key, self: `${base}/rest/api/3/issue/${issue.id}` });
    return [issueEvent(options, base, state, 'jira:issue_created', 'issue_created', user, issue)];
  }
  if (!issuePath) {
    sendJiraJson(res, 404, { message: `null for uri: ${base}${path}`, 'status-code': 404 });
    return [];
  }
  const idOrKey = decodeURIComponent(issuePath[1] as string);
  const sub = issuePath[2];

  if (sub === undefined) {
    if (method === 'GET') {
      const issue = state.requireIssue(idOrKey);
      const only = req.query
        .get('fields')
        ?.split(',')
        .map((f) => f.trim());
      sendJiraJson(res, 200, issueJson(base, state.site, issue, only));
      return [];
    }
    if (method === 'PUT') {
      const { issue, history } = state.edit(user, idOrKey, parseJson(req.body));
      res.writeHead(204).end();
      return history
        ? [issueEvent(options, base, state, 'jira:issue_updated', 'issue_updated', user, issue, history)]
        : [];
    }
    return notAllowed(res);
  }

  if (sub === 'changelog') {
    if (method !== 'GET') return notAllowed(res);
    const issue = state.requireIssue(idOrKey);
    const { startAt, maxResults } = paging(req.query, options.changelogPageSize);
    const self = `${base}/rest/api/3/issue/${issue.key}/changelog`;
    const body = page(
      `${self}?maxResults=${maxResults}&startAt=${startAt}`,
      state.history(issue.key).map((entry) => historyJson(base, entry)),
      startAt,
      maxResults,
    );
    const next = body.isLast
      ? {}
      : { nextPage: `${self}?maxResults=${maxResults}&startAt=${startAt + body.values.length}` };
    sendJiraJson(res, 200, { ...body, ...next });
    return [];
  }

  if (sub === 'transitions') {
    if (method === 'GET') {
      const issue = state.requireIssue(idOrKey);
      sendJiraJson(res, 200, {
        expand: 'transitions',
        transitions: state.availableTransitions(issue).map((t) => ({
          id: t.id,
          name: t.name,
          to: statusJson(base, state.statusNamed(t.to)),
          hasScreen: false,
          isGlobal: false,
          isInitial: false,
          isAvailable: true,
          isConditional: false,
          isLooped: false,
        })),
      });
      return [];
    }
    if (method === 'POST') {
      const { issue, history } = state.transition(user, idOrKey, parseJson(req.body));
      res.writeHead(204).end();
      return [issueEvent(options, base, state, 'jira:issue_updated', 'issue_generic', user, issue, history)];
    }
    return notAllowed(res);
  }

  // sub === 'comment'
  if (method === 'GET') {
    const issue = state.requireIssue(idOrKey);
    const { startAt, maxResults } = paging(req.query, MAX_PAGE_SIZE);
    const all = state.comments(issue.key).map((c) => commentJson(base, issue, c));
    const values = all.slice(startAt, startAt + maxResults);
    sendJiraJson(res, 200, { startAt, maxResults, total: all.length, comments: values });
    return [];
  }
  if (method === 'POST') {
    const issue = state.requireIssue(idOrKey);
    const comment = state.comment(user, idOrKey, parseJson(req.body));
    const json = commentJson(base, issue, comment);
    sendJiraJson(res, 201, json);
    if (!options.commentWebhooks) return [];
    return [
      {
        webhookEvent: 'jira:issue_updated',
        issueKey: issue.key,
        payload: {
          ...payloadBase(options, base, state, 'jira:issue_updated', 'issue_commented', user, issue),
          comment: json,
        },
      },
    ];
  }
  return notAllowed(res);
}

/** The webhook of a create, edit or transition: the issue after the change and, for a change, its entry. */
export function issueEvent(
  options: JiraRoutesOptions,
  base: string,
  state: JiraState,
  webhookEvent: JiraEvent['webhookEvent'],
  typeName: string,
  user: JiraUser,
  issue: IssueRecord,
  history?: HistoryRecord,
): JiraEvent {
  return {
    webhookEvent,
    issueKey: issue.key,
    payload: {
      ...payloadBase(options, base, state, webhookEvent, typeName, user, issue),
      ...(history ? { changelog: { id: history.id, items: history.items } } : {}),
    },
  };
}

/** The webhook body Jira documents: the issue as it is after the change, and who made it. */
function payloadBase(
  options: JiraRoutesOptions,
  base: string,
  state: JiraState,
  webhookEvent: string,
  typeName: string,
  user: JiraUser,
  issue: IssueRecord,
): Record<string, unknown> {
  return {
    timestamp: options.clock().getTime(),
    webhookEvent,
    issue_event_type_name: typeName,
    // Webhooks name the user without the email address (Atlassian's privacy rules).
    user: userJson(base, user, false),
    issue: issueJson(base, state.site, issue),
  };
}

/**
 * The issue as plain text, for a person following a local flow with curl or a browser: the fake's stand-in for
 * Jira's issue page (which needs a login and is HTML). Not part of the REST API, so it asks for no credentials.
 */
function sendBrowsePage(state: JiraState, key: string, res: ServerResponse): void {
  const issue = state.issue(key);
  if (!issue) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`${ISSUE_NOT_FOUND}\n`);
    return;
  }
  const lines = [
    `${issue.key}  ${issue.summary}`,
    `Status:   ${issue.status.name}`,
    `Reporter: ${issue.reporter.displayName} (${issue.reporter.accountId})`,
    ...state.fieldsOf(issue.project).map((f) => `${f.name}: ${issue.custom.get(f.id) ?? ''}`),
    '',
    'History:',
    ...state
      .history(issue.key)
      .flatMap((h) =>
        h.items.map(
          (i) =>
            `  ${h.created.toISOString()}  ${h.author.displayName}: ${i.field} ${i.fromString ?? ''} -> ${i.toString ?? ''}`,
        ),
      ),
    '',
    'Comments:',
    ...state
      .comments(issue.key)
      .flatMap((c) => [
        `  ${c.created.toISOString()}  ${c.author.displayName}:`,
        ...(adfText(c.body) ?? '').split('\n').map((line) => `    ${line}`),
      ]),
  ];
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(`${lines.join('\n')}\n`);
}

/** JSON as Jira answers it, with its request id header (never the edge's AWS request id). */
export function sendJiraJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extraHeaders: Record<string, string> = {},
): void {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': 'application/json;charset=UTF-8',
    'content-length': String(payload.length),
    'x-arequestid': randomUUID(),
    ...extraHeaders,
  });
  res.end(payload);
}

function authenticate(state: JiraState, header: string | undefined): JiraUser | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return state.authenticate(decoded.slice(0, colon), decoded.slice(colon + 1));
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new JiraApiError(400, [`The request body is not valid JSON: ${(error as Error).message}`]);
  }
}

function paging(query: URLSearchParams, cap: number): { startAt: number; maxResults: number } {
  const startAt = Number(query.get('startAt') ?? '0');
  const maxResults = Number(query.get('maxResults') ?? String(cap));
  return {
    startAt: Number.isInteger(startAt) && startAt >= 0 ? startAt : 0,
    maxResults: Number.isInteger(maxResults) && maxResults > 0 ? Math.min(maxResults, cap) : cap,
  };
}

function notAllowed(res: ServerResponse): JiraEvent[] {
  res.writeHead(405, { 'content-length': '0' }).end();
  return [];
}

/** A stable, UUID-shaped group id derived from the name (Jira's groupId is a UUID). */
function groupId(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

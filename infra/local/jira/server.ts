/**
 * A fake Jira Cloud site for `npm start` and the tests: the subset of the REST API v3 the broker and a person
 * at a shell use (issues, transitions, changelog, comments, users and groups), with Jira's documented shapes,
 * errors and Basic auth (email:API token), and signed webhooks sent to the broker when an issue is created,
 * edited or transitioned. Users, projects, custom fields and the workflow come from a site file (site.json).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BodyTooLargeError, closeServer, listen, readBody } from '../http';
import { handleJira, issueEvent, type JiraEvent, MAX_PAGE_SIZE, sendJiraJson } from './routes';
import { issueJson } from './shapes';
import { DEFAULT_JIRA_SITE_FILE, type JiraSite, type JiraUser, loadJiraSite } from './site';
import { type AdfNode, adfText, JiraState } from './state';
import {
  type JiraWebhookTarget,
  type WebhookDelivery,
  type WebhookRetryPolicy,
  WebhookSender,
} from './webhooks';

export const DEFAULT_JIRA_PORT = 4580;
const MAX_BODY_BYTES = 1024 * 1024;

export interface FakeJiraOptions {
  /** 127.0.0.1 unless told otherwise. */
  readonly host?: string;
  /** 4580 by default; 0 picks a free port (tests). */
  readonly port?: number;
  /** Where to send webhooks (the broker's /webhooks/<integration id>), each with its secret. */
  readonly webhooks?: readonly JiraWebhookTarget[];
  /** Users, projects, fields and workflow; infra/local/jira/site.json by default. */
  readonly siteFile?: string;
  /** The most changelog entries one page holds (Jira: 100); small in tests to exercise paging. */
  readonly changelogPageSize?: number;
  /** Webhook retries: 3 retries from 200 ms, doubling, 10 s per attempt unless told otherwise. */
  readonly webhookRetry?: Partial<WebhookRetryPolicy>;
  /**
   * Also send jira:issue_updated (issue_event_type_name `issue_commented`) when a comment is added, as Jira
   * does for a webhook subscribed to "Issue updated". Off by default.
   */
  readonly commentWebhooks?: boolean;
  /** The site's clock (timestamps of issues, changelog entries, comments and webhooks). */
  readonly clock?: () => Date;
}

/** One REST call the fake answered, for tests that check what a client asked. */
export interface JiraCall {
  readonly method: string;
  /** Path and query string as sent. */
  readonly url: string;
  /** The authenticated user's email; absent when the call was not authenticated. */
  readonly user?: string;
  /** 0 when the connection was dropped (a `drop` fault). */
  readonly status: number;
}

/** A comment as a test reads it: the text of its ADF body, and its author. */
export interface JiraCommentView {
  readonly id: string;
  readonly author: string;
  readonly authorEmail: string;
  readonly text: string;
  readonly body: AdfNode;
  readonly created: string;
}

/** A status to answer instead of the real one, or `drop`: the connection is closed without an answer. */
export type JiraFault = number | 'drop';

export interface FakeJira {
  readonly url: string;
  readonly port: number;
  readonly site: JiraSite;
  /** The seed user with this email (or accountId); throws when there is none. */
  user(emailOrAccountId: string): JiraUser;
  /** `Basic <base64(email:apiToken)>` for a seed user, as a client sends it. */
  authorization(emailOrAccountId: string): string;
  /**
   * Shortcuts for tests, acting as a seed user (email or accountId) exactly as the REST call would: the same
   * changelog entry and the same webhooks. A refusal is thrown as the JiraApiError the API would answer.
   */
  createIssue(fields: Readonly<Record<string, unknown>>, by: string): { id: string; key: string };
  /** `transition` is a transition's id or name (names: see site.json). */
  transition(key: string, transition: string, by: string): void;
  edit(key: string, fields: Readonly<Record<string, unknown>>, by: string): void;
  /** The issue as GET /rest/api/3/issue/{key} answers it; undefined when there is none. */
  issue(key: string): Record<string, unknown> | undefined;
  /** Replaces the webhook targets (the broker's URL is known only once its edge listens). */
  setWebhooks(targets: readonly JiraWebhookTarget[]): void;
  /**
   * The next `count` REST calls (matching `match`, when given) are answered `fault` (503 by default) with
   * Jira's error body instead of being served; nothing changes. Later calls are served again.
   */
  failNext(count: number, fault?: JiraFault, match?: { method?: string; path?: RegExp }): void;
  /** Every webhook delivery so far, oldest first, with each attempt's answer. */
  deliveries(): WebhookDelivery[];
  /** The comments of an issue, oldest first. */
  comments(key: string): JiraCommentView[];
  /** The REST calls answered so far, oldest first. */
  calls(): JiraCall[];
  /** Resolves once every webhook delivery queued so far is delivered or given up. */
  idle(): Promise<void>;
  /** Forgets issues, comments, deliveries, calls and faults; keys start again at <KEY>-1. */
  reset(): void;
  close(): Promise<void>;
}

interface FaultRule {
  remaining: number;
  readonly fault: JiraFault;
  readonly method?: string | undefined;
  readonly path?: RegExp | undefined;
}

export async function startFakeJira(options: FakeJiraOptions = {}): Promise<FakeJira> {
  const host = options.host ?? '127.0.0.1';
  // Read first: a bad site file stops the fake before anything listens.
  const site = loadJiraSite(options.siteFile ?? DEFAULT_JIRA_SITE_FILE);
  const clock = options.clock ?? (() => new Date());
  const state = new JiraState(site, clock);
  const webhooks = new WebhookSender(options.webhooks ?? [], {
    retries: options.webhookRetry?.retries ?? 3,
    backoffMs: options.webhookRetry?.backoffMs ?? 200,
    timeoutMs: options.webhookRetry?.timeoutMs ?? 10_000,
  });
  const routeOptions = {
    changelogPageSize: Math.min(options.changelogPageSize ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE),
    commentWebhooks: options.commentWebhooks ?? false,
    clock,
  };
  const send = (events: readonly JiraEvent[]) => {
    for (const event of events) webhooks.send(event.webhookEvent, event.issueKey, event.payload);
  };

  let faults: FaultRule[] = [];
  const calls: JiraCall[] = [];

  const server = createServer();
  await listen(server, host, options.port ?? DEFAULT_JIRA_PORT);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host}:${port}`;

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void dispatch(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        sendJiraJson(res, 500, {
          errorMessages: [`The fake Jira failed: ${(error as Error).message}`],
          errors: {},
        });
      } else {
        res.destroy();
      }
    });
  });

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const method = req.method ?? 'GET';
    const parsed = new URL(rawUrl, url);
    let user: JiraUser | undefined;
    res.on('close', () =>
      calls.push({
        method,
        url: rawUrl,
        ...(user ? { user: user.emailAddress } : {}),
        status: res.writableFinished ? res.statusCode : 0,
      }),
    );

    const fault = takeFault(method, parsed.pathname);
    if (fault !== undefined) {
      await readBody(req, MAX_BODY_BYTES).catch(() => undefined);
      if (fault === 'drop') {
        res.destroy();
        return;
      }
      sendJiraJson(
        res,
        fault,
        { errorMessages: [faultMessage(fault)], errors: {} },
        {
          ...(fault === 429 || fault === 503 ? { 'retry-after': '1' } : {}),
        },
      );
      return;
    }

    let body: Buffer;
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        sendJiraJson(res, 413, { errorMessages: [error.message], errors: {} });
        return;
      }
      throw error;
    }
    const answered = handleJira(
      state,
      routeOptions,
      {
        method,
        path: parsed.pathname,
        query: parsed.searchParams,
        authorization: req.headers.authorization,
        body,
        base: `http://${req.headers.host ?? `${host}:${port}`}`,
      },
      res,
    );
    user = answered.user;
    // The answer is written; the webhooks go out afterwards, asynchronously, as Jira sends them.
    send(answered.events);
  }

  function takeFault(method: string, path: string): JiraFault | undefined {
    const rule = faults.find(
      (f) =>
        f.remaining > 0 &&
        (f.method === undefined || f.method.toUpperCase() === method.toUpperCase()) &&
        (f.path === undefined || f.path.test(path)),
    );
    if (!rule) return undefined;
    rule.remaining--;
    faults = faults.filter((f) => f.remaining > 0);
    return rule.fault;
  }

  function user(emailOrAccountId: string): JiraUser {
    const found = site.users.find(
      (u) =>
        u.accountId === emailOrAccountId || u.emailAddress.toLowerCase() === emailOrAccountId.toLowerCase(),
    );
    if (!found) throw new Error(`The fake Jira has no user ${emailOrAccountId} (site file ${site.origin})`);
    return found;
  }

  return {
    url,
    port,
    site,
    user,
    createIssue(fields, by) {
      const actor = user(by);
      const issue = state.create(actor, { fields });
      send([issueEvent(routeOptions, url, state, 'jira:issue_created', 'issue_created', actor, issue)]);
      return { id: issue.id, key: issue.key };
    },
    transition(key, transition, by) {
      const actor = user(by);
      const named = state.availableTransitions(state.requireIssue(key)).find((t) => t.name === transition);
      const { issue, history } = state.transition(actor, key, {
        transition: { id: named?.id ?? transition },
      });
      send([
        issueEvent(routeOptions, url, state, 'jira:issue_updated', 'issue_generic', actor, issue, history),
      ]);
    },
    edit(key, fields, by) {
      const actor = user(by);
      const { issue, history } = state.edit(actor, key, { fields });
      if (history) {
        send([
          issueEvent(routeOptions, url, state, 'jira:issue_updated', 'issue_updated', actor, issue, history),
        ]);
      }
    },
    issue(key) {
      const found = state.issue(key);
      return found ? issueJson(url, site, found) : undefined;
    },
    authorization(emailOrAccountId) {
      const u = user(emailOrAccountId);
      return `Basic ${Buffer.from(`${u.emailAddress}:${u.apiToken}`).toString('base64')}`;
    },
    setWebhooks(targets) {
      webhooks.setTargets(targets);
    },
    failNext(count, fault = 503, match = {}) {
      if (!Number.isInteger(count) || count < 1)
        throw new RangeError('failNext: count must be a whole number >= 1');
      faults.push({ remaining: count, fault, method: match.method, path: match.path });
    },
    deliveries: () => webhooks.deliveries(),
    comments(key) {
      return state.comments(key.toUpperCase()).map((c) => ({
        id: c.id,
        author: c.author.accountId,
        authorEmail: c.author.emailAddress,
        text: adfText(c.body) ?? '',
        body: c.body,
        created: c.created.toISOString(),
      }));
    },
    calls: () => [...calls],
    idle: () => webhooks.idle(),
    reset() {
      state.reset();
      webhooks.clear();
      calls.length = 0;
      faults = [];
    },
    async close() {
      await webhooks.close();
      await closeServer(server);
    },
  };
}

function faultMessage(status: number): string {
  if (status === 401) return 'Client must be authenticated to access this resource.';
  if (status === 403)
    return 'You do not have permission to perform this operation (fault injected by the fake Jira).';
  if (status === 429) return 'Rate limit exceeded (fault injected by the fake Jira).';
  return `Service unavailable (fault ${status} injected by the fake Jira).`;
}

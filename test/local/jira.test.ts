import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeJira, startFakeJira } from '../../infra/local/jira/server';
import { DEFAULT_JIRA_SITE_FILE, JiraSiteFileError, loadJiraSite } from '../../infra/local/jira/site';

const ALICE = '712020:4f1e6c55-0a57-4d7c-9c0a-a11ce0000001';
const CAROL = '712020:4f1e6c55-0a57-4d7c-9c0a-ca4010000003';
const SECRET = 'local-webhook-secret';
const NOT_FOUND = {
  errorMessages: ['Issue does not exist or you do not have permission to see it.'],
  errors: {},
};

/** A webhook receiver that keeps the exact bytes and headers of each request and answers the queued statuses. */
interface Receiver {
  readonly url: string;
  readonly received: { headers: IncomingHttpHeaders; body: Buffer }[];
  /** Statuses for the next requests, in order; 200 once they run out. */
  readonly answers: number[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const answers: number[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(answers.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/jira`,
    received,
    answers,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

let jira: FakeJira;
let receiver: Receiver;

/** A REST v3 call to the fake as `email`, with Jira's Basic auth. */
async function call(
  email: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown; text: string }> {
  const response = await fetch(`${jira.url}${path}`, {
    method,
    headers: {
      authorization: jira.authorization(email),
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}

const accessFields = {
  project: { key: 'ACCESS' },
  issuetype: { name: 'Access request' },
  summary: 'View demo for the release',
  customfield_10100: 'demo',
  customfield_10101: 'arn:aws:iam::111122223333:role/dev-alice',
  customfield_10102: 'AmazonEKSViewPolicy',
  customfield_10103: 'team-a',
  customfield_10104: 4,
};

async function createIssue(fields: Record<string, unknown> = accessFields): Promise<string> {
  const created = await call('alice@example.com', 'POST', '/rest/api/3/issue', { fields });
  expect(created.status).toBe(201);
  return (created.json as { key: string }).key;
}

async function transition(email: string, key: string, id: string): Promise<number> {
  return (await call(email, 'POST', `/rest/api/3/issue/${key}/transitions`, { transition: { id } })).status;
}

beforeAll(async () => {
  receiver = await startReceiver();
  jira = await startFakeJira({
    port: 0,
    webhooks: [{ url: receiver.url, secret: SECRET }],
    changelogPageSize: 2,
    webhookRetry: { retries: 2, backoffMs: 10 },
  });
});

afterEach(async () => {
  await jira.idle();
  jira.reset();
  jira.setWebhooks([{ url: receiver.url, secret: SECRET }]);
  receiver.received.length = 0;
  receiver.answers.length = 0;
});

afterAll(async () => {
  await jira.close();
  await receiver.close();
});

describe('authentication', () => {
  it('answers 401 in plain text to a call without credentials or with a wrong API token', async () => {
    const anonymous = await fetch(`${jira.url}/rest/api/3/myself`);
    const wrongToken = await fetch(`${jira.url}/rest/api/3/myself`, {
      headers: { authorization: `Basic ${Buffer.from('alice@example.com:nope').toString('base64')}` },
    });

    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toBe('Client must be authenticated to access this resource.');
    expect(wrongToken.status).toBe(401);
  });

  it('names the caller of GET /myself by the email and API token of the seed file', async () => {
    const site = JSON.parse(readFileSync(DEFAULT_JIRA_SITE_FILE, 'utf8')) as {
      users: { emailAddress: string; apiToken: string }[];
    };
    const alice = site.users.find((u) => u.emailAddress === 'alice@example.com');

    const response = await fetch(`${jira.url}/rest/api/3/myself`, {
      headers: {
        authorization: `Basic ${Buffer.from(`alice@example.com:${alice?.apiToken}`).toString('base64')}`,
      },
    });

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      accountId: ALICE,
      accountType: 'atlassian',
      emailAddress: 'alice@example.com',
      displayName: 'Alice Example',
      active: true,
    });
  });
});

describe('issues', () => {
  it('creates ACCESS-1 (201 with id, key and self) and answers it with its status, reporter and custom fields', async () => {
    const created = await call('alice@example.com', 'POST', '/rest/api/3/issue', { fields: accessFields });
    const read = await call('eks-access-broker@example.com', 'GET', '/rest/api/3/issue/ACCESS-1');

    expect(created.status).toBe(201);
    expect(created.json).toEqual({
      id: '10001',
      key: 'ACCESS-1',
      self: `${jira.url}/rest/api/3/issue/10001`,
    });
    expect(read.status).toBe(200);
    const issue = read.json as { id: string; key: string; fields: Record<string, unknown> };
    expect(issue.key).toBe('ACCESS-1');
    expect(issue.id).toBe('10001');
    expect(issue.fields).toMatchObject({
      summary: 'View demo for the release',
      status: { id: '10000', name: 'Open', statusCategory: { key: 'new' } },
      project: { id: '10000', key: 'ACCESS' },
      issuetype: { name: 'Access request' },
      reporter: { accountId: ALICE, displayName: 'Alice Example' },
      resolution: null,
      customfield_10100: 'demo',
      customfield_10101: 'arn:aws:iam::111122223333:role/dev-alice',
      customfield_10102: 'AmazonEKSViewPolicy',
      customfield_10103: 'team-a',
      customfield_10104: 4,
      customfield_10105: null,
    });
    expect(issue.fields.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
  });

  it('finds an issue by its id and by its key in lower case', async () => {
    const key = await createIssue();

    const byId = await call('bob@example.com', 'GET', '/rest/api/3/issue/10001?fields=summary,status');
    const lower = await call('bob@example.com', 'GET', `/rest/api/3/issue/${key.toLowerCase()}`);

    expect(byId.status).toBe(200);
    expect(Object.keys((byId.json as { fields: object }).fields)).toEqual(['summary', 'status']);
    expect((lower.json as { key: string }).key).toBe(key);
  });

  it('answers 404 with Jira error body for an issue that does not exist, on every issue route', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/rest/api/3/issue/ACCESS-99'],
      ['GET', '/rest/api/3/issue/ACCESS-99/changelog'],
      ['GET', '/rest/api/3/issue/ACCESS-99/transitions'],
      ['POST', '/rest/api/3/issue/ACCESS-99/transitions', { transition: { id: '11' } }],
      ['PUT', '/rest/api/3/issue/ACCESS-99', { fields: { summary: 'x' } }],
      ['POST', '/rest/api/3/issue/ACCESS-99/comment', { body: { type: 'doc', version: 1, content: [] } }],
    ];

    for (const [method, path, body] of routes) {
      const answer = await call('alice@example.com', method, path, body);
      expect({ method, path, status: answer.status, json: answer.json }).toEqual({
        method,
        path,
        status: 404,
        json: NOT_FOUND,
      });
    }
  });

  it('refuses a create with bad fields with 400 and one error per field', async () => {
    const noSummary = await call('alice@example.com', 'POST', '/rest/api/3/issue', {
      fields: { project: { key: 'ACCESS' }, issuetype: { name: 'Access request' } },
    });
    const badValues = await call('alice@example.com', 'POST', '/rest/api/3/issue', {
      fields: { ...accessFields, customfield_10104: 'four', customfield_10100: 7, customfield_99999: 'x' },
    });
    const badProject = await call('alice@example.com', 'POST', '/rest/api/3/issue', {
      fields: { ...accessFields, project: { key: 'NOPE' } },
    });

    expect(noSummary).toMatchObject({
      status: 400,
      json: { errorMessages: [], errors: { summary: 'You must specify a summary of the issue.' } },
    });
    expect(badValues).toMatchObject({
      status: 400,
      json: {
        errorMessages: [],
        errors: {
          customfield_10104: 'Operation value must be a number',
          customfield_10100: 'Operation value must be a string',
          customfield_99999:
            "Field 'customfield_99999' cannot be set. It is not on the appropriate screen, or unknown.",
        },
      },
    });
    expect(badProject).toMatchObject({
      status: 400,
      json: { errors: { project: 'valid project is required' } },
    });
    expect((await call('alice@example.com', 'GET', '/rest/api/3/issue/ACCESS-1')).status).toBe(404);
  });

  it('numbers issues per project: ACCESS-1, ACCESS-2, then OPS-1', async () => {
    const first = await createIssue();
    const second = await createIssue();
    const ops = await createIssue({
      project: { key: 'OPS' },
      issuetype: { name: 'Task' },
      summary: 'Rotate',
    });

    expect([first, second, ops]).toEqual(['ACCESS-1', 'ACCESS-2', 'OPS-1']);
  });

  it('edits fields with PUT (204), recording one changelog entry by the editor, and nothing when nothing changed', async () => {
    const key = await createIssue();

    const edited = await call('bob@example.com', 'PUT', `/rest/api/3/issue/${key}`, {
      fields: { customfield_10104: 8, summary: 'View demo, longer' },
    });
    const unchanged = await call('bob@example.com', 'PUT', `/rest/api/3/issue/${key}`, {
      fields: { customfield_10104: 8 },
    });
    const status = await call('bob@example.com', 'PUT', `/rest/api/3/issue/${key}`, {
      fields: { status: { name: 'Approved' } },
    });
    const changelog = await call('bob@example.com', 'GET', `/rest/api/3/issue/${key}/changelog`);

    expect(edited.status).toBe(204);
    expect(edited.text).toBe('');
    expect(unchanged.status).toBe(204);
    expect(status).toMatchObject({
      status: 400,
      json: {
        errors: { status: "Field 'status' cannot be set. It is not on the appropriate screen, or unknown." },
      },
    });
    const values = (changelog.json as { values: { author: { accountId: string }; items: unknown[] }[] })
      .values;
    expect(values).toHaveLength(1);
    expect(values[0]?.author.accountId).toBe('712020:4f1e6c55-0a57-4d7c-9c0a-b0b000000002');
    expect(values[0]?.items).toEqual([
      {
        field: 'Duration (hours)',
        fieldtype: 'custom',
        fieldId: 'customfield_10104',
        from: null,
        fromString: '4',
        to: null,
        toString: '8',
      },
      {
        field: 'summary',
        fieldtype: 'jira',
        fieldId: 'summary',
        from: null,
        fromString: 'View demo for the release',
        to: null,
        toString: 'View demo, longer',
      },
    ]);
  });
});

describe('workflow', () => {
  it('lists the transitions available from the current status', async () => {
    const key = await createIssue();

    const open = await call('carol@example.com', 'GET', `/rest/api/3/issue/${key}/transitions`);
    await transition('alice@example.com', key, '11');
    const waiting = await call('carol@example.com', 'GET', `/rest/api/3/issue/${key}/transitions`);

    const summary = (json: unknown) =>
      (json as { transitions: { id: string; name: string; to: { name: string } }[] }).transitions.map(
        (t) => `${t.id} ${t.name} -> ${t.to.name}`,
      );
    expect(summary(open.json)).toEqual([
      '11 Request approval -> Waiting for approval',
      '71 Cancel -> Cancelled',
    ]);
    expect(summary(waiting.json)).toEqual([
      '21 Approve -> Approved',
      '31 Decline -> Declined',
      '71 Cancel -> Cancelled',
    ]);
  });

  it('refuses a transition not available from the current status with 400, changing nothing', async () => {
    const key = await createIssue();

    const answer = await call('carol@example.com', 'POST', `/rest/api/3/issue/${key}/transitions`, {
      transition: { id: '21' },
    });
    const missing = await call('carol@example.com', 'POST', `/rest/api/3/issue/${key}/transitions`, {});

    expect(answer).toMatchObject({
      status: 400,
      json: { errorMessages: ["Transition id '21' is not valid for this issue."], errors: {} },
    });
    expect(missing.status).toBe(400);
    const issue = await call('carol@example.com', 'GET', `/rest/api/3/issue/${key}`);
    expect((issue.json as { fields: { status: { name: string } } }).fields.status.name).toBe('Open');
  });

  it('records each transition in the changelog with its author; a done status also sets the resolution', async () => {
    const key = await createIssue();

    expect(await transition('alice@example.com', key, '11')).toBe(204);
    expect(await transition('carol@example.com', key, '21')).toBe(204);
    expect(await transition('carol@example.com', key, '61')).toBe(204);
    const first = await call('eks-access-broker@example.com', 'GET', `/rest/api/3/issue/${key}/changelog`);
    const second = await call(
      'eks-access-broker@example.com',
      'GET',
      `/rest/api/3/issue/${key}/changelog?startAt=2&maxResults=2`,
    );
    const issue = await call('eks-access-broker@example.com', 'GET', `/rest/api/3/issue/${key}`);

    expect(first.json).toMatchObject({
      startAt: 0,
      maxResults: 2,
      total: 3,
      isLast: false,
      nextPage: `${jira.url}/rest/api/3/issue/${key}/changelog?maxResults=2&startAt=2`,
    });
    expect(second.json).toMatchObject({ startAt: 2, maxResults: 2, total: 3, isLast: true });
    const entries = [
      ...(first.json as { values: unknown[] }).values,
      ...(second.json as { values: unknown[] }).values,
    ] as { id: string; author: { accountId: string }; created: string; items: unknown[] }[];
    expect(entries.map((e) => e.id)).toEqual(['10001', '10002', '10003']);
    expect(entries.map((e) => e.author.accountId)).toEqual([ALICE, CAROL, CAROL]);
    expect(entries[1]?.items).toEqual([
      {
        field: 'status',
        fieldtype: 'jira',
        fieldId: 'status',
        from: '10001',
        fromString: 'Waiting for approval',
        to: '10002',
        toString: 'Approved',
      },
    ]);
    expect(entries[2]?.items).toEqual([
      {
        field: 'resolution',
        fieldtype: 'jira',
        fieldId: 'resolution',
        from: null,
        fromString: null,
        to: '10000',
        toString: 'Done',
      },
      {
        field: 'status',
        fieldtype: 'jira',
        fieldId: 'status',
        from: '10002',
        fromString: 'Approved',
        to: '10004',
        toString: 'Done',
      },
    ]);
    expect((issue.json as { fields: Record<string, unknown> }).fields).toMatchObject({
      status: { name: 'Done', statusCategory: { key: 'done' } },
      resolution: { id: '10000', name: 'Done' },
    });
  });

  it('caps a changelog page at the configured size whatever maxResults asks', async () => {
    const key = await createIssue();
    await transition('alice@example.com', key, '11');
    await transition('carol@example.com', key, '21');
    await transition('carol@example.com', key, '41');

    const page = await call('carol@example.com', 'GET', `/rest/api/3/issue/${key}/changelog?maxResults=100`);

    expect(page.json).toMatchObject({ startAt: 0, maxResults: 2, total: 3, isLast: false });
    expect((page.json as { values: unknown[] }).values).toHaveLength(2);
  });
});

describe('comments', () => {
  it('keeps an ADF comment (201) and lists it; refuses a plain-string body with 400', async () => {
    const key = await createIssue();
    const body = {
      type: 'doc',
      version: 1,
      content: [{ type: 'paragraph', content: [{ type: 'text', text: 'Access granted.' }] }],
    };

    const posted = await call('eks-access-broker@example.com', 'POST', `/rest/api/3/issue/${key}/comment`, {
      body,
    });
    const plain = await call('eks-access-broker@example.com', 'POST', `/rest/api/3/issue/${key}/comment`, {
      body: 'Access granted.',
    });
    const listed = await call('alice@example.com', 'GET', `/rest/api/3/issue/${key}/comment`);

    expect(posted.status).toBe(201);
    expect(posted.json).toMatchObject({
      id: '10001',
      body,
      author: { emailAddress: 'eks-access-broker@example.com' },
    });
    expect(plain.status).toBe(400);
    expect((plain.json as { errors: { comment: string } }).errors.comment).toMatch(
      /^Operation value must be an Atlassian Document/,
    );
    expect(listed.json).toMatchObject({ startAt: 0, total: 1, comments: [{ id: '10001', body }] });
    expect(jira.comments(key)).toEqual([
      expect.objectContaining({
        id: '10001',
        author: '712020:4f1e6c55-0a57-4d7c-9c0a-b40ce4000005',
        authorEmail: 'eks-access-broker@example.com',
        text: 'Access granted.',
        body,
      }),
    ]);
  });

  it('refuses an ADF text node without text', async () => {
    const key = await createIssue();

    const answer = await call('eks-access-broker@example.com', 'POST', `/rest/api/3/issue/${key}/comment`, {
      body: {
        type: 'doc',
        version: 1,
        content: [{ type: 'paragraph', content: [{ type: 'text', text: '' }] }],
      },
    });

    expect(answer.status).toBe(400);
    expect(jira.comments(key)).toEqual([]);
  });
});

describe('browse page', () => {
  it('shows an issue as plain text without credentials: status, fields, history and comments', async () => {
    const key = await createIssue();
    await transition('alice@example.com', key, '11');
    await call('eks-access-broker@example.com', 'POST', `/rest/api/3/issue/${key}/comment`, {
      body: {
        type: 'doc',
        version: 1,
        content: [{ type: 'paragraph', content: [{ type: 'text', text: 'Waiting for an approver.' }] }],
      },
    });

    const page = await fetch(`${jira.url}/browse/${key}`);
    const missing = await fetch(`${jira.url}/browse/ACCESS-99`);

    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain(`${key}  View demo for the release\nStatus:   Waiting for approval\n`);
    expect(text).toContain('Cluster: demo\n');
    expect(text).toContain('Alice Example: status Open -> Waiting for approval\n');
    expect(text).toContain('EKS Access Broker:\n    Waiting for an approver.\n');
    expect(missing.status).toBe(404);
  });
});

describe('users and groups', () => {
  it('lists the groups of an account; an unknown account is 404', async () => {
    const carol = await call(
      'eks-access-broker@example.com',
      'GET',
      `/rest/api/3/user/groups?accountId=${CAROL}`,
    );
    const dave = await call(
      'eks-access-broker@example.com',
      'GET',
      '/rest/api/3/user/groups?accountId=712020:4f1e6c55-0a57-4d7c-9c0a-da4e00000004',
    );
    const unknown = await call(
      'eks-access-broker@example.com',
      'GET',
      '/rest/api/3/user/groups?accountId=nobody',
    );
    const user = await call('eks-access-broker@example.com', 'GET', `/rest/api/3/user?accountId=${CAROL}`);

    const names = (json: unknown) => (json as { name: string; groupId: string }[]).map((g) => g.name);
    expect(names(carol.json)).toEqual(['jira-servicemanagement-users', 'eks-access-approvers']);
    expect((carol.json as { groupId: string }[])[1]?.groupId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-/,
    );
    expect(names(dave.json)).toEqual(['jira-servicemanagement-users']);
    expect(unknown.status).toBe(404);
    expect(user.json).toMatchObject({ accountId: CAROL, displayName: 'Carol Approver' });
  });
});

describe('webhooks', () => {
  it('sends a signed jira:issue_updated for a transition, after answering, with the changelog entry of that change', async () => {
    const key = await createIssue();
    await jira.idle();
    receiver.received.length = 0;

    await transition('alice@example.com', key, '11');
    await transition('carol@example.com', key, '21');
    await jira.idle();

    expect(receiver.received).toHaveLength(2);
    const approval = receiver.received[1];
    const raw = approval?.body ?? Buffer.alloc(0);
    const expected = `sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`;
    expect(approval?.headers['x-hub-signature']).toBe(expected);
    expect(approval?.headers['x-atlassian-webhook-identifier']).toMatch(/^[0-9a-f-]{36}$/);
    expect(approval?.headers['x-atlassian-webhook-retry']).toBeUndefined();
    expect(approval?.headers['content-type']).toBe('application/json; charset=utf-8');
    const payload = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    expect(payload).toMatchObject({
      webhookEvent: 'jira:issue_updated',
      issue_event_type_name: 'issue_generic',
      user: { accountId: CAROL, displayName: 'Carol Approver' },
      issue: { key, fields: { status: { name: 'Approved' }, project: { key: 'ACCESS' } } },
      changelog: {
        id: '10002',
        items: [
          {
            field: 'status',
            fieldtype: 'jira',
            fieldId: 'status',
            from: '10001',
            fromString: 'Waiting for approval',
            to: '10002',
            toString: 'Approved',
          },
        ],
      },
    });
    expect(typeof payload.timestamp).toBe('number');
    expect((payload.user as Record<string, unknown>).emailAddress).toBeUndefined();
    const changelog = await call(
      'eks-access-broker@example.com',
      'GET',
      `/rest/api/3/issue/${key}/changelog`,
    );
    expect((changelog.json as { values: { id: string }[] }).values.map((v) => v.id)).toEqual([
      '10001',
      '10002',
    ]);
  });

  it('sends jira:issue_created without a changelog, and jira:issue_updated (issue_updated) for an edit', async () => {
    const key = await createIssue();
    await jira.idle();
    await call('alice@example.com', 'PUT', `/rest/api/3/issue/${key}`, { fields: { customfield_10104: 2 } });
    await jira.idle();

    const payloads = receiver.received.map(
      (r) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>,
    );
    expect(payloads.map((p) => [p.webhookEvent, p.issue_event_type_name])).toEqual([
      ['jira:issue_created', 'issue_created'],
      ['jira:issue_updated', 'issue_updated'],
    ]);
    expect(payloads[0]?.changelog).toBeUndefined();
    expect(payloads[1]?.changelog).toMatchObject({
      items: [{ fieldId: 'customfield_10104', toString: '2' }],
    });
    expect(jira.deliveries().map((d) => [d.webhookEvent, d.issueKey, d.state])).toEqual([
      ['jira:issue_created', key, 'delivered'],
      ['jira:issue_updated', key, 'delivered'],
    ]);
  });

  it('retries on 5xx and 429 with the same identifier and X-Atlassian-Webhook-Retry, until answered 2xx', async () => {
    receiver.answers.push(503, 429);

    const key = await createIssue();
    await jira.idle();

    expect(receiver.received).toHaveLength(3);
    const ids = new Set(receiver.received.map((r) => r.headers['x-atlassian-webhook-identifier']));
    expect(ids.size).toBe(1);
    expect(receiver.received.map((r) => r.headers['x-atlassian-webhook-retry'])).toEqual([
      undefined,
      '1',
      '2',
    ]);
    expect(new Set(receiver.received.map((r) => r.body.toString('utf8'))).size).toBe(1);
    const [delivery] = jira.deliveries();
    expect(delivery).toMatchObject({ issueKey: key, state: 'delivered' });
    expect(delivery?.attempts).toEqual([
      { retry: 0, status: 503 },
      { retry: 1, status: 429 },
      { retry: 2, status: 200 },
    ]);
  });

  it('gives up after the configured retries, and does not retry an answer such as 401', async () => {
    receiver.answers.push(500, 500, 500, 401);

    await createIssue();
    await jira.idle();
    await createIssue();
    await jira.idle();

    expect(jira.deliveries().map((d) => [d.state, d.attempts.map((a) => a.status)])).toEqual([
      ['failed', [500, 500, 500]],
      ['failed', [401]],
    ]);
  });

  it('retries when nobody listens, recording why', async () => {
    const gone = await startReceiver();
    await gone.close();
    jira.setWebhooks([{ url: gone.url, secret: SECRET }]);

    await createIssue();
    await jira.idle();

    const [delivery] = jira.deliveries();
    expect(delivery?.state).toBe('failed');
    expect(delivery?.attempts).toHaveLength(3);
    expect(delivery?.attempts.every((a) => a.status === undefined && typeof a.error === 'string')).toBe(true);
  });

  it('sends an unsigned webhook when the target has no secret, and one delivery per target', async () => {
    const other = await startReceiver();
    jira.setWebhooks([{ url: receiver.url, secret: SECRET }, { url: other.url }]);

    await createIssue();
    await jira.idle();
    await other.close();

    expect(receiver.received[0]?.headers['x-hub-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(other.received).toHaveLength(1);
    expect(other.received[0]?.headers['x-hub-signature']).toBeUndefined();
    expect(other.received[0]?.headers['x-atlassian-webhook-identifier']).not.toBe(
      receiver.received[0]?.headers['x-atlassian-webhook-identifier'],
    );
  });
});

describe('test shortcuts', () => {
  it('create, edit and transition as a seed user, with the same changelog and webhooks as the REST calls', async () => {
    const { key } = jira.createIssue(accessFields, 'alice@example.com');
    jira.edit(key, { customfield_10105: 2 }, 'alice@example.com');
    jira.transition(key, 'Request approval', 'alice@example.com');
    jira.transition(key, '21', CAROL);
    await jira.idle();

    const changelog = await call(
      'eks-access-broker@example.com',
      'GET',
      `/rest/api/3/issue/${key}/changelog`,
    );
    const values = (changelog.json as { values: { author: { accountId: string } }[] }).values;
    expect(values.map((v) => v.author.accountId)).toEqual([ALICE, ALICE]);
    expect(jira.issue(key)).toMatchObject({
      key,
      fields: { status: { name: 'Approved' }, customfield_10105: 2 },
    });
    expect(jira.issue('ACCESS-99')).toBeUndefined();
    const events = receiver.received.map(
      (r) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>,
    );
    expect(events.map((e) => [e.webhookEvent, e.issue_event_type_name])).toEqual([
      ['jira:issue_created', 'issue_created'],
      ['jira:issue_updated', 'issue_updated'],
      ['jira:issue_updated', 'issue_generic'],
      ['jira:issue_updated', 'issue_generic'],
    ]);
    expect(events[3]).toMatchObject({ user: { accountId: CAROL }, changelog: { id: '10003' } });
  });

  it('throws the error the API would answer for a transition not available', () => {
    const { key } = jira.createIssue(accessFields, 'alice@example.com');

    expect(() => jira.transition(key, 'Approve', CAROL)).toThrow(
      "Transition id 'Approve' is not valid for this issue.",
    );
  });
});

describe('closing', () => {
  it('gives up a delivery the receiver never answers instead of waiting for its timeout', async () => {
    const hanging = createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const port = (hanging.address() as AddressInfo).port;
    const other = await startFakeJira({
      port: 0,
      webhooks: [{ url: `http://127.0.0.1:${port}/`, secret: SECRET }],
    });
    const created = await fetch(`${other.url}/rest/api/3/issue`, {
      method: 'POST',
      headers: {
        authorization: other.authorization('alice@example.com'),
        'content-type': 'application/json',
      },
      body: JSON.stringify({ fields: accessFields }),
    });

    await new Promise((resolve) => setTimeout(resolve, 50));
    const pending = other.deliveries();
    const started = performance.now();
    await other.close();
    const elapsed = performance.now() - started;
    hanging.closeAllConnections();
    await new Promise<void>((resolve) => hanging.close(() => resolve()));

    expect(created.status).toBe(201);
    expect(pending.map((d) => d.state)).toEqual(['pending']);
    expect(other.deliveries().map((d) => d.state)).toEqual(['failed']);
    expect(elapsed).toBeLessThan(2000);
  });
});

describe('fault injection', () => {
  it('answers the next calls with the injected status and Jira error body, then serves again', async () => {
    const key = await createIssue();
    jira.failNext(2, 503);

    const first = await call('alice@example.com', 'GET', `/rest/api/3/issue/${key}`);
    const second = await call('alice@example.com', 'GET', `/rest/api/3/issue/${key}`);
    const third = await call('alice@example.com', 'GET', `/rest/api/3/issue/${key}`);

    expect(first.status).toBe(503);
    expect((first.json as { errorMessages: string[] }).errorMessages).toHaveLength(1);
    expect(second.status).toBe(503);
    expect(third.status).toBe(200);
  });

  it('fails only the calls that match, and changes nothing when it fails a write', async () => {
    const key = await createIssue();
    jira.failNext(1, 500, { method: 'POST', path: /\/transitions$/ });

    const read = await call('carol@example.com', 'GET', `/rest/api/3/issue/${key}/transitions`);
    const write = await call('carol@example.com', 'POST', `/rest/api/3/issue/${key}/transitions`, {
      transition: { id: '11' },
    });
    const changelog = await call('carol@example.com', 'GET', `/rest/api/3/issue/${key}/changelog`);

    expect([read.status, write.status]).toEqual([200, 500]);
    expect((changelog.json as { total: number }).total).toBe(0);
  });

  it('drops the connection for a drop fault', async () => {
    jira.failNext(1, 'drop');

    const answer = fetch(`${jira.url}/rest/api/3/myself`, {
      headers: { authorization: jira.authorization('alice@example.com') },
    });

    await expect(answer).rejects.toThrow(TypeError);
    expect(jira.calls().at(-1)).toMatchObject({ method: 'GET', url: '/rest/api/3/myself', status: 0 });
  });
});

describe('site file', () => {
  it('refuses a site file whose transition names an undeclared status', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fake-jira-site-'));
    const site = JSON.parse(readFileSync(DEFAULT_JIRA_SITE_FILE, 'utf8')) as {
      transitions: { to: string }[];
    };
    (site.transitions[0] as { to: string }).to = 'Nowhere';
    const file = join(dir, 'site.json');
    writeFileSync(file, JSON.stringify(site));

    try {
      expect(() => loadJiraSite(file)).toThrow(JiraSiteFileError);
      expect(() => loadJiraSite(file)).toThrow(/transition 11 names status Nowhere, which is not declared/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('seeds alice with the account id the example access rules name as owner of role/dev-alice', () => {
    const site = loadJiraSite();

    expect(site.users.find((u) => u.emailAddress === 'alice@example.com')?.accountId).toBe(ALICE);
    expect(site.users.find((u) => u.emailAddress === 'carol@example.com')?.groups).toContain(
      'eks-access-approvers',
    );
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JiraCloudApi, toAdf } from '../../functions/adapters/jira-api';
import { PermanentError, RetryableError } from '../../functions/core/errors';
import { type FakeJira, startFakeJira } from '../../infra/local/jira/server';
import { caught } from '../support/aws';

const ALICE = '712020:4f1e6c55-0a57-4d7c-9c0a-a11ce0000001';
const CAROL = '712020:4f1e6c55-0a57-4d7c-9c0a-ca4010000003';
const DAVE = '712020:4f1e6c55-0a57-4d7c-9c0a-da4e00000004';
const BROKER = 'eks-access-broker@example.com';

let jira: FakeJira;

beforeAll(async () => {
  // Two changelog entries a page, so any issue with three or more changes is read in several pages.
  jira = await startFakeJira({ port: 0, changelogPageSize: 2 });
});

afterEach(() => {
  jira.reset();
});

afterAll(async () => {
  await jira.close();
});

function brokerApi(token = jira.user(BROKER).apiToken): JiraCloudApi {
  return new JiraCloudApi({ baseUrl: `${jira.url}/`, user: BROKER, token: async () => token });
}

/** Does what a person does in Jira: a REST call as a seed user of the fake. */
async function act(email: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${jira.url}${path}`, {
    method,
    headers: { authorization: jira.authorization(email), 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok)
    throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`);
  const text = await response.text();
  return text === '' ? undefined : JSON.parse(text);
}

async function createIssue(): Promise<string> {
  const created = (await act('alice@example.com', 'POST', '/rest/api/3/issue', {
    fields: {
      project: { key: 'ACCESS' },
      issuetype: { name: 'Access request' },
      summary: 'Edit team-a on demo',
      customfield_10100: 'demo',
      customfield_10101: 'arn:aws:iam::111122223333:role/dev-alice',
      customfield_10102: 'AmazonEKSEditPolicy',
      customfield_10103: 'team-a',
      customfield_10104: 2,
    },
  })) as { key: string };
  return created.key;
}

const transition = (email: string, key: string, id: string) =>
  act(email, 'POST', `/rest/api/3/issue/${key}/transitions`, { transition: { id } });

describe('issue', () => {
  it('reads an issue back as a JiraIssue: key, project, status, reporter, summary, browse URL and fields', async () => {
    const key = await createIssue();
    await transition('alice@example.com', key, '11');

    const issue = await brokerApi().issue(key);

    expect(issue).toEqual({
      key: 'ACCESS-1',
      projectKey: 'ACCESS',
      status: 'Waiting for approval',
      reporter: ALICE,
      summary: 'Edit team-a on demo',
      url: `${jira.url}/browse/ACCESS-1`,
      fields: expect.objectContaining({
        customfield_10100: 'demo',
        customfield_10101: 'arn:aws:iam::111122223333:role/dev-alice',
        customfield_10102: 'AmazonEKSEditPolicy',
        customfield_10103: 'team-a',
        customfield_10104: 2,
        customfield_10105: null,
      }),
    });
    expect(jira.calls().at(-1)).toEqual({
      method: 'GET',
      url: '/rest/api/3/issue/ACCESS-1',
      user: BROKER,
      status: 200,
    });
  });

  it('answers undefined for an issue Jira does not have (404)', async () => {
    const issue = await brokerApi().issue('ACCESS-404');

    expect(issue).toBeUndefined();
  });
});

describe('changelog', () => {
  it('reads every page of the changelog (isLast), oldest first, with authors and ISO times', async () => {
    const key = await createIssue();
    await transition('alice@example.com', key, '11');
    await transition('carol@example.com', key, '21');
    await transition('carol@example.com', key, '41');
    await transition('dave@example.com', key, '51');
    await transition('carol@example.com', key, '61');

    const changes = await brokerApi().changelog(key);

    expect(changes.map((c) => [c.id, c.author, c.items.find((i) => i.field === 'status')?.toString])).toEqual(
      [
        ['10001', ALICE, 'Waiting for approval'],
        ['10002', CAROL, 'Approved'],
        ['10003', CAROL, 'Extension Approved'],
        ['10004', DAVE, 'Approved'],
        ['10005', CAROL, 'Done'],
      ],
    );
    expect(changes[1]).toEqual({
      id: '10002',
      author: CAROL,
      authorName: 'Carol Approver',
      created: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      items: [
        {
          field: 'status',
          from: '10001',
          fromString: 'Waiting for approval',
          to: '10002',
          toString: 'Approved',
        },
      ],
    });
    const pages = jira.calls().filter((c) => c.url.includes('/changelog'));
    expect(pages.map((c) => c.url)).toEqual([
      `/rest/api/3/issue/${key}/changelog?startAt=0&maxResults=100`,
      `/rest/api/3/issue/${key}/changelog?startAt=2&maxResults=100`,
      `/rest/api/3/issue/${key}/changelog?startAt=4&maxResults=100`,
    ]);
  });

  it('sorts the entries oldest first when a site answers them in another order', async () => {
    const page = {
      startAt: 0,
      maxResults: 100,
      total: 2,
      isLast: true,
      values: [
        { id: '20', author: { accountId: CAROL }, created: '2024-05-02T10:00:00.000+0000', items: [] },
        { id: '10', author: { accountId: ALICE }, created: '2024-05-02T09:00:00.000+0200', items: [] },
      ],
    };
    const api = new JiraCloudApi({
      baseUrl: 'https://example.atlassian.net',
      user: BROKER,
      token: async () => 'token',
      fetcher: async () => new Response(JSON.stringify(page), { status: 200 }),
    });

    const changes = await api.changelog('ACCESS-1');

    expect(changes.map((c) => [c.id, c.created])).toEqual([
      ['10', '2024-05-02T07:00:00.000Z'],
      ['20', '2024-05-02T10:00:00.000Z'],
    ]);
  });

  it('names a custom field by its id, so a custom field called "status" never passes for the status', async () => {
    const key = await createIssue();
    await act('bob@example.com', 'PUT', `/rest/api/3/issue/${key}`, { fields: { customfield_10104: 8 } });
    const forged = {
      isLast: true,
      values: [
        {
          id: '1',
          author: { accountId: DAVE },
          created: '2024-05-02T10:00:00.000+0000',
          items: [
            { field: 'status', fieldtype: 'custom', fieldId: 'customfield_10999', toString: 'Approved' },
            { field: 'status', fieldtype: 'custom', toString: 'Approved' },
          ],
        },
      ],
    };
    const stub = new JiraCloudApi({
      baseUrl: 'https://example.atlassian.net',
      user: BROKER,
      token: async () => 'token',
      fetcher: async () => new Response(JSON.stringify(forged), { status: 200 }),
    });

    const edited = await brokerApi().changelog(key);
    const stubbed = await stub.changelog('ACCESS-1');

    expect(edited[0]?.items).toEqual([
      { field: 'customfield_10104', from: null, fromString: '2', to: null, toString: '8' },
    ]);
    expect(stubbed[0]?.items.map((i) => i.field)).toEqual(['customfield_10999', 'custom:status']);
  });

  it('answers an empty changelog for an issue without changes, and for one Jira does not have', async () => {
    const key = await createIssue();

    expect(await brokerApi().changelog(key)).toEqual([]);
    expect(await brokerApi().changelog('ACCESS-404')).toEqual([]);
  });
});

describe('groupsOf', () => {
  it('names the groups of an account, and none for an account Jira does not know', async () => {
    const api = brokerApi();

    expect(await api.groupsOf(CAROL)).toEqual(['jira-servicemanagement-users', 'eks-access-approvers']);
    expect(await api.groupsOf(DAVE)).toEqual(['jira-servicemanagement-users']);
    expect(await api.groupsOf('712020:00000000-0000-0000-0000-000000000000')).toEqual([]);
  });
});

describe('comment', () => {
  it('posts the text as ADF paragraphs, single newlines as hard breaks, as the broker account', async () => {
    const key = await createIssue();
    const text =
      'Access granted to arn:aws:iam::111122223333:role/dev-alice.\n\nScope: team-a\nExpires: 12:00 UTC';

    await brokerApi().comment(key, text);

    const [comment] = jira.comments(key);
    expect(comment?.authorEmail).toBe(BROKER);
    expect(comment?.text).toBe(text);
    expect(comment?.body).toEqual({
      type: 'doc',
      version: 1,
      content: [
        {
          type: 'paragraph',
          content: [{ type: 'text', text: 'Access granted to arn:aws:iam::111122223333:role/dev-alice.' }],
        },
        {
          type: 'paragraph',
          content: [
            { type: 'text', text: 'Scope: team-a' },
            { type: 'hardBreak' },
            { type: 'text', text: 'Expires: 12:00 UTC' },
          ],
        },
      ],
    });
  });

  it('leaves out empty lines and blocks, which ADF refuses as empty text nodes', () => {
    const doc = toAdf('\r\nFirst\r\n\r\n\r\n  \n\nSecond\n\n');

    expect(doc.content).toEqual([
      { type: 'paragraph', content: [{ type: 'text', text: 'First' }] },
      { type: 'paragraph', content: [{ type: 'text', text: 'Second' }] },
    ]);
  });

  it('is a PermanentError naming the issue when Jira does not have it', async () => {
    const error = await caught(() => brokerApi().comment('ACCESS-404', 'Access granted.'));

    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toContain(
      'Jira issue ACCESS-404 does not exist or eks-access-broker@example.com',
    );
  });
});

describe('errors', () => {
  it('is a RetryableError when Jira answers 503, and reads again once it serves', async () => {
    const key = await createIssue();
    jira.failNext(1, 503);
    const api = brokerApi();

    const error = await caught(() => api.issue(key));
    const again = await api.issue(key);

    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toMatch(/^Jira GET \/rest\/api\/3\/issue\/ACCESS-1 answered 503: /);
    expect(again?.key).toBe(key);
  });

  it('is a RetryableError when Jira drops the connection, and when a changelog page in the middle fails', async () => {
    const key = await createIssue();
    await transition('alice@example.com', key, '11');
    await transition('carol@example.com', key, '21');
    await transition('carol@example.com', key, '61');
    const api = brokerApi();

    jira.failNext(1, 'drop');
    const dropped = await caught(() => api.groupsOf(CAROL));
    jira.failNext(1, 429, { path: /\/changelog$/ });
    jira.failNext(1, 502, { path: /\/changelog$/ });
    const firstPage = await caught(() => api.changelog(key));
    const secondPage = await caught(() => api.changelog(key));

    expect(dropped).toBeInstanceOf(RetryableError);
    expect(firstPage).toBeInstanceOf(RetryableError);
    expect(secondPage).toBeInstanceOf(RetryableError);
    expect((await api.changelog(key)).map((c) => c.id)).toEqual(['10001', '10002', '10003']);
  });

  it('is a PermanentError naming the API token when Jira answers 401', async () => {
    const error = await caught(() => brokerApi('revoked-token').issue('ACCESS-1'));

    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toContain('answered 401: Client must be authenticated');
    expect((error as Error).message).toContain(
      'Jira did not accept the API token of eks-access-broker@example.com',
    );
  });

  it("is a PermanentError naming the account's permissions when Jira answers 403", async () => {
    jira.failNext(1, 403);

    const error = await caught(() => brokerApi().groupsOf(CAROL));

    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toContain('Jira refused eks-access-broker@example.com this operation');
    expect((error as Error).message).toContain('Browse users and groups');
  });

  it('reads the token for each call, so a rotated token is used once the secret changes', async () => {
    const key = await createIssue();
    const tokens = ['stale-token', jira.user(BROKER).apiToken];
    const api = new JiraCloudApi({
      baseUrl: jira.url,
      user: BROKER,
      token: async () => tokens.shift() ?? '',
    });

    const first = await caught(() => api.issue(key));
    const second = await api.issue(key);

    expect(first).toBeInstanceOf(PermanentError);
    expect(second?.key).toBe(key);
  });
});

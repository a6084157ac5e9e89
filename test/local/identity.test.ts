import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { EKSClient, ListClustersCommand } from '@aws-sdk/client-eks';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sha256 } from '../../infra/local/auth/sigv4';
import { type Edge, startEdge } from '../../infra/local/edge';
import { IdentitiesFileError, loadIdentities } from '../../infra/local/identities';
import { caught } from '../support/aws';
import { presignedFetch, signedFetch } from './signed-fetch';

const ACCOUNT = '111122223333';
const QUEUE = 'identity-test-queue';
const STS_FORM = 'Action=GetCallerIdentity&Version=2011-06-15';
const FORM = 'application/x-www-form-urlencoded; charset=utf-8';
const UNKNOWN = { accessKeyId: 'nobody', secretAccessKey: 'nobody' };
const WRONG_SECRET = { accessKeyId: 'test', secretAccessKey: 'not-the-secret' };
const TEN_MINUTES_AGO = () => new Date(Date.now() - 10 * 60 * 1000);

let edge: Edge;

beforeAll(async () => {
  edge = await startEdge({ port: 0, sqs: { queues: [{ name: QUEUE }] } });
});

afterAll(async () => {
  await edge.close();
});

/** One raw request per protocol, as its SDK would send it (the signature is added by the helpers). */
const PROTOCOLS = {
  eks: { service: 'eks', path: '/clusters', method: 'GET' },
  events: {
    service: 'events',
    path: '/',
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' },
    body: '{"Entries":[]}',
  },
  dynamodb: {
    service: 'dynamodb',
    path: '/',
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' },
    body: '{}',
  },
  sqs: {
    service: 'sqs',
    path: '/',
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.ListQueues' },
    body: '{}',
  },
  sts: { service: 'sts', path: '/', method: 'POST', headers: { 'content-type': FORM }, body: STS_FORM },
  iam: {
    service: 'iam',
    path: '/',
    method: 'POST',
    headers: { 'content-type': FORM },
    body: 'Action=GetRole&RoleName=dev-bob&Version=2010-05-08',
  },
} as const;

type Protocol = keyof typeof PROTOCOLS;
type Kind = 'unsigned' | 'unknown key' | 'wrong signature' | 'expired presigned';

async function send(protocol: Protocol, kind: Kind): Promise<Response> {
  const p = PROTOCOLS[protocol];
  const headers = 'headers' in p ? { ...p.headers } : {};
  const body = 'body' in p ? p.body : undefined;
  const url = `${edge.url}${p.path}`;
  const common = { service: p.service, method: p.method, headers, ...(body === undefined ? {} : { body }) };
  switch (kind) {
    case 'unsigned':
      return fetch(url, { method: p.method, headers, ...(body === undefined ? {} : { body }) });
    case 'unknown key':
      return signedFetch(url, { ...common, credentials: UNKNOWN });
    case 'wrong signature':
      return signedFetch(url, { ...common, credentials: WRONG_SECRET });
    case 'expired presigned':
      return presignedFetch(url, { ...common, signingDate: TEN_MINUTES_AGO(), expiresIn: 60 });
  }
}

/** The error code as the protocol carries it: the JSON type header, SQS's query code header, or the XML Code. */
async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const text = await res.text();
  const queryError = res.headers.get('x-amzn-query-error');
  if (text.startsWith('<')) {
    return {
      status: res.status,
      code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? '',
      message: /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? '',
    };
  }
  const body = JSON.parse(text) as { message?: string; __type?: string };
  return {
    status: res.status,
    code: queryError ? (queryError.split(';')[0] ?? '') : (res.headers.get('x-amzn-errortype') ?? ''),
    message: body.message ?? '',
  };
}

const MISMATCH = /^The request signature we calculated does not match the signature you provided\./;
const INVALID_TOKEN = /^The security token included in the request is invalid\.$/;
const EXPIRED = /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z/;

describe('the edge refuses what AWS refuses, in each protocol', () => {
  it.each([
    ['eks', 'unsigned', 403, 'MissingAuthenticationTokenException', /^Missing Authentication Token$/],
    ['eks', 'unknown key', 403, 'UnrecognizedClientException', INVALID_TOKEN],
    ['eks', 'wrong signature', 403, 'InvalidSignatureException', MISMATCH],
    ['eks', 'expired presigned', 403, 'InvalidSignatureException', EXPIRED],
    [
      'events',
      'unsigned',
      400,
      'MissingAuthenticationTokenException',
      /^Request is missing Authentication Token$/,
    ],
    ['events', 'unknown key', 400, 'UnrecognizedClientException', INVALID_TOKEN],
    ['events', 'wrong signature', 400, 'InvalidSignatureException', MISMATCH],
    ['events', 'expired presigned', 400, 'InvalidSignatureException', EXPIRED],
    [
      'dynamodb',
      'unsigned',
      400,
      'MissingAuthenticationTokenException',
      /^Request is missing Authentication Token$/,
    ],
    ['dynamodb', 'unknown key', 400, 'UnrecognizedClientException', INVALID_TOKEN],
    ['dynamodb', 'wrong signature', 400, 'InvalidSignatureException', MISMATCH],
    ['dynamodb', 'expired presigned', 400, 'InvalidSignatureException', EXPIRED],
    ['sqs', 'unsigned', 403, 'MissingAuthenticationToken', /^Request is missing Authentication Token$/],
    ['sqs', 'unknown key', 403, 'InvalidClientTokenId', INVALID_TOKEN],
    ['sqs', 'wrong signature', 403, 'SignatureDoesNotMatch', MISMATCH],
    ['sqs', 'expired presigned', 403, 'SignatureDoesNotMatch', EXPIRED],
    ['sts', 'unsigned', 403, 'MissingAuthenticationToken', /^Request is missing Authentication Token$/],
    ['sts', 'unknown key', 403, 'InvalidClientTokenId', INVALID_TOKEN],
    ['sts', 'wrong signature', 403, 'SignatureDoesNotMatch', MISMATCH],
    ['sts', 'expired presigned', 403, 'SignatureDoesNotMatch', EXPIRED],
    ['iam', 'unsigned', 403, 'MissingAuthenticationToken', /^Request is missing Authentication Token$/],
    ['iam', 'unknown key', 403, 'InvalidClientTokenId', INVALID_TOKEN],
    ['iam', 'wrong signature', 403, 'SignatureDoesNotMatch', MISMATCH],
    ['iam', 'expired presigned', 403, 'SignatureDoesNotMatch', EXPIRED],
  ] as const)('%s, %s: %i %s', async (protocol, kind, status, code, message) => {
    // Act
    const error = await errorOf(await send(protocol, kind));

    // Assert
    expect(error.status).toBe(status);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });

  it.each([
    ['eks', UNKNOWN, 'UnrecognizedClientException', 403],
    ['eks', WRONG_SECRET, 'InvalidSignatureException', 403],
    ['events', UNKNOWN, 'UnrecognizedClientException', 400],
    ['events', WRONG_SECRET, 'InvalidSignatureException', 400],
    ['dynamodb', UNKNOWN, 'UnrecognizedClientException', 400],
    ['dynamodb', WRONG_SECRET, 'InvalidSignatureException', 400],
    ['sqs', UNKNOWN, 'InvalidClientTokenId', 403],
    ['sqs', WRONG_SECRET, 'SignatureDoesNotMatch', 403],
    ['sts', UNKNOWN, 'InvalidClientTokenId', 403],
    ['sts', WRONG_SECRET, 'SignatureDoesNotMatch', 403],
    ['iam', UNKNOWN, 'InvalidClientTokenId', 403],
    ['iam', WRONG_SECRET, 'SignatureDoesNotMatch', 403],
  ] as const)('the real %s client names a refusal of %o %s', async (protocol, credentials, name, status) => {
    // Arrange
    const config = { endpoint: edge.url, region: 'us-east-1', credentials, maxAttempts: 1 };
    const call: Record<Protocol, () => Promise<unknown>> = {
      eks: () => new EKSClient(config).send(new ListClustersCommand({})),
      events: () =>
        new EventBridgeClient(config).send(
          new PutEventsCommand({ Entries: [{ Source: 's', DetailType: 'd', Detail: '{}' }] }),
        ),
      dynamodb: () => new DynamoDBClient(config).send(new ListTablesCommand({})),
      sqs: () =>
        new SQSClient(config).send(
          new SendMessageCommand({ QueueUrl: `${edge.url}/${ACCOUNT}/${QUEUE}`, MessageBody: 'x' }),
        ),
      sts: () => new STSClient(config).send(new GetCallerIdentityCommand({})),
      iam: () => new IAMClient(config).send(new GetRoleCommand({ RoleName: 'dev-bob' })),
    };

    // Act
    const error = await caught(call[protocol]);

    // Assert
    expect(error.name).toBe(name);
    expect(error.$metadata?.httpStatusCode).toBe(status);
  });

  it('refuses a header-signed request dated more than 15 minutes ago', async () => {
    // Act
    const res = await signedFetch(`${edge.url}/`, {
      service: 'sts',
      method: 'POST',
      headers: { 'content-type': FORM },
      body: STS_FORM,
      signingDate: new Date(Date.now() - 20 * 60 * 1000),
    });

    // Assert
    const error = await errorOf(res);
    expect([error.status, error.code]).toEqual([403, 'SignatureDoesNotMatch']);
    expect(error.message).toMatch(/- 15 min\.\)$/);
  });

  it('refuses a body changed after signing', async () => {
    // Arrange: signed for one queue name, sent with another
    const res = await fetch(`${edge.url}/`, {
      method: 'POST',
      headers: await signedHeaders('{"QueueNamePrefix":"a"}'),
      body: '{"QueueNamePrefix":"b"}',
    });

    // Assert
    expect((await errorOf(res)).code).toBe('SignatureDoesNotMatch');
  });

  it('never asks for a signature on the /_edge/ admin routes', async () => {
    expect((await fetch(`${edge.url}/_edge/health`)).status).toBe(200);
  });
});

async function signedHeaders(body: string): Promise<Record<string, string>> {
  const target = new URL(edge.url);
  const signer = new SignatureV4({
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    region: 'us-east-1',
    service: 'sqs',
    sha256: Sha256,
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: target.hostname,
    path: '/',
    headers: {
      host: target.host,
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'AmazonSQS.ListQueues',
    },
    body,
  });
  const { host: _host, ...headers } = signed.headers;
  return headers;
}

describe('STS GetCallerIdentity', () => {
  it.each([
    ['test', 'ticketing-integration'],
    ['oncallalice', 'oncall-alice'],
    ['devbob', 'dev-bob'],
    ['intruder', 'intruder'],
    ['brokerlocal', 'eks-access-broker-local'],
  ])('answers %s as a session of role/%s, with the RoleId IAM reports', async (key, role) => {
    // Arrange
    const credentials = { accessKeyId: key, secretAccessKey: key };
    const config = { endpoint: edge.url, region: 'us-east-1', credentials };

    // Act
    const identity = await new STSClient(config).send(new GetCallerIdentityCommand({}));
    const { Role } = await new IAMClient(config).send(new GetRoleCommand({ RoleName: role }));

    // Assert
    expect(identity.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${key}`);
    expect(identity.Account).toBe(ACCOUNT);
    expect(identity.UserId).toBe(`${Role?.RoleId}:${key}`);
    expect(Role?.RoleId).toMatch(/^AROA[A-Z2-7]{17}$/);
    expect(Role).toMatchObject({ Arn: `arn:aws:iam::${ACCOUNT}:role/${role}`, RoleName: role, Path: '/' });
  });

  describe('presigned, with headers that bind it to a request', () => {
    const bound = {
      'x-eks-access-broker-body-sha256': 'a'.repeat(64),
      'x-eks-access-broker-audience': 'eks-access-broker-local',
      'x-eks-access-broker-nonce': 'n-1',
    };
    const url = () => `${edge.url}/?${STS_FORM}`;
    const presign = (headers: Record<string, string>) =>
      presignedFetch(url(), {
        service: 'sts',
        headers,
        credentials: { accessKeyId: 'oncallalice', secretAccessKey: 'oncallalice' },
        expiresIn: 60,
      });

    it('answers the signer when the signed headers come as signed', async () => {
      // Act
      const res = await presign(bound);

      // Assert
      const xml = await res.text();
      expect(res.status).toBe(200);
      expect(xml).toContain(`<Arn>arn:aws:sts::${ACCOUNT}:assumed-role/oncall-alice/oncallalice</Arn>`);
      expect(xml).toMatch(/<UserId>AROA[A-Z2-7]{17}:oncallalice<\/UserId>/);
      expect(xml).toContain(`<Account>${ACCOUNT}</Account>`);
    });

    it('refuses it when a signed header was changed or dropped on the way', async () => {
      // Arrange: sign with the bound headers, then send different ones
      const signedUrl = await presignedUrl(bound);

      // Act
      const tampered = await fetch(signedUrl, { headers: { ...bound, 'x-eks-access-broker-nonce': 'n-2' } });
      const { 'x-eks-access-broker-nonce': _nonce, ...withoutNonce } = bound;
      const dropped = await fetch(signedUrl, { headers: withoutNonce });

      // Assert
      expect((await errorOf(tampered)).code).toBe('SignatureDoesNotMatch');
      expect((await errorOf(dropped)).code).toBe('SignatureDoesNotMatch');
    });

    async function presignedUrl(headers: Record<string, string>): Promise<string> {
      const target = new URL(edge.url);
      const presigned = await new SignatureV4({
        credentials: { accessKeyId: 'oncallalice', secretAccessKey: 'oncallalice' },
        region: 'us-east-1',
        service: 'sts',
        sha256: Sha256,
      }).presign(
        {
          method: 'GET',
          protocol: 'http:',
          hostname: target.hostname,
          path: '/',
          query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
          headers: { host: target.host, ...headers },
        },
        { expiresIn: 60 },
      );
      const search = Object.entries(presigned.query ?? {})
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
        .join('&');
      return `${edge.url}/?${search}`;
    }
  });

  it.skipIf(!hasAwsCli())('answers aws sts get-caller-identity', async () => {
    // Act
    const { stdout } = await promisify(execFile)(
      'aws',
      ['sts', 'get-caller-identity', '--endpoint-url', edge.url, '--output', 'json'],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          AWS_ACCESS_KEY_ID: 'devbob',
          AWS_SECRET_ACCESS_KEY: 'devbob',
          AWS_DEFAULT_REGION: 'us-east-1',
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        },
        timeout: 60_000,
      },
    );

    // Assert
    expect(JSON.parse(stdout)).toMatchObject({
      Account: ACCOUNT,
      Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/dev-bob/devbob`,
    });
  });
});

describe('IAM GetRole', () => {
  it('answers NoSuchEntity for a role no identity has', async () => {
    const iam = new IAMClient({
      endpoint: edge.url,
      region: 'us-east-1',
      credentials: credentialsOf('test'),
    });

    const error = await caught(() => iam.send(new GetRoleCommand({ RoleName: 'nobody' })));

    expect(error.name).toBe('NoSuchEntityException');
    expect(error.$metadata?.httpStatusCode).toBe(404);
    expect(error.message).toBe('The role with name nobody cannot be found.');
  });
});

describe('who sent it, as SQS and EventBridge record it', () => {
  it("puts the sender's user id and the send time on the message and on the Lambda record", async () => {
    // Arrange
    const sqs = new SQSClient({
      endpoint: edge.url,
      region: 'us-east-1',
      credentials: credentialsOf('devbob'),
    });
    const queueUrl = `${edge.url}/${ACCOUNT}/${QUEUE}`;
    const devbob = edge.identities.byAccessKey('devbob');
    const before = Date.now();

    // Act
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'hello' }));
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MessageSystemAttributeNames: ['All'],
        VisibilityTimeout: 0,
      }),
    );
    const records: unknown[] = [];
    const stop = edge.queues.subscribe(QUEUE, async (event) => {
      records.push(...event.Records);
    });
    await edge.queues.idle(QUEUE, { timeoutMs: 5_000 });
    stop();

    // Assert
    const attributes = received.Messages?.[0]?.Attributes ?? {};
    expect(attributes.SenderId).toBe(`${devbob?.uniqueId}:devbob`);
    expect(attributes.SenderId).toMatch(/^AROA[A-Z2-7]{17}:devbob$/);
    expect(Number(attributes.SentTimestamp)).toBeGreaterThanOrEqual(before);
    expect(records).toMatchObject([{ attributes: { SenderId: `${devbob?.uniqueId}:devbob` } }]);
  });

  it('stamps each event with the account of the identity that put it', async () => {
    // Arrange: an identities file with a principal in another account
    const dir = mkdtempSync(join(tmpdir(), 'identities-'));
    const file = join(dir, 'identities.json');
    writeFileSync(
      file,
      JSON.stringify({
        identities: [
          {
            accessKeyId: 'partner',
            secretAccessKey: 'partner',
            arn: 'arn:aws:iam::444455556666:user/partner',
          },
        ],
      }),
    );
    const other = await startEdge({ port: 0, dynamodb: false, identitiesFile: file });
    try {
      const events = new EventBridgeClient({
        endpoint: other.url,
        region: 'us-east-1',
        credentials: credentialsOf('partner'),
      });

      // Act
      await events.send(new PutEventsCommand({ Entries: [{ Source: 's', DetailType: 'd', Detail: '{}' }] }));
      const caller = await new STSClient({
        endpoint: other.url,
        region: 'us-east-1',
        credentials: credentialsOf('partner'),
      }).send(new GetCallerIdentityCommand({}));

      // Assert
      expect(other.bus.events().map((e) => e.event.account)).toEqual(['444455556666']);
      expect(caller.Arn).toBe('arn:aws:iam::444455556666:user/partner');
      expect(caller.UserId).toMatch(/^AIDA[A-Z2-7]{17}$/);
      // The default keys are not known to an edge started on another file.
      const refused = await caught(() =>
        new STSClient({ endpoint: other.url, region: 'us-east-1', credentials: credentialsOf('test') }).send(
          new GetCallerIdentityCommand({}),
        ),
      );
      expect(refused.name).toBe('InvalidClientTokenId');
    } finally {
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the identities file', () => {
  it('holds the default identities, exactly', () => {
    const identities = loadIdentities();

    expect(identities.list().map((i) => [i.accessKeyId, i.secretAccessKey, i.principalArn])).toEqual([
      ['test', 'test', `arn:aws:iam::${ACCOUNT}:role/ticketing-integration`],
      ['oncallalice', 'oncallalice', `arn:aws:iam::${ACCOUNT}:role/oncall-alice`],
      ['devbob', 'devbob', `arn:aws:iam::${ACCOUNT}:role/dev-bob`],
      ['intruder', 'intruder', `arn:aws:iam::${ACCOUNT}:role/intruder`],
      ['brokerlocal', 'brokerlocal', `arn:aws:iam::${ACCOUNT}:role/eks-access-broker-local`],
    ]);
    // Deterministic: the same ARN always gets the same id, different ARNs different ones.
    expect(
      loadIdentities()
        .list()
        .map((i) => i.uniqueId),
    ).toEqual(identities.list().map((i) => i.uniqueId));
    expect(new Set(identities.list().map((i) => i.uniqueId)).size).toBe(5);
  });

  it.each([
    [
      'a key with other characters than letters and digits',
      { accessKeyId: 'bad-key', secretAccessKey: 's', arn: `arn:aws:iam::${ACCOUNT}:role/r` },
      /letters and digits/,
    ],
    [
      'an ARN that is not an IAM role or user',
      { accessKeyId: 'k', secretAccessKey: 's', arn: 'arn:aws:s3:::bucket' },
      /IAM role or user ARN/,
    ],
    [
      'an unknown field',
      { accessKeyId: 'k', secretAccessKey: 's', arn: `arn:aws:iam::${ACCOUNT}:role/r`, secret: 'x' },
      /secret/,
    ],
  ])('refuses %s', (_what, entry, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'identities-'));
    const file = join(dir, 'identities.json');
    writeFileSync(file, JSON.stringify({ identities: [entry] }));
    try {
      expect(() => loadIdentities(file)).toThrow(IdentitiesFileError);
      expect(() => loadIdentities(file)).toThrow(message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function credentialsOf(key: string): { accessKeyId: string; secretAccessKey: string } {
  return { accessKeyId: key, secretAccessKey: key };
}

function hasAwsCli(): boolean {
  try {
    execFileSync('aws', ['--version'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

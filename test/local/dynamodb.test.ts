import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type DynamoDbLocal,
  DynamoDbLocalError,
  proxyToDynamoDb,
  startDynamoDbLocal,
} from '../../infra/local/dynamodb-local';
import { type Edge, startEdge } from '../../infra/local/edge';
import { readBody } from '../../infra/local/http';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const TABLE = 'leases';
const BY_PRINCIPAL = 'byPrincipal';

function clientFor(endpoint: string, maxAttempts?: number): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
  });
}

async function createLeaseTable(client: DynamoDBClient): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: TABLE,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'principal', AttributeType: 'S' },
        { AttributeName: 'expiresAt', AttributeType: 'N' },
      ],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: BY_PRINCIPAL,
          KeySchema: [
            { AttributeName: 'principal', KeyType: 'HASH' },
            { AttributeName: 'expiresAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
}

function putLease(pk: string, principal: string, expiresAt: number): PutItemCommand {
  return new PutItemCommand({
    TableName: TABLE,
    Item: { pk: { S: pk }, principal: { S: principal }, expiresAt: { N: String(expiresAt) } },
    ConditionExpression: 'attribute_not_exists(pk)',
  });
}

/** Alive means running: a zombie (killed, not yet reaped by a foster parent) holds no port and no memory. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(pid)) return true;
    await new Promise((settle) => setTimeout(settle, 50));
  }
  return !isRunning(pid);
}

function signalCode(pid: number): string | undefined {
  try {
    process.kill(pid, 0);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code;
  }
}

async function startFailure(promise: Promise<DynamoDbLocal>): Promise<DynamoDbLocalError> {
  const error = await promise.then(
    async (started) => {
      await started.stop();
      throw new Error('DynamoDB Local started although it should not have');
    },
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(DynamoDbLocalError);
  return error as DynamoDbLocalError;
}

describe('DynamoDB through the edge', () => {
  let edge: Edge;
  let client: DynamoDBClient;

  beforeAll(async () => {
    edge = await startEdge({ port: 0 });
    client = clientFor(edge.url);
    await createLeaseTable(client);
  });

  afterAll(async () => {
    client?.destroy();
    await edge?.close();
  });

  it('creates a table with a global secondary index', async () => {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: TABLE }));

    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual([BY_PRINCIPAL]);
  });

  it('rejects a conditional PutItem on a duplicate key with ConditionalCheckFailedException', async () => {
    await client.send(putLease('lease#dup', 'alice', 100));

    const failure = await client.send(putLease('lease#dup', 'mallory', 200)).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ConditionalCheckFailedException);
    expect((failure as ConditionalCheckFailedException).name).toBe('ConditionalCheckFailedException');
    expect((failure as ConditionalCheckFailedException).$metadata.httpStatusCode).toBe(400);
    const { Item } = await client.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'lease#dup' } } }),
    );
    expect(Item?.principal).toEqual({ S: 'alice' });
  });

  it('queries the global secondary index in sort-key order', async () => {
    await client.send(putLease('lease#q3', 'bob', 300));
    await client.send(putLease('lease#q1', 'bob', 100));
    await client.send(putLease('lease#q2', 'carol', 200));

    const { Items } = await client.send(
      new QueryCommand({
        TableName: TABLE,
        IndexName: BY_PRINCIPAL,
        KeyConditionExpression: 'principal = :p AND expiresAt > :t',
        ExpressionAttributeValues: { ':p': { S: 'bob' }, ':t': { N: '50' } },
      }),
    );

    expect(Items?.map((item) => item.pk?.S)).toEqual(['lease#q1', 'lease#q3']);
  });

  it('cancels a TransactWriteItems whose condition fails, with a reason per item, and writes nothing', async () => {
    await client.send(putLease('lease#held', 'dave', 100));

    const failure = await client
      .send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Put: {
                TableName: TABLE,
                Item: { pk: { S: 'lease#new' }, principal: { S: 'erin' }, expiresAt: { N: '100' } },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              ConditionCheck: {
                TableName: TABLE,
                Key: { pk: { S: 'lease#held' } },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      )
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(TransactionCanceledException);
    const reasons = (failure as TransactionCanceledException).CancellationReasons;
    expect(reasons?.map((reason) => reason.Code)).toEqual(['None', 'ConditionalCheckFailed']);
    const { Item } = await client.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'lease#new' } } }),
    );
    expect(Item).toBeUndefined();
  });
});

describe('proxyToDynamoDb', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await new Promise((settle) => (server ? server.close(settle) : settle(undefined)));
  });

  it('answers 503 ServiceUnavailableException when DynamoDB Local is unreachable', async () => {
    // A port that was free a moment ago: nothing listens there.
    const closed = createServer();
    await new Promise<void>((settle) => closed.listen(0, '127.0.0.1', settle));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((settle) => closed.close(settle));
    const handler = proxyToDynamoDb(`http://127.0.0.1:${deadPort}`);
    server = createServer((req, res) => {
      void readBody(req, 1024 * 1024).then((body) =>
        handler(
          {
            method: req.method ?? 'POST',
            rawPath: req.url ?? '/',
            query: new URLSearchParams(),
            headers: req.headers,
            body,
            origin: 'http://127.0.0.1',
          },
          res,
        ),
      );
    });
    await new Promise<void>((settle) => server?.listen(0, '127.0.0.1', settle));
    const client = clientFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 1);

    const failure = await client.send(new ListTablesCommand({})).catch((error: unknown) => error);

    client.destroy();
    expect(failure).toMatchObject({
      name: 'ServiceUnavailableException',
      $metadata: { httpStatusCode: 503 },
    });
  });
});

describe('startDynamoDbLocal', () => {
  const started: DynamoDbLocal[] = [];
  const scratch: string[] = [];

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'ddb-local-test-'));
    scratch.push(dir);
    return dir;
  }

  /** A stand-in for java: a shell script, so failures can be provoked without an old JRE at hand. */
  function fakeJava(script: string): string {
    const path = join(tempDir(), 'java');
    writeFileSync(path, `#!/bin/sh\n${script}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  afterEach(async () => {
    await Promise.all(started.splice(0).map((instance) => instance.stop()));
    for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps data in dbPath across a stop and a start', async () => {
    const dbPath = join(tempDir(), 'db');
    const first = await startDynamoDbLocal({ dbPath });
    started.push(first);
    const writer = clientFor(first.endpoint);
    await createLeaseTable(writer);
    await writer.send(putLease('lease#kept', 'frank', 100));
    writer.destroy();
    await first.stop();

    const second = await startDynamoDbLocal({ dbPath });
    started.push(second);
    const reader = clientFor(second.endpoint);
    const { Item } = await reader.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'lease#kept' } } }),
    );
    reader.destroy();

    expect(Item?.principal).toEqual({ S: 'frank' });
  });

  it('stop() leaves no process behind and may be called twice', async () => {
    const instance = await startDynamoDbLocal({});
    started.push(instance);
    expect(signalCode(instance.pid)).toBeUndefined();

    await Promise.all([instance.stop(), instance.stop()]);
    await instance.stop();

    expect(signalCode(instance.pid)).toBe('ESRCH');
  });

  it('takes DynamoDB Local down with it when the Node process is SIGKILLed', async () => {
    const moduleUrl = new URL('../../infra/local/dynamodb-local.ts', import.meta.url).href;
    const host = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { startDynamoDbLocal } = await import(${JSON.stringify(moduleUrl)});
         const instance = await startDynamoDbLocal({});
         console.log(JSON.stringify({ pid: instance.pid }));
         setInterval(() => {}, 60_000);`,
      ],
      { cwd: resolve(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const firstLine = await new Promise<string>((settle, fail) => {
      createInterface({ input: host.stdout }).once('line', settle);
      host.once('exit', (code) => fail(new Error(`host exited early with ${code}`)));
    });
    const { pid } = JSON.parse(firstLine) as { pid: number };
    expect(isRunning(pid)).toBe(true);

    host.kill('SIGKILL');

    expect(await waitUntilGone(pid, 5_000)).toBe(true);
  });

  it('explains a missing java', async () => {
    const error = await startFailure(startDynamoDbLocal({ javaCommand: '/nonexistent/java' }));

    expect(error.reason).toBe('java-missing');
    expect(error.message).toContain(
      'Java 17+ is required for DynamoDB Local: install a JRE, e.g. apt-get install -y openjdk-17-jre-headless',
    );
  });

  it('explains a java older than 17 and names its version', async () => {
    const java = fakeJava(`
if [ "$1" = "-version" ]; then echo 'openjdk version "11.0.22" 2024-01-16' >&2; exit 0; fi
echo 'java.lang.UnsupportedClassVersionError: ServerRunner has been compiled by a more recent version of the Java Runtime (class file version 61.0)' >&2
exit 1`);

    const error = await startFailure(startDynamoDbLocal({ javaCommand: java }));

    expect(error.reason).toBe('java-too-old');
    expect(error.message).toContain('Java 17+ is required for DynamoDB Local');
    expect(error.message).toContain('11.0.22');
  });

  it('reports an early exit with the last lines it printed, not a stack trace', async () => {
    const java = fakeJava(`echo 'starting' >&2
echo 'java.lang.IllegalStateException: disk on fire' >&2
echo '	at com.example.Main.main(Main.java:1)' >&2
exit 3`);

    const error = await startFailure(startDynamoDbLocal({ javaCommand: java }));

    expect(error.reason).toBe('exited');
    expect(error.message).toContain('exited with code 3');
    expect(error.message).toContain('disk on fire');
    expect(error.message).not.toContain('Main.java');
  });

  it('gives up after startTimeoutMs and kills what it started', async () => {
    const pidFile = join(tempDir(), 'pid');
    const java = fakeJava(`echo $$ > ${pidFile}\nexec sleep 30`);

    const error = await startFailure(startDynamoDbLocal({ javaCommand: java, startTimeoutMs: 500 }));

    expect(error.reason).toBe('timeout');
    expect(error.message).toContain('did not answer');
    expect(isRunning(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });
});

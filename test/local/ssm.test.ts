import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParametersCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Edge, startEdge } from '../../infra/local/edge';
import { caught, LOCAL_CREDENTIALS } from '../support/aws';
import { signedFetch } from './signed-fetch';

const run = promisify(execFile);
const ARN_PREFIX = 'arn:aws:ssm:us-east-1:111122223333:parameter';

function findAwsCli(): boolean {
  try {
    execFileSync('aws', ['--version'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

const hasAwsCli = findAwsCli();
if (!hasAwsCli) console.warn('ssm.test.ts: the aws CLI is not on PATH, so the aws ssm cases are skipped.');

let edge: Edge;
let ssm: SSMClient;

beforeAll(async () => {
  edge = await startEdge({ port: 0, dynamodb: false });
  ssm = new SSMClient({
    endpoint: edge.url,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
});

afterAll(async () => {
  ssm.destroy();
  await edge.close();
});

describe('the local SSM Parameter Store through the SDK', () => {
  it('answers a SecureString read with decryption with its value and the whole Parameter shape', async () => {
    // Arrange
    const before = Date.now();
    const put = await ssm.send(
      new PutParameterCommand({ Name: '/sdk/webhook-secret', Value: 's3cr3t', Type: 'SecureString' }),
    );

    // Act
    const { Parameter } = await ssm.send(
      new GetParameterCommand({ Name: '/sdk/webhook-secret', WithDecryption: true }),
    );

    // Assert
    expect(put).toMatchObject({ Version: 1, Tier: 'Standard' });
    expect(Parameter).toEqual({
      Name: '/sdk/webhook-secret',
      Type: 'SecureString',
      Value: 's3cr3t',
      Version: 1,
      LastModifiedDate: expect.any(Date),
      ARN: `${ARN_PREFIX}/sdk/webhook-secret`,
      DataType: 'text',
    });
    expect(Parameter?.LastModifiedDate?.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
  });

  it('never answers a SecureString value to a read without decryption', async () => {
    // Arrange
    await ssm.send(
      new PutParameterCommand({ Name: '/sdk/no-decrypt', Value: 'plain-secret', Type: 'SecureString' }),
    );

    // Act
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/sdk/no-decrypt' }));

    // Assert
    expect(Parameter?.Type).toBe('SecureString');
    expect(Parameter?.Value).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(Parameter?.Value).not.toContain('plain-secret');
  });

  it('answers String and StringList values as stored, and gives a flat name an ARN with a slash', async () => {
    // Arrange
    await ssm.send(new PutParameterCommand({ Name: 'flat-name', Value: 'a', Type: 'String' }));
    await ssm.send(new PutParameterCommand({ Name: '/sdk/list', Value: 'a,b,c', Type: 'StringList' }));

    // Act
    const flat = await ssm.send(new GetParameterCommand({ Name: 'flat-name' }));
    const list = await ssm.send(new GetParameterCommand({ Name: '/sdk/list' }));

    // Assert
    expect(flat.Parameter).toMatchObject({ Type: 'String', Value: 'a', ARN: `${ARN_PREFIX}/flat-name` });
    expect(list.Parameter).toMatchObject({ Type: 'StringList', Value: 'a,b,c' });
  });

  it('refuses to replace a parameter without Overwrite, in SSM words, and keeps the value', async () => {
    // Arrange
    await ssm.send(new PutParameterCommand({ Name: '/sdk/once', Value: 'first', Type: 'SecureString' }));

    // Act
    const error = await caught(() =>
      ssm.send(new PutParameterCommand({ Name: '/sdk/once', Value: 'second', Type: 'SecureString' })),
    );

    // Assert
    expect(error.name).toBe('ParameterAlreadyExists');
    expect(error.$metadata?.httpStatusCode).toBe(400);
    expect(error.message).toBe(
      'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
    );
    const { Parameter } = await ssm.send(
      new GetParameterCommand({ Name: '/sdk/once', WithDecryption: true }),
    );
    expect(Parameter).toMatchObject({ Value: 'first', Version: 1 });
  });

  it('replaces a parameter with Overwrite as its next version, keeping its type when none is given', async () => {
    // Arrange
    await ssm.send(new PutParameterCommand({ Name: '/sdk/rotated', Value: 'old', Type: 'SecureString' }));

    // Act
    const put = await ssm.send(
      new PutParameterCommand({ Name: '/sdk/rotated', Value: 'old\nnew', Overwrite: true }),
    );

    // Assert
    expect(put.Version).toBe(2);
    const { Parameter } = await ssm.send(
      new GetParameterCommand({ Name: '/sdk/rotated', WithDecryption: true }),
    );
    expect(Parameter).toMatchObject({ Type: 'SecureString', Value: 'old\nnew', Version: 2 });
  });

  it('refuses to create a parameter without a type', async () => {
    // Act
    const error = await caught(() => ssm.send(new PutParameterCommand({ Name: '/sdk/untyped', Value: 'x' })));

    // Assert
    expect(error.name).toBe('ValidationException');
    expect(error.message).toBe('A parameter type is required when you create a parameter.');
    expect(edge.ssm.names()).not.toContain('/sdk/untyped');
  });

  it.each([
    ['/aws/mine', 'a reserved prefix'],
    ['/sdk/has space', 'a character outside letters, digits and .-_'],
  ])('refuses to create %s (%s)', async (name) => {
    // Act
    const error = await caught(() =>
      ssm.send(new PutParameterCommand({ Name: name, Value: 'x', Type: 'String' })),
    );

    // Assert
    expect(error.name).toBe('ValidationException');
    expect(error.message).toMatch(/^Parameter name: can't be prefixed with "aws" or "ssm"/);
  });

  it('refuses a hierarchical name without its leading slash', async () => {
    // Act
    const error = await caught(() => ssm.send(new GetParameterCommand({ Name: 'sdk/relative' })));

    // Assert
    expect(error.name).toBe('ValidationException');
    expect(error.message).toBe('Parameter name must be a fully qualified name.');
  });

  it('answers a missing parameter as SSM does: ParameterNotFound, 400, with no message of its own', async () => {
    // Act
    const error = await caught(() => ssm.send(new GetParameterCommand({ Name: '/sdk/missing' })));

    // Assert
    expect(error.name).toBe('ParameterNotFound');
    expect(error.$metadata?.httpStatusCode).toBe(400);
    const raw = await rawCall('GetParameter', { Name: '/sdk/missing' });
    expect(raw).toEqual({ status: 400, body: { __type: 'ParameterNotFound' } });
  });

  it('answers GetParameters with the parameters found and the names of the others', async () => {
    // Arrange
    await ssm.send(new PutParameterCommand({ Name: '/sdk/many/a', Value: 'A', Type: 'SecureString' }));
    await ssm.send(new PutParameterCommand({ Name: '/sdk/many/b', Value: 'B', Type: 'String' }));

    // Act
    const result = await ssm.send(
      new GetParametersCommand({
        Names: ['/sdk/many/a', '/sdk/many/none', '/sdk/many/b'],
        WithDecryption: true,
      }),
    );

    // Assert
    expect(result.Parameters?.map((p) => [p.Name, p.Value])).toEqual([
      ['/sdk/many/a', 'A'],
      ['/sdk/many/b', 'B'],
    ]);
    expect(result.InvalidParameters).toEqual(['/sdk/many/none']);
  });

  it('refuses GetParameters of more than ten names', async () => {
    // Act
    const names = Array.from({ length: 11 }, (_, i) => `/sdk/n${i}`);
    const error = await caught(() => ssm.send(new GetParametersCommand({ Names: names })));

    // Assert
    expect(error.name).toBe('ValidationException');
    expect(error.message).toMatch(
      /at 'names' failed to satisfy constraint: Member must have length less than or equal to 10$/,
    );
  });

  it('deletes a parameter, after which it is not found, and refuses to delete a missing one', async () => {
    // Arrange
    await ssm.send(new PutParameterCommand({ Name: '/sdk/deleted', Value: 'x', Type: 'String' }));

    // Act
    await ssm.send(new DeleteParameterCommand({ Name: '/sdk/deleted' }));
    const read = await caught(() => ssm.send(new GetParameterCommand({ Name: '/sdk/deleted' })));
    const again = await caught(() => ssm.send(new DeleteParameterCommand({ Name: '/sdk/deleted' })));

    // Assert
    expect(read.name).toBe('ParameterNotFound');
    expect(again.name).toBe('ParameterNotFound');
  });

  it('refuses a call signed with a key the edge does not know', async () => {
    // Arrange
    const stranger = new SSMClient({
      endpoint: edge.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'nobody', secretAccessKey: 'nobody' },
      maxAttempts: 1,
    });

    // Act
    const error = await caught(() => stranger.send(new GetParameterCommand({ Name: '/sdk/webhook-secret' })));

    // Assert
    expect(error.name).toBe('UnrecognizedClientException');
    expect(error.$metadata?.httpStatusCode).toBe(400);
    stranger.destroy();
  });

  it('answers an operation it does not emulate as UnknownOperationException', async () => {
    // Act
    const raw = await rawCall('DescribeParameters', {});

    // Assert
    expect(raw).toEqual({
      status: 400,
      body: {
        __type: 'UnknownOperationException',
        message: 'The local edge does not emulate SSM DescribeParameters.',
      },
    });
  });
});

describe.skipIf(!hasAwsCli)('the local SSM Parameter Store through the aws CLI', () => {
  it('stores a SecureString with put-parameter and reads it back with get-parameter --with-decryption', async () => {
    // Act
    const put = await awsSsm(
      'put-parameter',
      '--name',
      '/cli/jira/webhook-secret',
      '--type',
      'SecureString',
      '--value',
      'from-the-cli',
    );
    const got = await awsSsm('get-parameter', '--name', '/cli/jira/webhook-secret', '--with-decryption');

    // Assert
    expect(put).toEqual({ Version: 1, Tier: 'Standard' });
    expect(got.Parameter).toMatchObject({
      Name: '/cli/jira/webhook-secret',
      Type: 'SecureString',
      Value: 'from-the-cli',
      Version: 1,
      ARN: `${ARN_PREFIX}/cli/jira/webhook-secret`,
      DataType: 'text',
    });
  });

  it('shows the error a CLI user sees for a missing parameter', async () => {
    // Act
    const error = await awsSsm('get-parameter', '--name', '/cli/missing').then(
      () => undefined,
      (e: unknown) => e as { stderr: string; code: number },
    );

    // Assert
    expect([254, 255]).toContain(error?.code);
    expect(error?.stderr).toContain(
      'An error occurred (ParameterNotFound) when calling the GetParameter operation:',
    );
  });
});

/** Runs `aws ssm ...` against the edge as the local `test` identity and returns the parsed JSON output. */
async function awsSsm(...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run('aws', ['ssm', ...args, '--endpoint-url', edge.url, '--output', 'json'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    },
    timeout: 60_000,
  });
  return stdout.trim() === '' ? {} : (JSON.parse(stdout) as Record<string, unknown>);
}

/** One signed SSM call without the SDK's parser: the status and body as the edge answered them. */
async function rawCall(operation: string, input: unknown): Promise<{ status: number; body: unknown }> {
  const response = await signedFetch(`${edge.url}/`, {
    service: 'ssm',
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AmazonSSM.${operation}` },
    body: JSON.stringify(input),
  });
  return { status: response.status, body: await response.json() };
}

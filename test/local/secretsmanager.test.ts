import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Edge, startEdge } from '../../infra/local/edge';
import { caught, LOCAL_CREDENTIALS } from '../support/aws';
import { signedFetch } from './signed-fetch';

const run = promisify(execFile);
const ARN = (name: string) =>
  new RegExp(`^arn:aws:secretsmanager:us-east-1:111122223333:secret:${name}-[A-Za-z0-9]{6}$`);
const NOT_FOUND = "Secrets Manager can't find the specified secret.";

function findAwsCli(): boolean {
  try {
    execFileSync('aws', ['--version'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

const hasAwsCli = findAwsCli();
if (!hasAwsCli) {
  console.warn(
    'secretsmanager.test.ts: the aws CLI is not on PATH, so the aws secretsmanager cases are skipped.',
  );
}

let edge: Edge;
let client: SecretsManagerClient;

beforeAll(async () => {
  edge = await startEdge({ port: 0, dynamodb: false });
  client = new SecretsManagerClient({
    endpoint: edge.url,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client.destroy();
  await edge.close();
});

describe('the local Secrets Manager through the SDK', () => {
  it('creates a secret and answers its value by name and by ARN', async () => {
    // Act
    const created = await client.send(
      new CreateSecretCommand({ Name: 'sdk/pagerduty/api-key', SecretString: 'u+key' }),
    );
    const byName = await client.send(new GetSecretValueCommand({ SecretId: 'sdk/pagerduty/api-key' }));
    const byArn = await client.send(new GetSecretValueCommand({ SecretId: created.ARN }));

    // Assert
    expect(created.ARN).toMatch(ARN('sdk/pagerduty/api-key'));
    expect(created.Name).toBe('sdk/pagerduty/api-key');
    expect(byName).toMatchObject({
      ARN: created.ARN,
      Name: 'sdk/pagerduty/api-key',
      VersionId: created.VersionId,
      SecretString: 'u+key',
      VersionStages: ['AWSCURRENT'],
      CreatedDate: expect.any(Date),
    });
    expect(byArn.SecretString).toBe('u+key');
  });

  it('makes a put value the current version and keeps the one before as AWSPREVIOUS', async () => {
    // Arrange
    await client.send(new CreateSecretCommand({ Name: 'sdk/rotated', SecretString: 'old' }));

    // Act
    const put = await client.send(
      new PutSecretValueCommand({ SecretId: 'sdk/rotated', SecretString: 'new' }),
    );
    const current = await client.send(new GetSecretValueCommand({ SecretId: 'sdk/rotated' }));
    const previous = await client.send(
      new GetSecretValueCommand({ SecretId: 'sdk/rotated', VersionStage: 'AWSPREVIOUS' }),
    );

    // Assert
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    expect(current).toMatchObject({ SecretString: 'new', VersionId: put.VersionId });
    expect(previous).toMatchObject({ SecretString: 'old', VersionStages: ['AWSPREVIOUS'] });
  });

  it('stores a binary secret and answers it as bytes', async () => {
    // Act
    await client.send(
      new CreateSecretCommand({ Name: 'sdk/binary', SecretBinary: new Uint8Array([0, 1, 254]) }),
    );
    const got = await client.send(new GetSecretValueCommand({ SecretId: 'sdk/binary' }));

    // Assert
    expect(got.SecretString).toBeUndefined();
    expect([...(got.SecretBinary ?? [])]).toEqual([0, 1, 254]);
  });

  it('refuses to create a secret whose name is taken', async () => {
    // Arrange
    await client.send(new CreateSecretCommand({ Name: 'sdk/taken', SecretString: 'x' }));

    // Act
    const error = await caught(() =>
      client.send(new CreateSecretCommand({ Name: 'sdk/taken', SecretString: 'y' })),
    );

    // Assert
    expect(error.name).toBe('ResourceExistsException');
    expect(error.message).toBe('The operation failed because the secret sdk/taken already exists.');
  });

  it('answers a missing secret as ResourceNotFoundException, 400, for a read and for a put', async () => {
    // Act
    const read = await caught(() => client.send(new GetSecretValueCommand({ SecretId: 'sdk/missing' })));
    const put = await caught(() =>
      client.send(new PutSecretValueCommand({ SecretId: 'sdk/missing', SecretString: 'x' })),
    );

    // Assert
    expect([read.name, read.message, read.$metadata?.httpStatusCode]).toEqual([
      'ResourceNotFoundException',
      NOT_FOUND,
      400,
    ]);
    expect([put.name, put.message]).toEqual(['ResourceNotFoundException', NOT_FOUND]);
  });

  it('answers a secret created without a value as having no AWSCURRENT version', async () => {
    // Arrange
    await client.send(new CreateSecretCommand({ Name: 'sdk/empty' }));

    // Act
    const error = await caught(() => client.send(new GetSecretValueCommand({ SecretId: 'sdk/empty' })));

    // Assert
    expect(error.name).toBe('ResourceNotFoundException');
    expect(error.message).toBe(
      "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
    );
  });

  it('refuses reads of a secret scheduled for deletion, and its name until it is gone', async () => {
    // Arrange
    await client.send(new CreateSecretCommand({ Name: 'sdk/scheduled', SecretString: 'x' }));

    // Act
    const deleted = await client.send(
      new DeleteSecretCommand({ SecretId: 'sdk/scheduled', RecoveryWindowInDays: 7 }),
    );
    const read = await caught(() => client.send(new GetSecretValueCommand({ SecretId: 'sdk/scheduled' })));
    const recreate = await caught(() =>
      client.send(new CreateSecretCommand({ Name: 'sdk/scheduled', SecretString: 'y' })),
    );

    // Assert
    const days = ((deleted.DeletionDate?.getTime() ?? 0) - Date.now()) / (24 * 3600 * 1000);
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThanOrEqual(7);
    expect([read.name, read.message]).toEqual([
      'InvalidRequestException',
      "You can't perform this operation on the secret because it was marked for deletion.",
    ]);
    expect([recreate.name, recreate.message]).toEqual([
      'InvalidRequestException',
      "You can't create this secret because a secret with this name is already scheduled for deletion.",
    ]);
  });

  it('deletes a secret at once with ForceDeleteWithoutRecovery, after which its name is free', async () => {
    // Arrange
    await client.send(new CreateSecretCommand({ Name: 'sdk/forced', SecretString: 'x' }));

    // Act
    await client.send(new DeleteSecretCommand({ SecretId: 'sdk/forced', ForceDeleteWithoutRecovery: true }));
    const read = await caught(() => client.send(new GetSecretValueCommand({ SecretId: 'sdk/forced' })));
    await client.send(new CreateSecretCommand({ Name: 'sdk/forced', SecretString: 'again' }));

    // Assert
    expect(read.name).toBe('ResourceNotFoundException');
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: 'sdk/forced' }));
    expect(SecretString).toBe('again');
  });

  it('refuses a call signed with a key the edge does not know', async () => {
    // Arrange
    const stranger = new SecretsManagerClient({
      endpoint: edge.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'nobody', secretAccessKey: 'nobody' },
      maxAttempts: 1,
    });

    // Act
    const error = await caught(() => stranger.send(new GetSecretValueCommand({ SecretId: 'sdk/rotated' })));

    // Assert
    expect(error.name).toBe('UnrecognizedClientException');
    stranger.destroy();
  });

  it('answers an operation it does not emulate as UnknownOperationException', async () => {
    // Act
    const response = await signedFetch(`${edge.url}/`, {
      service: 'secretsmanager',
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.ListSecrets' },
      body: '{}',
    });

    // Assert
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      __type: 'UnknownOperationException',
      message: 'The local edge does not emulate Secrets Manager ListSecrets.',
    });
  });
});

describe.skipIf(!hasAwsCli)('the local Secrets Manager through the aws CLI', () => {
  it('creates a secret with create-secret and reads it with get-secret-value', async () => {
    // Act
    const created = await awsSecrets(
      'create-secret',
      '--name',
      'cli/jira/api-token',
      '--secret-string',
      'tok3n',
    );
    const got = await awsSecrets('get-secret-value', '--secret-id', 'cli/jira/api-token');

    // Assert
    expect(created.ARN).toMatch(ARN('cli/jira/api-token'));
    expect(got).toMatchObject({
      ARN: created.ARN,
      Name: 'cli/jira/api-token',
      SecretString: 'tok3n',
      VersionStages: ['AWSCURRENT'],
    });
  });

  it('shows the error a CLI user sees for a missing secret', async () => {
    // Act
    const error = await awsSecrets('get-secret-value', '--secret-id', 'cli/missing').then(
      () => undefined,
      (e: unknown) => e as { stderr: string; code: number },
    );

    // Assert
    expect([254, 255]).toContain(error?.code);
    expect(error?.stderr).toContain(
      `An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: ${NOT_FOUND}`,
    );
  });
});

/** Runs `aws secretsmanager ...` against the edge as the local `test` identity; answers the parsed JSON output. */
async function awsSecrets(...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(
    'aws',
    ['secretsmanager', ...args, '--endpoint-url', edge.url, '--output', 'json'],
    {
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
    },
  );
  return stdout.trim() === '' ? {} : (JSON.parse(stdout) as Record<string, unknown>);
}

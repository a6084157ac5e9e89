import { createServer } from 'node:net';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import {
  GetSecretValueCommand,
  InternalServiceError,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, InternalServerError, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ParameterSecrets } from '../../functions/adapters/secrets';
import { PermanentError, RetryableError } from '../../functions/core/errors';
import { type Edge, startEdge } from '../../infra/local/edge';
import { LOCAL_CREDENTIALS } from '../support/aws';

let edge: Edge;

beforeAll(async () => {
  edge = await startEdge({ port: 0, dynamodb: false });
});

afterAll(async () => {
  await edge.close();
});

afterEach(() => {
  vi.useRealTimers();
});

/** SDK clients on the local edge, each counting the requests it sends. */
function localClients(endpoint = () => edge.url) {
  const config = {
    endpoint: endpoint(),
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  };
  const ssm = new SSMClient(config);
  const secretsManager = new SecretsManagerClient(config);
  const calls = { ssm: 0, secretsManager: 0 };
  ssm.middlewareStack.add(
    (next) => (args) => {
      calls.ssm += 1;
      return next(args);
    },
    { step: 'initialize', name: 'callCounter' },
  );
  secretsManager.middlewareStack.add(
    (next) => (args) => {
      calls.secretsManager += 1;
      return next(args);
    },
    { step: 'initialize', name: 'callCounter' },
  );
  return { ssm, secretsManager, calls };
}

/** ParameterSecrets on the local edge, as the functions build it in Lambda but with the edge's endpoint. */
function secretsOnEdge(maxAgeSeconds?: number) {
  const clients = localClients();
  const secrets = new ParameterSecrets({
    ...(maxAgeSeconds === undefined ? {} : { maxAgeSeconds }),
    ssm: new SSMProvider({ awsSdkV3Client: clients.ssm }),
    secretsManager: new SecretsProvider({ awsSdkV3Client: clients.secretsManager }),
  });
  return { secrets, calls: clients.calls };
}

/**
 * Fakes Date only (the HTTP calls keep their real timers), starting now: the SDK sets its clock by the edge's
 * Date header, which Node writes from the real clock, and the edge checks signatures against the faked one, so
 * the two must stay within SigV4's 15 minutes of each other.
 */
function fakeDate(): number {
  const start = Date.now();
  vi.useFakeTimers({ toFake: ['Date'], now: start });
  return start;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the read to fail, but it succeeded');
}

describe('ParameterSecrets on the local SSM and Secrets Manager', () => {
  it('reads an SSM SecureString decrypted, for a ref that starts with a slash', async () => {
    // Arrange
    edge.ssm.put({ name: '/read/jira/webhook-secret', value: 'first\nsecond', type: 'SecureString' });
    const { secrets, calls } = secretsOnEdge();

    // Act
    const value = await secrets.get('/read/jira/webhook-secret');

    // Assert
    expect(value).toBe('first\nsecond');
    expect(calls).toEqual({ ssm: 1, secretsManager: 0 });
  });

  it('reads a Secrets Manager secret by name and by ARN, for a secretsmanager: ref', async () => {
    // Arrange
    const { ARN } = edge.secrets.create({
      name: 'read/pagerduty/api-key',
      value: { secretString: 'pd-key' },
    });
    const { secrets, calls } = secretsOnEdge();

    // Act
    const byName = await secrets.get('secretsmanager:read/pagerduty/api-key');
    const byArn = await secrets.get(`secretsmanager:${ARN}`);

    // Assert
    expect([byName, byArn]).toEqual(['pd-key', 'pd-key']);
    expect(calls).toEqual({ ssm: 0, secretsManager: 2 });
  });

  it('keeps a value for the default 300 s: a read within them makes no call, one after them sees a new value', async () => {
    // Arrange
    const start = fakeDate();
    edge.ssm.put({ name: '/cache/default', value: 'old', type: 'SecureString' });
    const { secrets, calls } = secretsOnEdge();
    const first = await secrets.get('/cache/default');
    edge.ssm.put({ name: '/cache/default', value: 'new', overwrite: true });

    // Act
    vi.setSystemTime(start + 299_000);
    const within = await secrets.get('/cache/default');
    const callsWithin = calls.ssm;
    vi.setSystemTime(start + 301_000);
    const after = await secrets.get('/cache/default');

    // Assert
    expect([first, within, after]).toEqual(['old', 'old', 'new']);
    expect(callsWithin).toBe(1);
    expect(calls.ssm).toBe(2);
  });

  it('keeps a Secrets Manager value for the maxAge it is given', async () => {
    // Arrange
    const start = fakeDate();
    edge.secrets.create({ name: 'cache/short', value: { secretString: 'v1' } });
    const { secrets, calls } = secretsOnEdge(10);
    await secrets.get('secretsmanager:cache/short');
    edge.secrets.putValue({ secretId: 'cache/short', value: { secretString: 'v2' } });

    // Act
    vi.setSystemTime(start + 9_000);
    const within = await secrets.get('secretsmanager:cache/short');
    vi.setSystemTime(start + 11_000);
    const after = await secrets.get('secretsmanager:cache/short');

    // Assert
    expect([within, after]).toEqual(['v1', 'v2']);
    expect(calls.secretsManager).toBe(2);
  });

  it('says which SSM parameter is missing and how to create it, as a PermanentError', async () => {
    // Arrange
    const { secrets } = secretsOnEdge();

    // Act
    const error = await rejection(secrets.get('/missing/webhook-secret'));

    // Assert
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(
      "The secret /missing/webhook-secret does not exist: SSM has no parameter /missing/webhook-secret. Create it: aws ssm put-parameter --type SecureString --name /missing/webhook-secret --value '<secret>'",
    );
  });

  it('says which Secrets Manager secret is missing, by name or by ARN, and how to create it', async () => {
    // Arrange
    const { secrets } = secretsOnEdge();
    const arn = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:missing/token-AbC123';

    // Act
    const byName = await rejection(secrets.get('secretsmanager:missing/token'));
    const byArn = await rejection(secrets.get(`secretsmanager:${arn}`));

    // Assert
    expect(byName).toBeInstanceOf(PermanentError);
    expect(byName.message).toBe(
      "The secret secretsmanager:missing/token does not exist: Secrets Manager has no secret missing/token. Create it: aws secretsmanager create-secret --name missing/token --secret-string '<secret>'",
    );
    expect(byArn).toBeInstanceOf(PermanentError);
    expect(byArn.message).toBe(
      `The secret secretsmanager:${arn} does not exist: Secrets Manager has no secret ${arn}. Create it (aws secretsmanager create-secret --name missing/token --secret-string '<secret>') and name it in the access rules by the ARN that answers, or as secretsmanager:missing/token.`,
    );
  });

  it('says a Secrets Manager secret created without a value needs one', async () => {
    // Arrange
    edge.secrets.create({ name: 'valueless/token' });
    const { secrets } = secretsOnEdge();

    // Act
    const error = await rejection(secrets.get('secretsmanager:valueless/token'));

    // Assert
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(
      "The secret secretsmanager:valueless/token has no current value in Secrets Manager. Give it one: aws secretsmanager put-secret-value --secret-id valueless/token --secret-string '<secret>'",
    );
  });

  it('reads a secret created after a failed read: a failure is not kept', async () => {
    // Arrange
    const { secrets } = secretsOnEdge();
    await rejection(secrets.get('/late/secret'));
    edge.ssm.put({ name: '/late/secret', value: 'now-here', type: 'SecureString' });

    // Act
    const value = await secrets.get('/late/secret');

    // Assert
    expect(value).toBe('now-here');
  });

  it('refuses a binary secret, which no webhook signature or API token can be', async () => {
    // Arrange
    edge.secrets.create({ name: 'binary/secret', value: { secretBinary: new Uint8Array([1, 2, 3]) } });
    const { secrets } = secretsOnEdge();

    // Act
    const error = await rejection(secrets.get('secretsmanager:binary/secret'));

    // Assert
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(
      'The secret secretsmanager:binary/secret holds a binary value (SecretBinary); store it as a string (--secret-string).',
    );
  });

  it('refuses a secret being deleted as a PermanentError with Secrets Manager’s reason', async () => {
    // Arrange
    edge.secrets.create({ name: 'deleting/secret', value: { secretString: 'x' } });
    edge.secrets.delete('deleting/secret');
    const { secrets } = secretsOnEdge();

    // Act
    const error = await rejection(secrets.get('secretsmanager:deleting/secret'));

    // Assert
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(
      "Could not read the secret secretsmanager:deleting/secret: InvalidRequestException: You can't perform this operation on the secret because it was marked for deletion.",
    );
  });

  it.each(['jira-webhook-secret', 'secretsmanager:', 'ssm:/x'])(
    'refuses the ref %j, which names neither store, without a call',
    async (ref) => {
      // Arrange
      const { secrets, calls } = secretsOnEdge();

      // Act
      const error = await rejection(secrets.get(ref));

      // Assert
      expect(error).toBeInstanceOf(PermanentError);
      expect(error.message).toBe(
        `The secret ${ref} is neither an SSM parameter name (/…) nor secretsmanager:<name or ARN>.`,
      );
      expect(calls).toEqual({ ssm: 0, secretsManager: 0 });
    },
  );
});

describe('ParameterSecrets when the store fails', () => {
  const ssmClient = new SSMClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const secretsClient = new SecretsManagerClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const ssm = mockClient(ssmClient);
  const secretsManager = mockClient(secretsClient);
  const secrets = () =>
    new ParameterSecrets({
      ssm: new SSMProvider({ awsSdkV3Client: ssmClient }),
      secretsManager: new SecretsProvider({ awsSdkV3Client: secretsClient }),
    });

  afterEach(() => {
    ssm.reset();
    secretsManager.reset();
  });

  it('turns SSM throttling into a RetryableError that names the secret', async () => {
    // Arrange
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
    });
    ssm.on(GetParameterCommand).rejects(throttled);

    // Act
    const error = await rejection(secrets().get('/busy/secret'));

    // Assert
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toBe('Could not read the secret /busy/secret: Rate exceeded');
    expect(error.cause).toBe(throttled);
  });

  it('turns a 500 of SSM or of Secrets Manager into a RetryableError', async () => {
    // Arrange
    ssm
      .on(GetParameterCommand)
      .rejects(new InternalServerError({ message: 'Internal error', $metadata: { httpStatusCode: 500 } }));
    secretsManager
      .on(GetSecretValueCommand)
      .rejects(new InternalServiceError({ message: 'Service error', $metadata: { httpStatusCode: 500 } }));

    // Act
    const fromSsm = await rejection(secrets().get('/down/secret'));
    const fromSecretsManager = await rejection(secrets().get('secretsmanager:down/secret'));

    // Assert
    expect(fromSsm).toBeInstanceOf(RetryableError);
    expect(fromSsm.message).toBe('Could not read the secret /down/secret: Internal error');
    expect(fromSecretsManager).toBeInstanceOf(RetryableError);
    expect(fromSecretsManager.message).toBe(
      'Could not read the secret secretsmanager:down/secret: Service error',
    );
  });

  it('turns an access denial into a PermanentError with AWS’s reason', async () => {
    // Arrange
    const denied = Object.assign(
      new Error(
        'User: arn:aws:sts::111122223333:assumed-role/webhook/fn is not authorized to perform: secretsmanager:GetSecretValue on resource: jira because no identity-based policy allows the secretsmanager:GetSecretValue action',
      ),
      { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } },
    );
    secretsManager.on(GetSecretValueCommand).rejects(denied);

    // Act
    const error = await rejection(secrets().get('secretsmanager:jira'));

    // Assert
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(
      `Could not read the secret secretsmanager:jira: AccessDeniedException: ${denied.message}`,
    );
  });

  it('turns a store it cannot reach into a RetryableError', async () => {
    // Arrange: a port nothing listens on.
    const port = await closedPort();
    const clients = localClients(() => `http://127.0.0.1:${port}`);
    const unreachable = new ParameterSecrets({ ssm: new SSMProvider({ awsSdkV3Client: clients.ssm }) });

    // Act
    const error = await rejection(unreachable.get('/unreachable/secret'));

    // Assert
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toMatch(/^Could not read the secret \/unreachable\/secret: .*ECONNREFUSED/);
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

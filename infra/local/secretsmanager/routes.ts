import type { ServerResponse } from 'node:http';
import { type EdgeRequest, type ServiceHandler, sendAwsError, sendJson } from '../http';
import { JsonInput } from '../json-input';
import { type LocalSecrets, SecretsManagerError, type SecretValue } from './secret-store';

const CONTENT_TYPE = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'secretsmanager.';

/** A body that does not fit the model, answered as SerializationException. */
class SerializationError extends Error {}
class UnknownOperationError extends Error {}

const json = new JsonInput({
  notJson: () => new SerializationError('The request body is not valid JSON.'),
  notObject: () => new SerializationError('The request body must be a JSON object.'),
  wrongType: (message) => new SerializationError(message),
  missing: (key) =>
    new SecretsManagerError('InvalidParameterException', `You must provide a value for ${key}.`),
});

/**
 * The JSON 1.1 binding of the local Secrets Manager (`x-amz-target: secretsmanager.<Operation>`): GetSecretValue,
 * CreateSecret, PutSecretValue, DeleteSecret. Shapes from the Secrets Manager API reference; the error body is
 * `{"__type": "<name>", "message": "..."}` with status 400, as clients' fixtures of the real service show it.
 */
export function createSecretsManagerHandler(secrets: LocalSecrets): ServiceHandler {
  return async (req: EdgeRequest, res: ServerResponse) => {
    const operation = String(req.headers['x-amz-target'] ?? '').slice(TARGET_PREFIX.length);
    try {
      const input = json.parseBody(req.body);
      sendJson(res, 200, dispatch(secrets, operation, input), CONTENT_TYPE);
    } catch (error) {
      const type =
        error instanceof SecretsManagerError
          ? error.code
          : error instanceof SerializationError
            ? 'SerializationException'
            : error instanceof UnknownOperationError
              ? 'UnknownOperationException'
              : undefined;
      if (type === undefined) throw error;
      sendAwsError(res, 400, type, (error as Error).message, {
        contentType: CONTENT_TYPE,
        extraBody: { __type: type },
      });
    }
  };
}

function dispatch(secrets: LocalSecrets, operation: string, input: Record<string, unknown>): unknown {
  switch (operation) {
    case 'GetSecretValue': {
      const versionId = json.optionalString(input, 'VersionId');
      const versionStage = json.optionalString(input, 'VersionStage');
      return secrets.getValue(json.requiredString(input, 'SecretId'), {
        ...(versionId === undefined ? {} : { versionId }),
        ...(versionStage === undefined ? {} : { versionStage }),
      });
    }
    case 'CreateSecret': {
      const value = readValue(input);
      return secrets.create({
        name: json.requiredString(input, 'Name'),
        ...(value === undefined ? {} : { value }),
        ...token(input),
      });
    }
    case 'PutSecretValue': {
      const value = readValue(input);
      if (!value) {
        throw new SecretsManagerError(
          'InvalidRequestException',
          'You must provide either SecretString or SecretBinary.',
        );
      }
      return secrets.putValue({ secretId: json.requiredString(input, 'SecretId'), value, ...token(input) });
    }
    case 'DeleteSecret': {
      const force = input.ForceDeleteWithoutRecovery;
      if (force !== undefined && force !== null && typeof force !== 'boolean') {
        throw json.errors.wrongType('ForceDeleteWithoutRecovery must be a boolean.');
      }
      const recoveryWindowInDays = json.optionalNumber(input, 'RecoveryWindowInDays');
      return secrets.delete(json.requiredString(input, 'SecretId'), {
        force: force === true,
        ...(recoveryWindowInDays === undefined ? {} : { recoveryWindowInDays }),
      });
    }
    default:
      throw new UnknownOperationError(`The local edge does not emulate Secrets Manager ${operation}.`);
  }
}

/** SecretString or SecretBinary (base64), never both; undefined when neither is given. */
function readValue(input: Record<string, unknown>): SecretValue | undefined {
  const secretString = json.optionalString(input, 'SecretString');
  const secretBinary = json.optionalString(input, 'SecretBinary');
  if (secretString !== undefined && secretBinary !== undefined) {
    throw new SecretsManagerError(
      'InvalidParameterException',
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (secretString !== undefined) return { secretString };
  if (secretBinary !== undefined) return { secretBinary: Buffer.from(secretBinary, 'base64') };
  return undefined;
}

function token(input: Record<string, unknown>): { clientRequestToken?: string } {
  const clientRequestToken = json.optionalString(input, 'ClientRequestToken');
  return clientRequestToken === undefined ? {} : { clientRequestToken };
}

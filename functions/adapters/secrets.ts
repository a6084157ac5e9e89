// Subpath imports: the package's root entry pulls in every provider (AppConfig, DynamoDB) and its SDK client.
import { GetParameterError } from '@aws-lambda-powertools/parameters/errors';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { Secrets } from '../app/ports';
import { PermanentError } from '../core/errors';
import type { SecretRef } from '../core/tickets/config';
import { translateAwsError } from './aws-errors';

/**
 * How long a secret read is kept by default. Powertools' own default (5 s) would read SSM or Secrets Manager on
 * nearly every webhook; a rotated secret is seen within this.
 */
export const DEFAULT_SECRET_MAX_AGE_SECONDS = 300;

const SECRETS_MANAGER_PREFIX = 'secretsmanager:';

/** The names SSM and Secrets Manager give a read of something that is not there. */
const NOT_FOUND_NAMES = new Set(['ParameterNotFound', 'ResourceNotFoundException']);

type Source =
  | { readonly store: 'ssm'; readonly name: string }
  | { readonly store: 'secretsmanager'; readonly id: string };

/**
 * The secrets the access rules name, read through Powertools Parameters and kept in its cache for `maxAgeSeconds`:
 * a ref `/…` is an SSM parameter (a SecureString is decrypted), `secretsmanager:<name or ARN>` a Secrets Manager
 * secret's current SecretString. A missing one is a PermanentError that says what to create; throttling, a 5xx
 * or the network a RetryableError; any other refusal (access denied, a secret being deleted) a PermanentError.
 */
export class ParameterSecrets implements Secrets {
  private readonly maxAge: number;
  private ssm: SSMProvider | undefined;
  private secretsManager: SecretsProvider | undefined;

  constructor(
    options: {
      readonly maxAgeSeconds?: number;
      readonly ssm?: SSMProvider;
      readonly secretsManager?: SecretsProvider;
    } = {},
  ) {
    this.maxAge = options.maxAgeSeconds ?? DEFAULT_SECRET_MAX_AGE_SECONDS;
    this.ssm = options.ssm;
    this.secretsManager = options.secretsManager;
  }

  async get(ref: SecretRef): Promise<string> {
    const source = sourceOf(ref);
    let value: string | Uint8Array | undefined;
    try {
      value =
        source.store === 'ssm'
          ? await this.ssmProvider().get(source.name, { decrypt: true, maxAge: this.maxAge })
          : await this.secretsProvider().get(source.id, { maxAge: this.maxAge });
    } catch (error) {
      throw translate(error, ref, source);
    }
    if (value === undefined) throw new PermanentError(missingMessage(ref, source));
    if (typeof value !== 'string') {
      throw new PermanentError(
        `The secret ${ref} holds a binary value (SecretBinary); store it as a string (--secret-string).`,
      );
    }
    return value;
  }

  // Each provider is built on first use: a function that reads only SSM never creates a Secrets Manager client.
  private ssmProvider(): SSMProvider {
    this.ssm ??= new SSMProvider();
    return this.ssm;
  }

  private secretsProvider(): SecretsProvider {
    this.secretsManager ??= new SecretsProvider();
    return this.secretsManager;
  }
}

function sourceOf(ref: SecretRef): Source {
  if (ref.startsWith('/')) return { store: 'ssm', name: ref };
  if (ref.startsWith(SECRETS_MANAGER_PREFIX) && ref.length > SECRETS_MANAGER_PREFIX.length) {
    return { store: 'secretsmanager', id: ref.slice(SECRETS_MANAGER_PREFIX.length) };
  }
  throw new PermanentError(
    `The secret ${ref} is neither an SSM parameter name (/…) nor secretsmanager:<name or ARN>.`,
  );
}

/** Powertools wraps what the SDK threw in a GetParameterError; the SDK's error (its `cause`) is what tells. */
function translate(error: unknown, ref: SecretRef, source: Source): unknown {
  const cause = error instanceof GetParameterError && error.cause !== undefined ? error.cause : error;
  if (cause instanceof Error && NOT_FOUND_NAMES.has(cause.name)) {
    return new PermanentError(missingMessage(ref, source, cause.message), { cause });
  }
  return translateAwsError(cause, `Could not read the secret ${ref}`);
}

/** What is missing, and the aws CLI command that creates it. */
function missingMessage(ref: SecretRef, source: Source, awsMessage = ''): string {
  if (source.store === 'ssm') {
    return `The secret ${ref} does not exist: SSM has no parameter ${source.name}. Create it: aws ssm put-parameter --type SecureString --name ${source.name} --value '<secret>'`;
  }
  // The secret exists but was created without a value: it needs a version, not a new secret.
  if (awsMessage.includes('secret value')) {
    return `The secret ${ref} has no current value in Secrets Manager. Give it one: aws secretsmanager put-secret-value --secret-id ${source.id} --secret-string '<secret>'`;
  }
  if (source.id.startsWith('arn:')) {
    const name = secretNameOfArn(source.id);
    return `The secret ${ref} does not exist: Secrets Manager has no secret ${source.id}. Create it (aws secretsmanager create-secret --name ${name} --secret-string '<secret>') and name it in the access rules by the ARN that answers, or as secretsmanager:${name}.`;
  }
  return `The secret ${ref} does not exist: Secrets Manager has no secret ${source.id}. Create it: aws secretsmanager create-secret --name ${source.id} --secret-string '<secret>'`;
}

/** `arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf` -> `<name>` (the suffix is Secrets Manager's). */
function secretNameOfArn(arn: string): string {
  const at = arn.indexOf(':secret:');
  if (at < 0) return arn;
  const name = arn.slice(at + ':secret:'.length);
  return /-[A-Za-z0-9]{6}$/.test(name) ? name.slice(0, -7) : name;
}

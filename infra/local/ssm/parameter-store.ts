import { createHash } from 'node:crypto';

export type ParameterType = 'String' | 'StringList' | 'SecureString';

export const PARAMETER_TYPES: readonly ParameterType[] = ['SecureString', 'StringList', 'String'];

/** One parameter as GetParameter answers it (`Value` decrypted or not, as asked). */
export interface ParameterView {
  readonly Name: string;
  readonly Type: ParameterType;
  readonly Value: string;
  readonly Version: number;
  /** Epoch seconds, as the JSON protocols send timestamps. */
  readonly LastModifiedDate: number;
  readonly ARN: string;
  readonly DataType: string;
}

export interface PutParameterInput {
  readonly name: string;
  readonly value: string;
  /** Required to create a parameter; on an overwrite, absent keeps the type it had. */
  readonly type?: ParameterType;
  readonly overwrite?: boolean;
  readonly dataType?: string;
}

/** The SSM errors this emulation answers, by the name SDKs give them. */
export type SsmErrorCode = 'ParameterNotFound' | 'ParameterAlreadyExists' | 'ValidationException';

/** An SSM refusal; `message` undefined is how SSM answers ParameterNotFound: no message at all. */
export class SsmError extends Error {
  override readonly name = 'SsmError';
  constructor(
    readonly code: SsmErrorCode,
    readonly wireMessage?: string,
  ) {
    super(wireMessage ?? code);
  }
}

interface StoredParameter {
  readonly name: string;
  readonly type: ParameterType;
  readonly value: string;
  readonly version: number;
  readonly lastModified: number;
  readonly dataType: string;
}

/*
 * Wording from the SSM API reference (docs.aws.amazon.com/systems-manager/latest/APIReference, GetParameter,
 * PutParameter, Parameter) and what clients show of real answers: ParameterNotFound has no message ("An error
 * occurred (ParameterNotFound) when calling the GetParameter operation: ", awslabs/aws-simple-cicd#10; "message:
 * null" in vandium-io/aws-param-store#8); ParameterAlreadyExists "The parameter already exists. To overwrite this
 * value, set the overwrite option in the request to true." (garystafford/emr-demo#1); the 1-validation-error
 * sentences as in modernisation-platform#8116 and localstack#7672.
 */
const ALREADY_EXISTS =
  'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.';
const TYPE_REQUIRED = 'A parameter type is required when you create a parameter.';
const INVALID_NAME =
  'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_';
const NOT_FULLY_QUALIFIED = 'Parameter name must be a fully qualified name.';
const MAX_NAME_LENGTH = 2048;
/** The Standard tier's limit; the local store has only that tier. Wording as quoted in aws/aws-sdk-net#3157. */
const MAX_VALUE_LENGTH = 4096;
const VALUE_TOO_LONG =
  'Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html';

/**
 * SSM Parameter Store for the local edge, in memory: what Powertools Parameters' SSMProvider and the aws CLI
 * read and write (GetParameter, GetParameters, PutParameter, DeleteParameter). One tier (Standard), no KMS: a
 * SecureString read without decryption answers an opaque stand-in for the ciphertext, never the value.
 */
export class LocalParameterStore {
  private readonly parameters = new Map<string, StoredParameter>();
  private readonly now: () => number;

  constructor(
    private readonly options: {
      readonly accountId: string;
      readonly region: string;
      readonly now?: () => number;
    },
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Creates or (with `overwrite`) replaces a parameter; answers its new version. */
  put(input: PutParameterInput): { version: number } {
    validateName(input.name);
    validateNewName(input.name);
    if (input.value.length === 0) {
      throw validation(
        "Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1",
      );
    }
    if (input.value.length > MAX_VALUE_LENGTH) throw new SsmError('ValidationException', VALUE_TOO_LONG);
    const existing = this.parameters.get(input.name);
    if (existing && !input.overwrite) throw new SsmError('ParameterAlreadyExists', ALREADY_EXISTS);
    const type = input.type ?? existing?.type;
    if (!type) throw new SsmError('ValidationException', TYPE_REQUIRED);
    const version = (existing?.version ?? 0) + 1;
    this.parameters.set(input.name, {
      name: input.name,
      type,
      value: input.value,
      version,
      lastModified: this.now(),
      dataType: input.dataType ?? existing?.dataType ?? 'text',
    });
    return { version };
  }

  /** The parameter as GetParameter answers it; ParameterNotFound when there is none. */
  get(name: string, withDecryption: boolean): ParameterView {
    validateName(name);
    const found = this.parameters.get(name);
    if (!found) throw new SsmError('ParameterNotFound');
    return this.view(found, withDecryption);
  }

  /** GetParameters: the ones found, and the names of the others (not an error). */
  getMany(
    names: readonly string[],
    withDecryption: boolean,
  ): { Parameters: ParameterView[]; InvalidParameters: string[] } {
    const found: ParameterView[] = [];
    const invalid: string[] = [];
    for (const name of new Set(names)) {
      const parameter = this.parameters.get(name);
      if (parameter) found.push(this.view(parameter, withDecryption));
      else invalid.push(name);
    }
    return { Parameters: found, InvalidParameters: invalid };
  }

  delete(name: string): void {
    validateName(name);
    if (!this.parameters.delete(name)) throw new SsmError('ParameterNotFound');
  }

  /** Every parameter's name, sorted (for a person at a terminal or a test; not an SSM operation). */
  names(): string[] {
    return [...this.parameters.keys()].sort();
  }

  arnOf(name: string): string {
    // A hierarchical name keeps its leading slash after "parameter"; a flat one gets one.
    const path = name.startsWith('/') ? name : `/${name}`;
    return `arn:aws:ssm:${this.options.region}:${this.options.accountId}:parameter${path}`;
  }

  private view(parameter: StoredParameter, withDecryption: boolean): ParameterView {
    return {
      Name: parameter.name,
      Type: parameter.type,
      Value:
        parameter.type === 'SecureString' && !withDecryption ? standInCiphertext(parameter) : parameter.value,
      Version: parameter.version,
      LastModifiedDate: parameter.lastModified / 1000,
      ARN: this.arnOf(parameter.name),
      DataType: parameter.dataType,
    };
  }
}

/** What a caller that forgot WithDecryption gets: base64 like KMS ciphertext, and nothing of the value. */
function standInCiphertext(parameter: StoredParameter): string {
  return createHash('sha256')
    .update(`${parameter.name}\u0000${parameter.version}\u0000${parameter.value}`)
    .digest('base64');
}

/** What every operation checks of a name: its length, and a leading slash on a hierarchical one. */
function validateName(name: string): void {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw validation(
      `Value '${name}' at 'name' failed to satisfy constraint: Member must have length ${name.length === 0 ? 'greater than or equal to 1' : `less than or equal to ${MAX_NAME_LENGTH}`}`,
    );
  }
  if (name.includes('/') && !name.startsWith('/')) {
    throw new SsmError('ValidationException', NOT_FULLY_QUALIFIED);
  }
}

/** What PutParameter checks besides: the characters, and the prefixes AWS keeps for its own parameters. */
function validateNewName(name: string): void {
  const segments = (name.startsWith('/') ? name.slice(1) : name).split('/');
  const first = segments[0]?.toLowerCase() ?? '';
  if (
    segments.some((segment) => !/^[A-Za-z0-9_.-]+$/.test(segment)) ||
    first.startsWith('aws') ||
    first.startsWith('ssm')
  ) {
    throw new SsmError('ValidationException', INVALID_NAME);
  }
}

function validation(detail: string): SsmError {
  return new SsmError('ValidationException', `1 validation error detected: ${detail}`);
}

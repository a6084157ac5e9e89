import { randomInt, randomUUID } from 'node:crypto';

/** The Secrets Manager errors this emulation answers, by the name SDKs give them. */
export type SecretsManagerErrorCode =
  | 'ResourceNotFoundException'
  | 'ResourceExistsException'
  | 'InvalidRequestException'
  | 'InvalidParameterException';

export class SecretsManagerError extends Error {
  override readonly name = 'SecretsManagerError';
  constructor(
    readonly code: SecretsManagerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A secret's value: a string, or bytes (base64 on the wire). */
export type SecretValue = { readonly secretString: string } | { readonly secretBinary: Uint8Array };

export interface SecretValueView {
  readonly ARN: string;
  readonly Name: string;
  readonly VersionId: string;
  readonly SecretString?: string;
  /** base64, as the JSON protocol sends blobs. */
  readonly SecretBinary?: string;
  readonly VersionStages: string[];
  /** Epoch seconds. */
  readonly CreatedDate: number;
}

interface SecretVersion {
  readonly id: string;
  readonly value: SecretValue;
  readonly created: number;
  stages: string[];
}

interface StoredSecret {
  readonly name: string;
  readonly arn: string;
  readonly versions: Map<string, SecretVersion>;
  /** Epoch ms when a scheduled deletion takes effect; undefined while the secret is live. */
  deletionDate: number | undefined;
}

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
/** DeleteSecret's default recovery window, and its bounds (Secrets Manager API reference, DeleteSecret). */
const DEFAULT_RECOVERY_DAYS = 30;
const MIN_RECOVERY_DAYS = 7;
const MAX_RECOVERY_DAYS = 30;
const DAY_MS = 24 * 3600 * 1000;
const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/*
 * Wording as Secrets Manager answers (API reference, Common Errors and each operation's Errors, and clients'
 * reports): "Secrets Manager can't find the specified secret." (ibm-mas/cli#937); "The operation failed because
 * the secret <name> already exists." (getmoto/moto#9700, quoting AWS); "You can't create this secret because a
 * secret with this name is already scheduled for deletion." (localstack#6530, redpanda-data/console#1835).
 */
const NOT_FOUND = "Secrets Manager can't find the specified secret.";
const MARKED_FOR_DELETION =
  "You can't perform this operation on the secret because it was marked for deletion.";
const INVALID_NAME =
  'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!';

/**
 * Secrets Manager for the local edge, in memory: CreateSecret, PutSecretValue, GetSecretValue, DeleteSecret,
 * what Powertools Parameters' SecretsProvider and the aws CLI use. A secret is found by name or by ARN (the ARN
 * ends in `-` and six random characters, as in AWS). Versions move the AWSCURRENT/AWSPREVIOUS labels as AWS does.
 * A deletion without ForceDeleteWithoutRecovery schedules it: the secret refuses reads until it is gone.
 */
export class LocalSecrets {
  private readonly secrets = new Map<string, StoredSecret>();
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

  /** CreateSecret: a new secret, with a first version when a value is given. */
  create(input: { name: string; value?: SecretValue; clientRequestToken?: string }): {
    ARN: string;
    Name: string;
    VersionId?: string;
  } {
    if (!/^[A-Za-z0-9/_+=.@!-]{1,512}$/.test(input.name)) {
      throw new SecretsManagerError('InvalidParameterException', INVALID_NAME);
    }
    const existing = this.live(input.name);
    if (existing?.deletionDate !== undefined) {
      throw new SecretsManagerError(
        'InvalidRequestException',
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
      );
    }
    if (existing) {
      throw new SecretsManagerError(
        'ResourceExistsException',
        `The operation failed because the secret ${input.name} already exists.`,
      );
    }
    const secret: StoredSecret = {
      name: input.name,
      arn: `arn:aws:secretsmanager:${this.options.region}:${this.options.accountId}:secret:${input.name}-${suffix()}`,
      versions: new Map(),
      deletionDate: undefined,
    };
    this.secrets.set(input.name, secret);
    if (!input.value) return { ARN: secret.arn, Name: secret.name };
    const version = this.addVersion(secret, input.value, input.clientRequestToken);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id };
  }

  /** PutSecretValue: a new current version; the token is the version id, and repeating it changes nothing. */
  putValue(input: { secretId: string; value: SecretValue; clientRequestToken?: string }): {
    ARN: string;
    Name: string;
    VersionId: string;
    VersionStages: string[];
  } {
    const secret = this.usable(input.secretId);
    const version = this.addVersion(secret, input.value, input.clientRequestToken);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  /** GetSecretValue of the AWSCURRENT version, or of the version or label asked for. */
  getValue(secretId: string, select: { versionId?: string; versionStage?: string } = {}): SecretValueView {
    const secret = this.usable(secretId);
    const stage = select.versionStage ?? (select.versionId === undefined ? CURRENT : undefined);
    const version = [...secret.versions.values()].find(
      (candidate) =>
        (select.versionId === undefined || candidate.id === select.versionId) &&
        (stage === undefined || candidate.stages.includes(stage)),
    );
    if (!version) {
      throw new SecretsManagerError(
        'ResourceNotFoundException',
        select.versionId === undefined
          ? `Secrets Manager can't find the specified secret value for staging label: ${stage}`
          : `Secrets Manager can't find the specified secret value for VersionId: ${select.versionId}`,
      );
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      ...('secretString' in version.value
        ? { SecretString: version.value.secretString }
        : { SecretBinary: Buffer.from(version.value.secretBinary).toString('base64') }),
      VersionStages: [...version.stages],
      CreatedDate: version.created / 1000,
    };
  }

  /** DeleteSecret: at once with `force`, else after the recovery window (7 to 30 days, 30 by default). */
  delete(
    secretId: string,
    options: { force?: boolean; recoveryWindowInDays?: number } = {},
  ): { ARN: string; Name: string; DeletionDate: number } {
    if (options.force && options.recoveryWindowInDays !== undefined) {
      throw new SecretsManagerError(
        'InvalidParameterException',
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
      );
    }
    const days = options.recoveryWindowInDays ?? DEFAULT_RECOVERY_DAYS;
    if (!options.force && (days < MIN_RECOVERY_DAYS || days > MAX_RECOVERY_DAYS)) {
      throw new SecretsManagerError(
        'InvalidParameterException',
        `The RecoveryWindowInDays value must be between ${MIN_RECOVERY_DAYS} and ${MAX_RECOVERY_DAYS} days (inclusive).`,
      );
    }
    const secret = this.find(secretId);
    if (options.force) {
      this.secrets.delete(secret.name);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: this.now() / 1000 };
    }
    secret.deletionDate ??= this.now() + days * DAY_MS;
    return { ARN: secret.arn, Name: secret.name, DeletionDate: secret.deletionDate / 1000 };
  }

  /** Every live secret's name, sorted (for a person at a terminal or a test; not a Secrets Manager operation). */
  names(): string[] {
    return [...this.secrets.keys()].filter((name) => this.live(name) !== undefined).sort();
  }

  private addVersion(secret: StoredSecret, value: SecretValue, token: string | undefined): SecretVersion {
    const id = token ?? randomUUID();
    const existing = secret.versions.get(id);
    if (existing) {
      // The SDKs send a fresh token per call; a repeated one is a retry of the same write.
      if (sameValue(existing.value, value)) return existing;
      throw new SecretsManagerError(
        'ResourceExistsException',
        "You can't modify an existing version, you can only create a new version.",
      );
    }
    for (const version of secret.versions.values()) {
      if (version.stages.includes(PREVIOUS)) version.stages = version.stages.filter((s) => s !== PREVIOUS);
      if (version.stages.includes(CURRENT)) {
        version.stages = [...version.stages.filter((s) => s !== CURRENT), PREVIOUS];
      }
    }
    // Versions with no label left are of no use to any read this emulation answers.
    for (const [versionId, version] of secret.versions) {
      if (version.stages.length === 0) secret.versions.delete(versionId);
    }
    const version: SecretVersion = { id, value, created: this.now(), stages: [CURRENT] };
    secret.versions.set(id, version);
    return version;
  }

  /** The secret named or ARN'd by `secretId`, scheduled for deletion or not; ResourceNotFoundException if none. */
  private find(secretId: string): StoredSecret {
    const byName = this.live(secretId);
    if (byName) return byName;
    for (const name of this.secrets.keys()) {
      const secret = this.live(name);
      // The full ARN, or the ARN without its random suffix (a "partial ARN").
      if (secret && (secret.arn === secretId || secret.arn.slice(0, -7) === secretId)) return secret;
    }
    throw new SecretsManagerError('ResourceNotFoundException', NOT_FOUND);
  }

  /** The secret, refusing one scheduled for deletion. */
  private usable(secretId: string): StoredSecret {
    const secret = this.find(secretId);
    if (secret.deletionDate !== undefined) {
      throw new SecretsManagerError('InvalidRequestException', MARKED_FOR_DELETION);
    }
    return secret;
  }

  /** The secret of that name, dropping it first if its scheduled deletion has come. */
  private live(name: string): StoredSecret | undefined {
    const secret = this.secrets.get(name);
    if (secret?.deletionDate !== undefined && secret.deletionDate <= this.now()) {
      this.secrets.delete(name);
      return undefined;
    }
    return secret;
  }
}

function sameValue(a: SecretValue, b: SecretValue): boolean {
  if ('secretString' in a) return 'secretString' in b && a.secretString === b.secretString;
  return 'secretBinary' in b && Buffer.from(a.secretBinary).equals(Buffer.from(b.secretBinary));
}

function suffix(): string {
  let text = '';
  for (let i = 0; i < 6; i += 1) text += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  return text;
}

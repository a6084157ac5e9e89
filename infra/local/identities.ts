import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';

/** The identities the local edge knows unless told otherwise (`--identities`, EdgeOptions.identitiesFile). */
export const DEFAULT_IDENTITIES_FILE = fileURLToPath(new URL('./identities.json', import.meta.url));

/** The access key the local broker's own functions sign with, from the default identities file. */
export const BROKER_LOCAL_CREDENTIALS = {
  accessKeyId: 'brokerlocal',
  secretAccessKey: 'brokerlocal',
} as const;

/**
 * Who signed a request, once the edge has checked the signature: what STS would answer for it, what SQS puts
 * in SenderId, and what a resource policy is evaluated against.
 *
 * A static key of a role is a local shortcut (AWS gives roles no keys): the edge treats it as a session of
 * that role named after the access key id, so `arn` is `arn:aws:sts::<account>:assumed-role/<role>/<key>` and
 * `userId` is `<RoleId>:<key>`, exactly what an assumed-role session shows AWS.
 */
export interface AuthenticatedCaller {
  readonly accessKeyId: string;
  /** As GetCallerIdentity answers it: the session ARN for a role, the user ARN for a user. */
  readonly arn: string;
  /** The IAM role or user the key belongs to (aws:PrincipalArn in a policy evaluation). */
  readonly principalArn: string;
  readonly account: string;
  /** As GetCallerIdentity answers it and SQS records it in SenderId: `AROA…:<session>` or `AIDA…`. */
  readonly userId: string;
}

/** One entry of the identities file with what the edge derives from it. */
export interface LocalIdentity {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** arn:aws:iam::<account>:role/<path><name> or arn:aws:iam::<account>:user/<path><name> */
  readonly principalArn: string;
  readonly description: string | undefined;
  readonly type: 'role' | 'user';
  readonly account: string;
  readonly name: string;
  /** "/" or "/a/b/", as IAM reports it. */
  readonly path: string;
  /** The RoleId (AROA…) or UserId (AIDA…): derived from the ARN, so the same ARN always gets the same id. */
  readonly uniqueId: string;
  readonly caller: AuthenticatedCaller;
}

export class IdentitiesFileError extends Error {
  override readonly name = 'IdentitiesFileError';
}

const IAM_ARN = /^arn:aws:iam::(\d{12}):(role|user)((?:\/[\w+=,.@-]+)*\/)([\w+=,.@-]{1,64})$/;

const fileSchema = z.strictObject({
  identities: z
    .array(
      z.strictObject({
        // DynamoDB Local (behind the edge) refuses keys with anything but letters and digits.
        accessKeyId: z.string().regex(/^[A-Za-z0-9]{1,128}$/, 'letters and digits only (1-128)'),
        secretAccessKey: z.string().min(1),
        arn: z.string().regex(IAM_ARN, 'an IAM role or user ARN: arn:aws:iam::<12 digits>:role/<name>'),
        description: z.string().optional(),
      }),
    )
    .min(1),
});

/** The identities by access key id, for the edge's signature check, STS and IAM. */
export class LocalIdentities {
  private readonly byKey: ReadonlyMap<string, LocalIdentity>;

  constructor(
    readonly origin: string,
    identities: readonly LocalIdentity[],
  ) {
    this.byKey = new Map(identities.map((identity) => [identity.accessKeyId, identity]));
  }

  byAccessKey(accessKeyId: string): LocalIdentity | undefined {
    return this.byKey.get(accessKeyId);
  }

  /** The role named `roleName` that some identity belongs to, as IAM GetRole finds it. */
  role(roleName: string): LocalIdentity | undefined {
    return this.list().find((identity) => identity.type === 'role' && identity.name === roleName);
  }

  list(): readonly LocalIdentity[] {
    return [...this.byKey.values()];
  }

  /** One line per identity, for `npm start`. */
  describe(): string[] {
    return this.list().map(
      (identity) =>
        `${identity.accessKeyId} / ${identity.secretAccessKey}  ${identity.principalArn} (${identity.uniqueId})` +
        (identity.description ? `: ${identity.description}` : ''),
    );
  }
}

/** Reads and checks an identities file; a bad file stops the edge with a message naming the problem. */
export function loadIdentities(file: string = DEFAULT_IDENTITIES_FILE): LocalIdentities {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new IdentitiesFileError(`Identities file ${file}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new IdentitiesFileError(`Identities file ${file} is invalid: ${problems.join('; ')}`);
  }
  const seen = new Set<string>();
  const identities = parsed.data.identities.map((entry) => {
    if (seen.has(entry.accessKeyId)) {
      throw new IdentitiesFileError(`Identities file ${file}: access key ${entry.accessKeyId} appears twice`);
    }
    seen.add(entry.accessKeyId);
    return toIdentity(entry.accessKeyId, entry.secretAccessKey, entry.arn, entry.description);
  });
  return new LocalIdentities(file, identities);
}

function toIdentity(
  accessKeyId: string,
  secretAccessKey: string,
  principalArn: string,
  description: string | undefined,
): LocalIdentity {
  const match = IAM_ARN.exec(principalArn) as RegExpExecArray;
  const [, account = '', kind, path = '/', name = ''] = match;
  const type = kind === 'role' ? 'role' : 'user';
  const uniqueId = uniqueIdFor(principalArn, type);
  const caller: AuthenticatedCaller =
    type === 'role'
      ? {
          accessKeyId,
          // The session name is the access key id (letters and digits: a valid RoleSessionName).
          arn: `arn:aws:sts::${account}:assumed-role/${name}/${accessKeyId}`,
          principalArn,
          account,
          userId: `${uniqueId}:${accessKeyId}`,
        }
      : { accessKeyId, arn: principalArn, principalArn, account, userId: uniqueId };
  return {
    accessKeyId,
    secretAccessKey,
    principalArn,
    description,
    type,
    account,
    name,
    path,
    uniqueId,
    caller,
  };
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** AROA/AIDA + 17 characters of [A-Z2-7], from a hash of the ARN: the shape of IAM's unique ids, stable. */
function uniqueIdFor(arn: string, type: 'role' | 'user'): string {
  const digest = createHash('sha256').update(arn).digest();
  let id = '';
  for (let i = 0; i < 17; i++) id += BASE32[(digest[i] ?? 0) % 32];
  return `${type === 'role' ? 'AROA' : 'AIDA'}${id}`;
}

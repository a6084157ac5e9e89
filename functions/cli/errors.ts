/**
 * What `npx eks-access-broker` exits with, for scripts (README, Operations runbook). With --wait, the request's
 * fate; without it, 0 once the request is on the bus.
 */
export const EXIT_CODES = {
  /** Done: granted, revoked or extended with --wait; any other command did what it says. */
  done: 0,
  /** The command could not run to its end: a bad option, or AWS refused or could not be reached. */
  error: 1,
  /** --wait: the broker rejected the request (`Access Grant Rejected`, with its code and reason). */
  rejected: 2,
  /** --wait: the broker took the request but could not carry it out (`Access Grant Failed`, ...). */
  failed: 3,
  /** --wait: no outcome within --timeout; the broker may still act on the request. */
  timedOut: 4,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** A failure of the command for the person at the terminal: one line that says what to do, no stack. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: ExitCode;

  constructor(message: string, options: { readonly exitCode?: ExitCode; readonly cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options.exitCode ?? EXIT_CODES.error;
  }
}

/** Where the command was talking to, for the sentence that says what to change. */
export interface CliTarget {
  /** AWS_ENDPOINT_URL: the local broker of `npm start`, or absent for AWS. */
  readonly endpoint: string | undefined;
  /** The region the CLI set, when it set one (otherwise the SDK reads the profile's). */
  readonly region: string | undefined;
  readonly tableName: string;
  readonly busName: string;
}

const REFUSED_CREDENTIALS = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'IncompleteSignatureException',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'AuthFailure',
]);
const EXPIRED_CREDENTIALS = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'TokenRefreshRequired',
]);
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation']);
const BUSY = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
  'InternalFailure',
]);
const UNREACHABLE = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)\b/;

/**
 * The errors people meet at a terminal, as one sentence that says what to do: credentials missing, refused or
 * expired, access denied, nothing answering, the table or the bus not there, no region, AWS busy. Answers
 * undefined for anything else (runCli prints it on one line too). Adapters wrap SDK errors (a RetryableError
 * with the SDK's as `cause`): the whole chain is looked at.
 */
export function explainError(error: unknown, target: CliTarget): CliError | undefined {
  if (error instanceof CliError) return error;
  const chain = causes(error);
  const names = new Set(chain.map((e) => e.name));
  const text = chain.map((e) => `${e.name} ${e.message} ${e.code ?? ''}`).join(' ');
  const found = (set: ReadonlySet<string>) => [...names].find((name) => set.has(name));
  const say = (message: string) => new CliError(message, { cause: error });
  const local = target.endpoint !== undefined;
  const where = local
    ? `the local broker at ${target.endpoint}`
    : target.region
      ? `region ${target.region}`
      : "your AWS profile's region";

  const network = UNREACHABLE.exec(text)?.[1];
  if (network) {
    return say(
      local
        ? `Nothing answers at ${target.endpoint} (${network}): start the local broker with \`npm start\`, or fix AWS_ENDPOINT_URL.`
        : `Cannot reach AWS in ${where} (${network}): check your network or proxy, and that AWS_REGION names a region.`,
    );
  }
  if (/Region is missing|region="" /.test(text)) {
    return say(
      'No AWS region: export AWS_REGION and AWS_DEFAULT_REGION (e.g. us-east-1), or set a region in your AWS profile.',
    );
  }
  const badRegion = /Region not accepted: region="([^"]*)"|Invalid region\b[^\n]*/.exec(text);
  if (badRegion) {
    return say(
      `${badRegion[1] === undefined ? 'The region' : `"${badRegion[1]}"`} is not an AWS region: export AWS_REGION and AWS_DEFAULT_REGION as one, e.g. us-east-1.`,
    );
  }
  if (names.has('CredentialsProviderError') || /Could not load credentials/.test(text)) {
    return say(
      local
        ? 'No AWS credentials: export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test (a key `npm start` lists under Identities).'
        : 'No AWS credentials: set AWS_PROFILE (then `aws sso login` if it uses SSO), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.',
    );
  }
  const expired = found(EXPIRED_CREDENTIALS);
  if (expired) {
    return say(
      `Your AWS credentials have expired (${expired}): sign in again (e.g. \`aws sso login\`) or refresh the keys, then retry.`,
    );
  }
  const refused = found(REFUSED_CREDENTIALS);
  if (refused) {
    return say(
      local
        ? `The local broker does not know these credentials (${refused}): use a key \`npm start\` lists under Identities (its secret is the key id), e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test.`
        : `AWS refused your credentials (${refused}): check AWS_PROFILE or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (\`aws sts get-caller-identity\` says whose they are).`,
    );
  }
  const denied = found(ACCESS_DENIED);
  if (denied) {
    const detail = chain.find((e) => e.name === denied)?.message ?? '';
    return say(
      `${firstLine(detail) || denied}. Use credentials allowed to do this (README: "Who may ask" for requests, "Operations runbook" for forget).`,
    );
  }
  if (names.has('ResourceNotFoundException')) {
    return /event bus/i.test(text)
      ? say(`Event bus ${target.busName} not found in ${where}: pass --stage STAGE or --bus NAME.`)
      : say(
          `Lease table ${target.tableName} not found in ${where}: pass --stage STAGE or --table NAME${local ? '' : ', in the region the stage is deployed to (AWS_REGION)'}.`,
        );
  }
  if (names.has('ConfigurationError')) {
    const detail = chain.find((e) => e.name === 'ConfigurationError')?.message ?? '';
    return say(`${firstLine(detail)}: pass --rules FILE, the access rules the stage was deployed with.`);
  }
  const busy = found(BUSY) ?? (names.has('RetryableError') ? 'RetryableError' : undefined);
  if (busy) return say(`AWS is throttling or unavailable (${busy}): try again in a moment.`);
  return undefined;
}

/** The error and what caused it, outermost first. */
function causes(error: unknown): (Error & { code?: string })[] {
  const chain: (Error & { code?: string })[] = [];
  let current: unknown = error;
  while (current instanceof Error && chain.length < 5) {
    chain.push(current);
    current = current.cause;
  }
  return chain;
}

export function firstLine(text: string): string {
  return text.split('\n')[0]?.trim() ?? '';
}

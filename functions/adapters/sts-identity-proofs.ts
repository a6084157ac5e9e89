import type { IdentityProofs } from '../app/ports';
import { ConfigurationError, RetryableError } from '../core/errors';
import { credentialRegion, type PresignedCall, stsRequest } from '../core/proof';
import { isNetworkError } from './aws-errors';

/** Where the broker asks STS, and the region whose credential scopes that STS checks. */
export interface StsTarget {
  readonly endpoint: string;
  readonly region: string;
}

/**
 * The STS endpoint of the broker's region (AWS_REGION, which Lambda sets): the regional endpoint, never the
 * global one, with the partition's DNS suffix; the FIPS endpoint with AWS_USE_FIPS_ENDPOINT=true; or
 * AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL when set (the local edge, or any endpoint the SDK would not derive).
 * The CLI signs for the same host. Written out rather than asked of an STS client, which would add 16 KiB to
 * the intake bundles for this one string.
 */
export async function resolveStsTarget(
  options: { readonly region?: string; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<StsTarget> {
  const env = options.env ?? process.env;
  const region = options.region ?? (env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim());
  if (!region)
    throw new ConfigurationError("No AWS region: set AWS_REGION to check requesters' proofs with STS");
  const configured = env.AWS_ENDPOINT_URL_STS?.trim() || env.AWS_ENDPOINT_URL?.trim();
  if (configured) return { endpoint: configured, region };
  const host = env.AWS_USE_FIPS_ENDPOINT === 'true' ? 'sts-fips' : 'sts';
  return { endpoint: `https://${host}.${region}.${dnsSuffix(region)}/`, region };
}

/** The DNS suffix of a region's partition (the SDK's partitions.json, for the partitions with STS). */
function dnsSuffix(region: string): string {
  if (region.startsWith('cn-')) return 'amazonaws.com.cn';
  if (region.startsWith('us-isob-')) return 'sc2s.sgov.gov';
  if (region.startsWith('us-iso-')) return 'c2s.ic.gov';
  return 'amazonaws.com';
}

export interface StsIdentityProofsOptions {
  /** The broker's own STS; resolved on first use, once (see resolveStsTarget). */
  readonly target: StsTarget | (() => Promise<StsTarget>);
  /** Injected in tests; node's fetch otherwise. */
  readonly fetch?: typeof fetch;
  /** How long to wait for STS before giving the request back to be retried. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const OPTION_NAMES = new Set(['target', 'fetch', 'timeoutMs']);

/**
 * Asks STS who signed a proof: sends the presigned GetCallerIdentity GET, built by the broker for its own
 * endpoint, and reads the caller's ARN from the answer. Only a 200 carrying a GetCallerIdentityResult
 * vouches; a refusal is undefined; an answer that says "try later" (5xx, throttling) or no answer at all is
 * a RetryableError, so the request is delivered again rather than refused for an outage.
 */
export class StsIdentityProofs implements IdentityProofs {
  private readonly target: () => Promise<StsTarget>;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(options: StsIdentityProofsOptions) {
    const unknown = Object.keys(options).filter((name) => !OPTION_NAMES.has(name));
    if (unknown.length > 0) {
      throw new ConfigurationError(`StsIdentityProofs: unknown option(s) ${unknown.join(', ')}`);
    }
    const target = options.target;
    let resolved: Promise<StsTarget> | undefined;
    this.target =
      typeof target === 'function'
        ? () => {
            // A failed resolution is not kept: the next request tries again.
            resolved ??= target().catch((error: unknown) => {
              resolved = undefined;
              throw error;
            });
            return resolved;
          }
        : async () => target;
    this.fetch = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async callerOf(call: PresignedCall): Promise<string | undefined> {
    const target = await this.target();
    // STS of another region refuses the scope anyway; no need to ask.
    if (credentialRegion(call.credential) !== target.region) return undefined;
    const request = stsRequest(call, target.endpoint);
    let status: number;
    let text: string;
    try {
      const response = await this.fetch(request.url, {
        method: 'GET',
        headers: request.headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      if (isTransportFailure(error)) {
        throw new RetryableError('STS GetCallerIdentity: no answer from STS', { cause: error });
      }
      throw error;
    }
    if (status === 200) return callerArnOf(text);
    if (status >= 500 || status === 429 || /<Code>(?:Throttling|RequestLimitExceeded)<\/Code>/.test(text)) {
      throw new RetryableError(`STS GetCallerIdentity: STS answered ${status}, try again later`);
    }
    return undefined;
  }
}

/** The caller's ARN in a GetCallerIdentityResponse; undefined for anything else. */
export function callerArnOf(xml: string): string | undefined {
  const match =
    /<GetCallerIdentityResponse\b[^>]*>[\s\S]*<GetCallerIdentityResult>[\s\S]*?<Arn>([^<]{1,2048})<\/Arn>/.exec(
      xml,
    );
  const arn = match?.[1] === undefined ? undefined : unescapeXml(match[1].trim());
  return arn !== undefined && /^arn:[a-z-]+:(?:iam|sts)::\d{12}:\S+$/.test(arn) ? arn : undefined;
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos);/g, (_, name: string) => XML_ENTITIES[name] ?? '');
}

const XML_ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Node's fetch fails with "fetch failed" for any network error, the socket's code in its cause. */
function isTransportFailure(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  return (
    isNetworkError(error) ||
    isNetworkError(cause) ||
    (error instanceof TypeError && error.message === 'fetch failed')
  );
}

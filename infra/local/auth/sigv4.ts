import { createHash, createHmac, type Hash, type Hmac, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { EdgeRequest } from '../http';
import type { AuthenticatedCaller, LocalIdentities } from '../identities';

/** Why a request was refused, one kind per AWS error family (see ./errors.ts for the wire shapes). */
export type AuthFailureKind = 'missing' | 'incomplete' | 'unknown-key' | 'signature' | 'expired';

export type AuthResult =
  | { readonly ok: true; readonly caller: AuthenticatedCaller; readonly signingService: string }
  | { readonly ok: false; readonly kind: AuthFailureKind; readonly message: string };

const ALGORITHM = 'AWS4-HMAC-SHA256';
/** How far a header-signed request's X-Amz-Date may be from the edge's clock, as in AWS. */
const MAX_SKEW_MS = 15 * 60 * 1000;
/** SigV4's own limit on a presigned request's lifetime. */
const MAX_PRESIGNED_SECONDS = 7 * 24 * 3600;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

interface SignatureParts {
  readonly presigned: boolean;
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
  readonly expiresSeconds: number | undefined;
}

/**
 * Checks a request's SigV4 signature by signing it again, with the SDK's own signer, as the edge received it:
 * same method, path, query, signed headers and body, the identity's secret, the request's X-Amz-Date and
 * credential scope. Header-signed (Authorization) and presigned (X-Amz-* query parameters) requests both.
 */
export async function authenticate(
  req: EdgeRequest,
  identities: LocalIdentities,
  now: number = Date.now(),
): Promise<AuthResult> {
  const parsed = readSignature(req);
  if ('kind' in parsed) return { ok: false, ...parsed };
  const identity = identities.byAccessKey(parsed.accessKeyId);
  if (!identity) {
    return {
      ok: false,
      kind: 'unknown-key',
      message: 'The security token included in the request is invalid.',
    };
  }
  const signedAt = parseAmzDate(parsed.date);
  if (signedAt === undefined) {
    return { ok: false, kind: 'incomplete', message: `Invalid X-Amz-Date: ${parsed.date}` };
  }
  const expired = checkTime(parsed, signedAt, now);
  if (expired) return { ok: false, kind: 'expired', message: expired };

  const contentSha = header(req, 'x-amz-content-sha256');
  const bodySha = req.body.length === 0 ? EMPTY_SHA256 : createHash('sha256').update(req.body).digest('hex');
  // The signer trusts this header as the payload hash (S3 needs that); no other service does.
  if (contentSha !== undefined && contentSha !== bodySha && contentSha !== 'UNSIGNED-PAYLOAD') {
    return { ok: false, kind: 'signature', message: SIGNATURE_MISMATCH };
  }
  const expected = await recompute(req, parsed, identity.secretAccessKey, signedAt);
  if (expected === undefined || !sameSignature(expected, parsed.signature)) {
    return { ok: false, kind: 'signature', message: SIGNATURE_MISMATCH };
  }
  return { ok: true, caller: identity.caller, signingService: parsed.service };
}

export const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** The signing service a request names (Authorization header or X-Amz-Credential), signed correctly or not. */
export function claimedSigningService(req: EdgeRequest): string | undefined {
  const credential =
    /Credential=([^,\s]+)/.exec(header(req, 'authorization') ?? '')?.[1] ??
    queryValue(req, 'X-Amz-Credential');
  return credential?.split('/')[3];
}

function readSignature(req: EdgeRequest): SignatureParts | { kind: AuthFailureKind; message: string } {
  const authorization = header(req, 'authorization');
  if (authorization !== undefined) return readAuthorizationHeader(req, authorization);
  if (queryValue(req, 'X-Amz-Algorithm') !== undefined || queryValue(req, 'X-Amz-Signature') !== undefined) {
    return readPresignedQuery(req);
  }
  return { kind: 'missing', message: 'Request is missing Authentication Token' };
}

function readAuthorizationHeader(
  req: EdgeRequest,
  authorization: string,
): SignatureParts | { kind: AuthFailureKind; message: string } {
  const [algorithm = '', ...rest] = authorization.trim().split(/\s+/);
  const fields = new Map<string, string>();
  for (const part of rest.join('').split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const date = header(req, 'x-amz-date');
  // The wording AWS uses for each missing piece of the Authorization header.
  const problems = [
    algorithm === ALGORITHM ? undefined : `Unsupported algorithm ${algorithm}.`,
    fields.has('Credential') ? undefined : "Authorization header requires 'Credential' parameter.",
    fields.has('Signature') ? undefined : "Authorization header requires 'Signature' parameter.",
    fields.has('SignedHeaders') ? undefined : "Authorization header requires 'SignedHeaders' parameter.",
    date === undefined
      ? "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
      : undefined,
  ].filter((problem) => problem !== undefined);
  const scope = readScope(fields.get('Credential'));
  if (problems.length === 0 && !scope) problems.push(`Credential is malformed: ${fields.get('Credential')}.`);
  if (problems.length > 0 || !scope || date === undefined) {
    return { kind: 'incomplete', message: `${problems.join(' ')} Authorization=${authorization}` };
  }
  return {
    presigned: false,
    ...scope,
    date,
    signedHeaders: (fields.get('SignedHeaders') ?? '').split(';').filter((name) => name !== ''),
    signature: fields.get('Signature') ?? '',
    expiresSeconds: undefined,
  };
}

function readPresignedQuery(req: EdgeRequest): SignatureParts | { kind: AuthFailureKind; message: string } {
  const get = (name: string) => queryValue(req, name);
  const missing = [
    'X-Amz-Algorithm',
    'X-Amz-Credential',
    'X-Amz-Date',
    'X-Amz-SignedHeaders',
    'X-Amz-Signature',
    'X-Amz-Expires',
  ].filter((name) => get(name) === undefined);
  if (missing.length > 0) {
    return {
      kind: 'incomplete',
      message: `AWS query-string parameters must include ${missing.map((name) => `'${name}'`).join(', ')}. Re-examine the query-string parameters.`,
    };
  }
  const scope = readScope(get('X-Amz-Credential'));
  const expires = Number(get('X-Amz-Expires'));
  if (get('X-Amz-Algorithm') !== ALGORITHM || !scope) {
    return { kind: 'incomplete', message: 'The X-Amz-Algorithm or X-Amz-Credential parameter is malformed.' };
  }
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGNED_SECONDS) {
    return {
      kind: 'incomplete',
      message: `X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_PRESIGNED_SECONDS}.`,
    };
  }
  return {
    presigned: true,
    ...scope,
    date: get('X-Amz-Date') ?? '',
    signedHeaders: (get('X-Amz-SignedHeaders') ?? '').split(';').filter((name) => name !== ''),
    signature: get('X-Amz-Signature') ?? '',
    expiresSeconds: expires,
  };
}

function readScope(
  credential: string | undefined,
): { accessKeyId: string; region: string; service: string } | undefined {
  const parts = credential?.split('/');
  if (parts?.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1] ?? '')) {
    return undefined;
  }
  const [accessKeyId = '', , region = '', service = ''] = parts;
  return accessKeyId && region && service ? { accessKeyId, region, service } : undefined;
}

/** The refusal message when the request is outside its time window, in AWS's words; undefined when inside. */
function checkTime(parts: SignatureParts, signedAt: number, now: number): string | undefined {
  if (parts.presigned) {
    const expiresAt = signedAt + (parts.expiresSeconds ?? 0) * 1000;
    if (now > expiresAt) {
      return `Signature expired: ${parts.date} is now earlier than ${amzDate(now - (parts.expiresSeconds ?? 0) * 1000)} (${amzDate(now)} - ${parts.expiresSeconds} sec.)`;
    }
    if (signedAt - now > MAX_SKEW_MS) {
      return `Signature not yet current: ${parts.date} is still later than ${amzDate(now + MAX_SKEW_MS)} (${amzDate(now)} + 15 min.)`;
    }
    return undefined;
  }
  if (now - signedAt > MAX_SKEW_MS) {
    return `Signature expired: ${parts.date} is now earlier than ${amzDate(now - MAX_SKEW_MS)} (${amzDate(now)} - 15 min.)`;
  }
  if (signedAt - now > MAX_SKEW_MS) {
    return `Signature not yet current: ${parts.date} is still later than ${amzDate(now + MAX_SKEW_MS)} (${amzDate(now)} + 15 min.)`;
  }
  return undefined;
}

async function recompute(
  req: EdgeRequest,
  parts: SignatureParts,
  secretAccessKey: string,
  signedAt: number,
): Promise<string | undefined> {
  const headers: Record<string, string> = {};
  for (const name of parts.signedHeaders) {
    const value = header(req, name);
    // A header listed as signed but not sent cannot have been signed as sent.
    if (value === undefined) return undefined;
    headers[name] = value;
  }
  const query = rawQuery(req);
  const request = {
    method: req.method,
    protocol: 'http:',
    hostname: 'edge',
    path: req.rawPath,
    query,
    headers,
    body: req.body.length === 0 ? undefined : req.body,
  };
  const signer = new SignatureV4({
    credentials: { accessKeyId: parts.accessKeyId, secretAccessKey },
    region: parts.region,
    service: parts.service,
    sha256: Sha256,
    // Only S3 signs its path without a second encoding, and the edge serves no S3.
    uriEscapePath: true,
    // Never add x-amz-content-sha256: only what the client signed is signed again.
    applyChecksum: false,
  });
  const signedHeaderSet = new Set(parts.signedHeaders);
  const signingDate = new Date(signedAt);
  if (parts.presigned) {
    delete query['X-Amz-Signature'];
    const presigned = await signer.presign(request, {
      signingDate,
      expiresIn: parts.expiresSeconds ?? 0,
      signableHeaders: signedHeaderSet,
      // Headers stay headers: they were signed where they were sent.
      unhoistableHeaders: signedHeaderSet,
    });
    const signature = presigned.query?.['X-Amz-Signature'];
    return typeof signature === 'string' ? signature : undefined;
  }
  const signed = await signer.sign(request, { signingDate, signableHeaders: signedHeaderSet });
  return /Signature=([0-9a-f]+)/.exec(String(signed.headers.authorization ?? ''))?.[1];
}

function sameSignature(expected: string, received: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(received, 'utf8');
  // timingSafeEqual needs equal lengths; comparing against itself keeps the time independent of `received`.
  return a.length === b.length ? timingSafeEqual(a, b) : !timingSafeEqual(a, a);
}

/**
 * The query string as sent, decoded without turning '+' into a space: SDKs and the aws CLI percent-encode
 * everything they sign, and the signer encodes the decoded values again when it canonicalizes them.
 */
function rawQuery(req: EdgeRequest): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  const raw = req.rawQuery;
  if (!raw) return query;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1));
    const existing = query[key];
    query[key] =
      existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return query;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function header(req: EdgeRequest, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : value;
}

function queryValue(req: EdgeRequest, name: string): string | undefined {
  return req.query.get(name) ?? undefined;
}

/** X-Amz-Date (yyyyMMddTHHmmssZ) as epoch milliseconds; undefined when malformed. */
function parseAmzDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  const ms = Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 0, h ?? 0, mi ?? 0, s ?? 0);
  return Number.isNaN(ms) ? undefined : ms;
}

function amzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** The signer's hash on node:crypto: SHA-256, or HMAC-SHA256 when constructed with a key. */
export class Sha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    if (this.secret === undefined) return createHash('sha256');
    const { secret } = this;
    const key =
      typeof secret === 'string'
        ? secret
        : ArrayBuffer.isView(secret)
          ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength)
          : Buffer.from(secret);
    return createHmac('sha256', key);
  }
}

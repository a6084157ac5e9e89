/**
 * The requester's proof: the pieces of a presigned `sts:GetCallerIdentity` GET whose signed headers bind the
 * SHA-256 of the request detail, the broker's audience and a nonce (the signing time is in every SigV4
 * signature). The sender keeps nothing secret from the broker but its key: the broker rebuilds the request
 * with its OWN values of the three headers and sends it to its OWN STS endpoint, so STS vouches for the caller
 * only if the signer signed exactly this body, for this broker, with this nonce.
 *
 * Everything here is pure: the shape, the cheap claim checks (in the order the broker runs them), and the
 * request to send, as strings. Sending it and remembering nonces are ports (app/ports.ts).
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { Rejection } from './model';
import { BROKER_NAME } from './names';
import { describeIssues, isRecord } from './validation';

export const PROOF_VERSION = 1;
/** A proof is accepted for this long after its signing time. */
export const PROOF_MAX_AGE_SECONDS = 60;
/** How far in the future a signing time may be: the signer's clock may run a little ahead of the broker's. */
export const PROOF_MAX_SKEW_SECONDS = 30;
/** Nonces are kept this long past a proof's window, so clocks of broker instances may differ by as much. */
const NONCE_MARGIN_SECONDS = 300;

/** The headers the proof's signature covers besides `host`: the broker sends its own values of them. */
export const PROOF_HEADERS = {
  audience: `x-${BROKER_NAME}-audience`,
  bodySha256: `x-${BROKER_NAME}-body-sha256`,
  nonce: `x-${BROKER_NAME}-nonce`,
} as const;

/** X-Amz-SignedHeaders of every proof: SigV4's sorted, semicolon-separated lower-case names. */
export const PROOF_SIGNED_HEADERS = [
  'host',
  PROOF_HEADERS.audience,
  PROOF_HEADERS.bodySha256,
  PROOF_HEADERS.nonce,
].join(';');

/** The query of the STS call the proof presigns, besides the signature's own parameters. */
export const STS_CALL_QUERY = { Action: 'GetCallerIdentity', Version: '2011-06-15' } as const;

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
/** `<access key id>/<yyyymmdd>/<region>/sts/aws4_request`. Local access keys are letters and digits too. */
const CREDENTIAL = /^([A-Za-z0-9]{1,128})\/(\d{8})\/([a-z0-9-]{1,32})\/sts\/aws4_request$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
/** Visible ASCII: session tokens are base64, audiences are stack names. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

export const ProofSchema = z
  .strictObject({
    v: z.literal(PROOF_VERSION),
    credential: z
      .string()
      .max(256, { error: 'must be at most 256 characters', abort: true })
      .regex(CREDENTIAL, { error: 'must be <access key id>/<yyyymmdd>/<region>/sts/aws4_request' }),
    date: z.string().regex(AMZ_DATE, { error: 'must be an X-Amz-Date (yyyymmddThhmmssZ)' }),
    expires: z
      .number()
      .int({ error: 'must be a whole number of seconds' })
      .min(1, { error: 'must be at least 1 second' })
      .max(PROOF_MAX_AGE_SECONDS, { error: `must be at most ${PROOF_MAX_AGE_SECONDS} seconds` }),
    signedHeaders: z.literal(PROOF_SIGNED_HEADERS, { error: `must be ${PROOF_SIGNED_HEADERS}` }),
    signature: z.string().regex(HEX_SHA256, { error: 'must be 64 lower-case hex digits' }),
    securityToken: z
      .string()
      .max(8192, { error: 'must be at most 8192 characters', abort: true })
      .regex(VISIBLE_ASCII, { error: 'must be visible ASCII' })
      .optional(),
    audience: z
      .string()
      .max(256, { error: 'must be at most 256 characters', abort: true })
      .regex(VISIBLE_ASCII, { error: 'must be visible ASCII' }),
    bodySha256: z.string().regex(HEX_SHA256, { error: 'must be 64 lower-case hex digits' }),
    nonce: z.string().regex(NONCE, { error: 'must be 16-64 characters of A-Z a-z 0-9 _ -' }),
  })
  .check((ctx) => {
    const { credential, date } = ctx.value;
    if (signingTime(date) === undefined) {
      ctx.issues.push({ code: 'custom', message: 'is not a real time', path: ['date'], input: date });
    } else if (credential.split('/')[1] !== date.slice(0, 8)) {
      ctx.issues.push({
        code: 'custom',
        message: "its date must be the signing date's day",
        path: ['credential'],
        input: credential,
      });
    }
  })
  .meta({
    description:
      'The requester proves who they are: a presigned sts:GetCallerIdentity GET (its SigV4 query parameters) whose signed headers bind the SHA-256 of the canonical JSON of this detail without its proof, the broker audience and a nonce. The broker sends it to STS itself.',
  });

/** A proof as it arrives in `detail.proof`, checked for shape only. */
export type Proof = z.output<typeof ProofSchema>;

/** A claim check's answer: the first failed claim's rejection, or ok. */
export type ProofCheck = { readonly ok: true } | { readonly ok: false; readonly rejection: Rejection };

const PROOF_FIELD = 'detail.proof';

/** Reads `detail.proof`; anything malformed is PROOF_INVALID, naming the first field at fault. */
export function parseProof(
  input: unknown,
): { readonly ok: true; readonly proof: Proof } | { readonly ok: false; readonly rejection: Rejection } {
  const parsed = ProofSchema.safeParse(input);
  if (parsed.success) return { ok: true, proof: parsed.data };
  const [first] = describeIssues(parsed.error.issues, ['detail', 'proof']);
  const field = first?.field || PROOF_FIELD;
  return {
    ok: false,
    rejection: {
      code: 'PROOF_INVALID',
      field,
      reason: `the proof is malformed: ${field}: ${first?.message ?? 'must be an object'}`,
    },
  };
}

/**
 * JSON with object keys sorted (code-unit order) at every depth and no whitespace: the same text for the
 * same value wherever it was serialized. Like JSON.stringify otherwise: undefined members are left out,
 * undefined array elements and non-finite numbers are null.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (Array.isArray(value)) {
    const elements: unknown[] = value;
    return `[${elements.map((element) => (element === undefined ? 'null' : canonicalJson(element))).join(',')}]`;
  }
  if (isRecord(value)) {
    const members = Object.keys(value)
      .sort()
      .filter((key) => value[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`);
    return `{${members.join(',')}}`;
  }
  throw new TypeError(`canonicalJson: a ${typeof value} is not JSON`);
}

/** The hash a proof binds: SHA-256 (hex) of the canonical JSON of the request detail without its `proof`. */
export function bodySha256(detail: unknown): string {
  const body = isRecord(detail)
    ? Object.fromEntries(Object.entries(detail).filter(([k]) => k !== 'proof'))
    : detail;
  return createHash('sha256').update(canonicalJson(body), 'utf8').digest('hex');
}

/** Epoch seconds of an X-Amz-Date; undefined when it is not one, or names no real time. */
export function signingTime(date: string): number | undefined {
  const match = AMZ_DATE.exec(date);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  const real =
    back.getUTCFullYear() === year &&
    back.getUTCMonth() === month - 1 &&
    back.getUTCDate() === day &&
    back.getUTCHours() === hour &&
    back.getUTCMinutes() === minute &&
    back.getUTCSeconds() === second;
  return real ? ms / 1000 : undefined;
}

/**
 * The claims the broker can check without asking anyone, in order: the audience is its own, the body hash is
 * the one it computed, and the proof is within its window (`now`: epoch seconds). The first that fails
 * answers; STS is asked only about a proof that passes all of them.
 */
export function checkProofClaims(
  proof: Proof,
  expected: { readonly audience: string; readonly bodySha256: string; readonly now: number },
): ProofCheck {
  if (proof.audience !== expected.audience) {
    return refuse('PROOF_WRONG_AUDIENCE', `${PROOF_FIELD}.audience`, 'the proof was made for another broker');
  }
  if (proof.bodySha256 !== expected.bodySha256) {
    return refuse('PROOF_WRONG_BODY', `${PROOF_FIELD}.bodySha256`, 'the proof binds another request body');
  }
  const signedAt = signingTime(proof.date);
  if (signedAt === undefined)
    return refuse('PROOF_INVALID', `${PROOF_FIELD}.date`, 'the proof has no signing time');
  if (signedAt > expected.now + PROOF_MAX_SKEW_SECONDS) {
    return refuse('PROOF_EXPIRED', `${PROOF_FIELD}.date`, 'the proof is signed in the future');
  }
  if (expected.now > signedAt + Math.min(proof.expires, PROOF_MAX_AGE_SECONDS)) {
    return refuse(
      'PROOF_EXPIRED',
      `${PROOF_FIELD}.date`,
      `the proof was signed ${expected.now - signedAt} s ago; it is valid for ${Math.min(proof.expires, PROOF_MAX_AGE_SECONDS)} s`,
    );
  }
  return { ok: true };
}

/** Until when (epoch seconds) the proof's nonce must be remembered: past the last moment it could pass. */
export function nonceKeepUntil(proof: Proof): number {
  return (signingTime(proof.date) ?? 0) + PROOF_MAX_AGE_SECONDS + NONCE_MARGIN_SECONDS;
}

/** The region of the proof's credential scope: the STS that can check it. */
export function credentialRegion(credential: string): string | undefined {
  return CREDENTIAL.exec(credential)?.[3];
}

/**
 * The STS call a proof presigns, as the broker will make it: the signature's pieces from the sender, the
 * values of the signed headers from the broker itself (never the copies in the proof).
 */
export interface PresignedCall {
  readonly credential: string;
  readonly date: string;
  readonly expires: number;
  readonly signedHeaders: string;
  readonly signature: string;
  readonly securityToken?: string;
  readonly audience: string;
  readonly bodySha256: string;
  readonly nonce: string;
}

/** The call to send for `proof`, with the broker's own audience and body hash. */
export function presignedCall(
  proof: Proof,
  own: { readonly audience: string; readonly bodySha256: string },
): PresignedCall {
  return {
    credential: proof.credential,
    date: proof.date,
    expires: proof.expires,
    signedHeaders: proof.signedHeaders,
    signature: proof.signature,
    ...(proof.securityToken === undefined ? {} : { securityToken: proof.securityToken }),
    audience: own.audience,
    bodySha256: own.bodySha256,
    nonce: proof.nonce,
  };
}

/**
 * The HTTP request for `call` against the STS `endpoint` (https://sts.<region>.amazonaws.com, or the local
 * edge): a GET whose URL carries the SigV4 query parameters and whose headers carry the bound values. The
 * `host` header is the URL's host, which is what the signer signed; the HTTP client sends it.
 */
export function stsRequest(
  call: PresignedCall,
  endpoint: string,
): { readonly url: string; readonly headers: Readonly<Record<string, string>> } {
  const base = new URL(endpoint);
  const query: [string, string][] = [
    ['Action', STS_CALL_QUERY.Action],
    ['Version', STS_CALL_QUERY.Version],
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', call.credential],
    ['X-Amz-Date', call.date],
    ['X-Amz-Expires', String(call.expires)],
    ['X-Amz-SignedHeaders', call.signedHeaders],
    ...(call.securityToken === undefined
      ? []
      : [['X-Amz-Security-Token', call.securityToken] as [string, string]]),
    ['X-Amz-Signature', call.signature],
  ];
  const search = query.map(([key, value]) => `${rfc3986(key)}=${rfc3986(value)}`).join('&');
  return {
    url: `${base.protocol}//${base.host}${base.pathname}?${search}`,
    headers: {
      [PROOF_HEADERS.audience]: call.audience,
      [PROOF_HEADERS.bodySha256]: call.bodySha256,
      [PROOF_HEADERS.nonce]: call.nonce,
    },
  };
}

/** SigV4's URI encoding: encodeURIComponent leaves ! ' ( ) * as they are. */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function refuse(code: Rejection['code'], field: string, reason: string): ProofCheck {
  return { ok: false, rejection: { code, field, reason } };
}

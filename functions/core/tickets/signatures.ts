/**
 * The vendors' webhook signatures: an HMAC-SHA256 of the raw body bytes with the webhook's shared secret, hex.
 * Checked on the bytes as received (a parsed and re-serialized body would not be what was signed), before
 * anything reads the body, and compared in constant time so a forger learns nothing from how fast a guess fails.
 *
 * Both sides of a rotation are accepted: PagerDuty sends one signature per active secret while its secret is
 * rotated, and the secret the broker stores may hold several, one per line, while ours is.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookConfig } from './config';

export type SignatureCheck =
  | { readonly ok: true }
  /** `missing`: no signature header at all; `wrong`: a header, malformed or matching no secret. */
  | { readonly ok: false; readonly problem: 'missing' | 'wrong'; readonly reason: string };

/** Header names as Lambda function URLs and Node deliver them: lowercase. */
export const JIRA_SIGNATURE_HEADER = 'x-hub-signature';
export const PAGERDUTY_SIGNATURE_HEADER = 'x-pagerduty-signature';

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;
/** More signatures than any rotation has: a header with more is not PagerDuty's, and each costs a compare. */
const MAX_PAGERDUTY_SIGNATURES = 16;

/** The secrets a stored secret value holds: one per line, surrounding blanks and empty lines dropped. */
export function secretsOf(stored: string): string[] {
  return stored
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/**
 * The webhook's signature checked against the webhook's secrets (secretsOf the stored value), the way the
 * integration's vendor signs. `headers`: names in lowercase.
 */
export function checkWebhookSignature(
  vendor: WebhookConfig['vendor'],
  headers: Readonly<Record<string, string | undefined>>,
  body: Uint8Array,
  secrets: readonly string[],
): SignatureCheck {
  return vendor === 'jira'
    ? checkJiraSignature(headers[JIRA_SIGNATURE_HEADER], body, secrets)
    : checkPagerDutySignature(headers[PAGERDUTY_SIGNATURE_HEADER], body, secrets);
}

/** Jira Cloud: `X-Hub-Signature: sha256=<hex>` (WebSub's form), one signature. */
export function checkJiraSignature(
  header: string | undefined,
  body: Uint8Array,
  secrets: readonly string[],
): SignatureCheck {
  if (header === undefined || header.trim() === '') return missing('X-Hub-Signature');
  const value = header.trim();
  const hex = value.startsWith('sha256=') ? value.slice('sha256='.length) : undefined;
  if (hex === undefined || !HEX_SHA256.test(hex)) {
    return wrong('X-Hub-Signature is not sha256=<64 hex digits>');
  }
  return matchAny([hex], body, secrets);
}

/**
 * PagerDuty v3: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`, one per active secret. Entries of other
 * versions are skipped (PagerDuty may add schemes); at least one v1 entry must be there.
 */
export function checkPagerDutySignature(
  header: string | undefined,
  body: Uint8Array,
  secrets: readonly string[],
): SignatureCheck {
  if (header === undefined || header.trim() === '') return missing('X-PagerDuty-Signature');
  const entries = header.split(',').map((entry) => entry.trim());
  if (entries.length > MAX_PAGERDUTY_SIGNATURES) {
    return wrong(`X-PagerDuty-Signature has more than ${MAX_PAGERDUTY_SIGNATURES} signatures`);
  }
  const v1 = entries.filter((entry) => entry.startsWith('v1=')).map((entry) => entry.slice('v1='.length));
  if (v1.length === 0 || !v1.every((hex) => HEX_SHA256.test(hex))) {
    return wrong('X-PagerDuty-Signature is not v1=<64 hex digits>[,v1=…]');
  }
  return matchAny(v1, body, secrets);
}

/** The signature (hex) a vendor sends for `body` signed with `secret`: tests and the local fakes sign with it. */
export function signatureOf(secret: string, body: Uint8Array | string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Every candidate against every secret, without stopping early: the time taken says nothing of which matched. */
function matchAny(
  candidates: readonly string[],
  body: Uint8Array,
  secrets: readonly string[],
): SignatureCheck {
  const expected = secrets.map((secret) => createHmac('sha256', secret).update(body).digest());
  let matched = false;
  for (const hex of candidates) {
    const given = Buffer.from(hex, 'hex');
    for (const digest of expected) matched = timingSafeEqual(given, digest) || matched;
  }
  return matched ? { ok: true } : wrong('the signature matches none of the webhook secrets');
}

function missing(header: string): SignatureCheck {
  return { ok: false, problem: 'missing', reason: `no ${header} header` };
}

function wrong(reason: string): SignatureCheck {
  return { ok: false, problem: 'wrong', reason };
}

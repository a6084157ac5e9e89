import { randomBytes } from 'node:crypto';

const CAPITALS_AND_DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
/** Crockford's base32, as ULIDs use it. */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Ids are random, never counted from a seed: the broker keys leases on incident ids and remembers webhook event
 * ids, and a restarted fake (with the broker's table kept on disk) must not hand out an id it gave before.
 */
function randomChars(alphabet: string, length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  return out;
}

/** An incident id as PagerDuty's newer ones look: Q and 13 capitals or digits (Q0RIJJZL24RC6W). */
export function incidentId(): string {
  return `Q${randomChars(CAPITALS_AND_DIGITS, 13)}`;
}

/** A note's or a webhook subscription's id: P and six capitals or digits (PWL7QXS). */
export function objectId(): string {
  return `P${randomChars(CAPITALS_AND_DIGITS, 6)}`;
}

/** A v3 webhook event id: 26 characters, time then randomness, like a ULID (01BZYK8N47N5JG55J1EEEHPEJI). */
export function eventId(now: Date): string {
  let time = '';
  let ms = now.getTime();
  for (let i = 0; i < 10; i++) {
    time = (CROCKFORD[ms % 32] as string) + time;
    ms = Math.floor(ms / 32);
  }
  return time + randomChars(CROCKFORD, 16);
}

/** A 32-hex de-duplication key, as PagerDuty gives an incident created without one. */
export function incidentKey(): string {
  return randomBytes(16).toString('hex');
}

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkJiraSignature,
  checkPagerDutySignature,
  checkWebhookSignature,
  secretsOf,
  signatureOf,
} from '../../../functions/core/tickets/signatures';
import { JIRA_SAMPLE_FILE, PAGERDUTY_SAMPLE_FILE } from '../../support/webhooks';

const JIRA_BODY = readFileSync(JIRA_SAMPLE_FILE);
const PAGERDUTY_BODY = readFileSync(PAGERDUTY_SAMPLE_FILE);
const SECRET = 'jira-webhook-secret-2026';
const OLD = 'pagerduty-secret-old';
const NEW = 'pagerduty-secret-new';
const WRONG = { ok: false, problem: 'wrong', reason: 'the signature matches none of the webhook secrets' };

describe('secretsOf', () => {
  it('reads one secret per line, trimmed, without blank lines, whatever the line ends', () => {
    expect(secretsOf('  old-secret \r\n\nnew-secret\n  \n')).toEqual(['old-secret', 'new-secret']);
  });

  it('reads a value of one line as one secret', () => {
    expect(secretsOf('only-secret')).toEqual(['only-secret']);
  });
});

describe('signatureOf', () => {
  it('is the hex HMAC-SHA256 of the bytes with the secret (RFC 4231 test case 2)', () => {
    expect(signatureOf('Jefe', 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });
});

describe('checkJiraSignature', () => {
  it("accepts sha256=<hex> of the raw body with the webhook's secret", () => {
    // Arrange
    const header = `sha256=${signatureOf(SECRET, JIRA_BODY)}`;

    // Act
    const check = checkJiraSignature(header, JIRA_BODY, [SECRET]);

    // Assert
    expect(check).toEqual({ ok: true });
  });

  it('accepts the hex in upper case and blanks around the header value', () => {
    // Arrange
    const header = ` sha256=${signatureOf(SECRET, JIRA_BODY).toUpperCase()} `;

    // Act
    const check = checkJiraSignature(header, JIRA_BODY, [SECRET]);

    // Assert
    expect(check).toEqual({ ok: true });
  });

  it('accepts a signature made with any of the stored secrets (ours being rotated)', () => {
    // Arrange
    const header = `sha256=${signatureOf('new-secret', JIRA_BODY)}`;

    // Act
    const check = checkJiraSignature(header, JIRA_BODY, ['old-secret', 'new-secret']);

    // Assert
    expect(check).toEqual({ ok: true });
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['blank', '   '],
  ])('says the signature is missing when the header is %s', (_, header) => {
    expect(checkJiraSignature(header, JIRA_BODY, [SECRET])).toEqual({
      ok: false,
      problem: 'missing',
      reason: 'no X-Hub-Signature header',
    });
  });

  it.each([
    ['another algorithm', `sha1=${'a'.repeat(40)}`],
    ['no algorithm', signatureOf(SECRET, JIRA_BODY)],
    ['a short digest', `sha256=${'a'.repeat(63)}`],
    ['a long digest', `sha256=${'a'.repeat(65)}`],
    ['not hex', `sha256=${'g'.repeat(64)}`],
    ['two signatures', `sha256=${signatureOf(SECRET, JIRA_BODY)},sha256=${signatureOf(SECRET, JIRA_BODY)}`],
  ])('refuses a header that is not sha256=<64 hex digits>: %s', (_, header) => {
    expect(checkJiraSignature(header, JIRA_BODY, [SECRET])).toEqual({
      ok: false,
      problem: 'wrong',
      reason: 'X-Hub-Signature is not sha256=<64 hex digits>',
    });
  });

  it('refuses a signature made with another secret', () => {
    // Arrange
    const header = `sha256=${signatureOf('someone-else', JIRA_BODY)}`;

    // Act
    const check = checkJiraSignature(header, JIRA_BODY, [SECRET]);

    // Assert
    expect(check).toEqual(WRONG);
  });

  it('refuses the signature of the body when one byte of it changed', () => {
    // Arrange
    const header = `sha256=${signatureOf(SECRET, JIRA_BODY)}`;
    const changed = Buffer.from(JIRA_BODY);
    changed[changed.indexOf('Approved')] = 'B'.charCodeAt(0);

    // Act
    const check = checkJiraSignature(header, changed, [SECRET]);

    // Assert
    expect(check).toEqual(WRONG);
  });

  it('refuses the signature of the body parsed and serialized again: only the raw bytes count', () => {
    // Arrange
    const header = `sha256=${signatureOf(SECRET, JSON.stringify(JSON.parse(JIRA_BODY.toString('utf8'))))}`;

    // Act
    const check = checkJiraSignature(header, JIRA_BODY, [SECRET]);

    // Assert
    expect(check).toEqual(WRONG);
  });

  it('refuses every signature when no secret is stored', () => {
    // Arrange
    const header = `sha256=${signatureOf(SECRET, JIRA_BODY)}`;

    // Act
    const check = checkJiraSignature(header, JIRA_BODY, []);

    // Assert
    expect(check).toEqual(WRONG);
  });
});

describe('checkPagerDutySignature', () => {
  const v1 = (secret: string) => `v1=${signatureOf(secret, PAGERDUTY_BODY)}`;

  it("accepts v1=<hex> of the raw body with the subscription's secret", () => {
    expect(checkPagerDutySignature(v1(NEW), PAGERDUTY_BODY, [NEW])).toEqual({ ok: true });
  });

  it("accepts PagerDuty's rotation: the old and the new signature, only the new secret stored", () => {
    expect(checkPagerDutySignature(`${v1(OLD)},${v1(NEW)}`, PAGERDUTY_BODY, [NEW])).toEqual({ ok: true });
  });

  it("accepts PagerDuty's rotation: the old and the new signature, only the old secret stored", () => {
    expect(checkPagerDutySignature(`${v1(OLD)}, ${v1(NEW)}`, PAGERDUTY_BODY, [OLD])).toEqual({ ok: true });
  });

  it('accepts a signature made with any of the stored secrets (ours being rotated)', () => {
    expect(checkPagerDutySignature(v1(NEW), PAGERDUTY_BODY, [OLD, NEW])).toEqual({ ok: true });
  });

  it('skips entries of other versions, and checks the v1 ones', () => {
    expect(checkPagerDutySignature(`v2=abc,${v1(NEW)}`, PAGERDUTY_BODY, [NEW])).toEqual({ ok: true });
  });

  it('says the signature is missing when the header is absent', () => {
    expect(checkPagerDutySignature(undefined, PAGERDUTY_BODY, [NEW])).toEqual({
      ok: false,
      problem: 'missing',
      reason: 'no X-PagerDuty-Signature header',
    });
  });

  it.each([
    ['no v1 entry', `v2=${signatureOf(NEW, PAGERDUTY_BODY)}`],
    ['a v1 entry that is not hex', 'v1=zz'],
    ['one malformed v1 entry next to a good one', `v1=zz,${v1(NEW)}`],
    ["Jira's form", `sha256=${signatureOf(NEW, PAGERDUTY_BODY)}`],
    ['only commas', ',,,'],
  ])('refuses a header that is not v1=<hex>[,v1=…]: %s', (_, header) => {
    expect(checkPagerDutySignature(header, PAGERDUTY_BODY, [NEW])).toEqual({
      ok: false,
      problem: 'wrong',
      reason: 'X-PagerDuty-Signature is not v1=<64 hex digits>[,v1=…]',
    });
  });

  it('refuses more signatures than any rotation has, even with a good one among them', () => {
    const header = [...Array.from({ length: 16 }, () => v1(OLD)), v1(NEW)].join(',');

    expect(checkPagerDutySignature(header, PAGERDUTY_BODY, [NEW])).toEqual({
      ok: false,
      problem: 'wrong',
      reason: 'X-PagerDuty-Signature has more than 16 signatures',
    });
  });

  it('refuses signatures all made with secrets it does not store', () => {
    expect(checkPagerDutySignature(`${v1(OLD)},${v1('other')}`, PAGERDUTY_BODY, [NEW])).toEqual(WRONG);
  });
});

describe('checkWebhookSignature', () => {
  it("reads the header of the integration's vendor, never the other vendor's", () => {
    // Arrange
    const jira = { 'x-hub-signature': `sha256=${signatureOf(SECRET, JIRA_BODY)}` };
    const pagerDuty = { 'x-pagerduty-signature': `v1=${signatureOf(SECRET, JIRA_BODY)}` };

    // Act
    const checks = [
      checkWebhookSignature('jira', jira, JIRA_BODY, [SECRET]),
      checkWebhookSignature('pagerduty', pagerDuty, JIRA_BODY, [SECRET]),
      checkWebhookSignature('jira', pagerDuty, JIRA_BODY, [SECRET]),
      checkWebhookSignature('pagerduty', jira, JIRA_BODY, [SECRET]),
    ];

    // Assert
    expect(checks).toEqual([
      { ok: true },
      { ok: true },
      { ok: false, problem: 'missing', reason: 'no X-Hub-Signature header' },
      { ok: false, problem: 'missing', reason: 'no X-PagerDuty-Signature header' },
    ]);
  });
});

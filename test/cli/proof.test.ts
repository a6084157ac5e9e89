import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signProof } from '../../functions/cli/proof';
import {
  bodySha256,
  checkProofClaims,
  parseProof,
  presignedCall,
  stsRequest,
} from '../../functions/core/proof';
import { grantDetail, PROOF_AUDIENCE, SIGNED_AT, SIGNED_DATE } from '../support/proofs';

const ALICE = { accessKeyId: 'oncallalice', secretAccessKey: 'oncallalice' };
const ENDPOINT = 'http://127.0.0.1:4566';
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

/**
 * What STS does with the request the broker sends, written from the SigV4 specification rather than with the
 * SDK's signer: the canonical request of the GET as received (query re-encoded and sorted, the signed headers
 * with the values that arrived), signed with the key derived from the secret. True when it matches.
 */
function stsAccepts(
  request: { url: string; headers: Readonly<Record<string, string>> },
  secretAccessKey: string,
): boolean {
  const url = new URL(request.url);
  const params = [...url.searchParams.entries()];
  const get = (name: string) => params.find(([key]) => key === name)?.[1] ?? '';
  const encode = (text: string) =>
    encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const query = params
    .filter(([key]) => key !== 'X-Amz-Signature')
    .map(([key, value]) => [encode(key), encode(value)])
    .sort(([a = ''], [b = '']) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const headers: Record<string, string> = { host: url.host, ...request.headers };
  const signedHeaders = get('X-Amz-SignedHeaders');
  const canonicalHeaders = signedHeaders
    .split(';')
    .map((name) => `${name}:${(headers[name] ?? '').trim()}\n`)
    .join('');
  const canonicalRequest = ['GET', url.pathname, query, canonicalHeaders, signedHeaders, EMPTY_SHA256].join(
    '\n',
  );
  const [, day = '', region = '', service = ''] = get('X-Amz-Credential').split('/');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    get('X-Amz-Date'),
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  let key: Buffer = Buffer.from(`AWS4${secretAccessKey}`);
  for (const part of [day, region, service, 'aws4_request'])
    key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(stringToSign).digest('hex') === get('X-Amz-Signature');
}

const sign = (detail: Record<string, unknown>, extra: { sessionToken?: string } = {}) =>
  signProof(detail, {
    credentials: async () => ({ ...ALICE, ...extra }),
    region: 'us-east-1',
    audience: PROOF_AUDIENCE,
    endpoint: ENDPOINT,
    now: new Date(SIGNED_AT * 1000),
  });

describe('signProof', () => {
  it('signs a proof the broker reads and whose claims hold', async () => {
    // Arrange
    const detail = grantDetail();

    // Act
    const proof = await sign(detail);

    // Assert
    expect(parseProof(proof)).toEqual({ ok: true, proof });
    expect(proof).toMatchObject({
      credential: 'oncallalice/20260528/us-east-1/sts/aws4_request',
      date: SIGNED_DATE,
      expires: 60,
      audience: PROOF_AUDIENCE,
      bodySha256: bodySha256(detail),
    });
    expect(proof.securityToken).toBeUndefined();
    expect(
      checkProofClaims(proof, { audience: PROOF_AUDIENCE, bodySha256: bodySha256(detail), now: SIGNED_AT }),
    ).toEqual({
      ok: true,
    });
  });

  it('signs exactly the request the broker rebuilds, session token included', async () => {
    // Arrange
    const detail = grantDetail();

    // Act
    const proof = await sign(detail, { sessionToken: 'IQoJb3JpZ2luX2VjEHYaCXVzLWVhc3QtMSJH+/=' });
    const call = presignedCall(proof, { audience: PROOF_AUDIENCE, bodySha256: bodySha256(detail) });

    // Assert
    expect(proof.securityToken).toBe('IQoJb3JpZ2luX2VjEHYaCXVzLWVhc3QtMSJH+/=');
    expect(stsAccepts(stsRequest(call, ENDPOINT), ALICE.secretAccessKey)).toBe(true);
  });

  it('is refused by STS once any bound value differs from what was signed', async () => {
    // Arrange
    const detail = grantDetail();
    const proof = await sign(detail);
    const own = { audience: PROOF_AUDIENCE, bodySha256: bodySha256(detail) };

    // Act
    const verdicts = {
      otherBody: stsAccepts(
        stsRequest(
          presignedCall(proof, { ...own, bodySha256: bodySha256({ ...detail, durationSeconds: 1 }) }),
          ENDPOINT,
        ),
        ALICE.secretAccessKey,
      ),
      otherAudience: stsAccepts(
        stsRequest(presignedCall(proof, { ...own, audience: 'eks-access-broker-prod' }), ENDPOINT),
        ALICE.secretAccessKey,
      ),
      otherNonce: stsAccepts(
        stsRequest(presignedCall({ ...proof, nonce: 'another-nonce-0123456789' }, own), ENDPOINT),
        ALICE.secretAccessKey,
      ),
      otherHost: stsAccepts(
        stsRequest(presignedCall(proof, own), 'http://127.0.0.1:4567'),
        ALICE.secretAccessKey,
      ),
      otherSecret: stsAccepts(stsRequest(presignedCall(proof, own), ENDPOINT), 'not-alices-secret'),
    };

    // Assert
    expect(verdicts).toEqual({
      otherBody: false,
      otherAudience: false,
      otherNonce: false,
      otherHost: false,
      otherSecret: false,
    });
  });

  it('draws a fresh nonce for every proof', async () => {
    // Act
    const proofs = await Promise.all([sign(grantDetail()), sign(grantDetail())]);

    // Assert
    expect(proofs[0]?.nonce).not.toBe(proofs[1]?.nonce);
    expect(proofs[0]?.nonce).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});

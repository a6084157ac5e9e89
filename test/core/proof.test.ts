import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DETAIL_TYPES, parseRequest } from '../../functions/core/contract';
import {
  bodySha256,
  canonicalJson,
  checkProofClaims,
  credentialRegion,
  nonceKeepUntil,
  PROOF_HEADERS,
  PROOF_MAX_AGE_SECONDS,
  PROOF_MAX_SKEW_SECONDS,
  parseProof,
  presignedCall,
  signingTime,
  stsRequest,
} from '../../functions/core/proof';
import { aProof, grantDetail, PROOF_AUDIENCE, SIGNED_AT, SIGNED_DATE } from '../support/proofs';

const detail = grantDetail();
const expected = { audience: PROOF_AUDIENCE, bodySha256: bodySha256(detail), now: SIGNED_AT };

describe('canonicalJson', () => {
  it('sorts keys at every depth, keeps array order, and writes no whitespace', () => {
    // Arrange
    const value = { b: true, a: [3, { y: 'é', x: null }] };

    // Act
    const text = canonicalJson(value);

    // Assert
    expect(text).toBe('{"a":[3,{"x":null,"y":"é"}],"b":true}');
  });

  it('gives the same text whatever the key order and the serializer the value went through', () => {
    // Arrange
    const one = { requestId: 'r', accessScope: { type: 'namespace', namespaces: ['b', 'a'] }, n: 1.5 };
    const other = JSON.parse(
      '{ "n": 1.50, "accessScope": {"namespaces": ["b","a"], "type":"namespace"}, "requestId":"r"}',
    );

    // Act
    const texts = [canonicalJson(one), canonicalJson(other)];

    // Assert
    expect(texts[0]).toBe(texts[1]);
    expect(JSON.parse(texts[0] ?? '')).toEqual(one);
  });

  it('leaves out undefined members like JSON.stringify, and escapes strings as it does', () => {
    // Arrange
    const value = { a: undefined, b: [undefined, Number.NaN], c: 'line\n"quoted" \u2028 \ud800' };

    // Act
    const text = canonicalJson(value);

    // Assert
    expect(text).toBe(`{"b":[null,null],"c":${JSON.stringify(value.c)}}`);
  });

  it('refuses what is not JSON', () => {
    expect(() => canonicalJson({ a: 1n })).toThrow(TypeError);
  });
});

describe('bodySha256', () => {
  it('is the hex SHA-256 of the canonical JSON of the detail', () => {
    expect(bodySha256({ b: true, a: [3, { y: 'é', x: null }] })).toBe(
      'e2ebf7c0dccc53eb4baedf65a2915fb842edf437351222e22ac7fe70b6e5d8d0',
    );
  });

  it('leaves the proof out, and changes with any other field', () => {
    // Arrange
    const withProof = { ...detail, proof: aProof(detail) };

    // Act
    const hashes = {
      plain: bodySha256(detail),
      withProof: bodySha256(withProof),
      reordered: bodySha256(Object.fromEntries(Object.entries(detail).reverse())),
      longer: bodySha256({ ...detail, durationSeconds: 901 }),
      otherPrincipal: bodySha256({ ...detail, principalArn: 'arn:aws:iam::111122223333:role/intruder' }),
    };

    // Assert
    expect(hashes.withProof).toBe(hashes.plain);
    expect(hashes.reordered).toBe(hashes.plain);
    expect(hashes.longer).not.toBe(hashes.plain);
    expect(hashes.otherPrincipal).not.toBe(hashes.plain);
    expect(hashes.plain).toBe(createHash('sha256').update(canonicalJson(detail)).digest('hex'));
  });
});

describe('parseProof', () => {
  it('accepts a well-formed proof, with or without a session token', () => {
    expect(parseProof(aProof())).toEqual({ ok: true, proof: aProof() });
    expect(parseProof(aProof(detail, { securityToken: 'IQoJb3JpZ2luX2VjE+/=' })).ok).toBe(true);
  });

  it.each([
    ['not an object', 'proof', 'detail.proof'],
    ['another version', { ...aProof(), v: 2 }, 'detail.proof.v'],
    ['an unknown field', { ...aProof(), url: 'https://evil.example.com' }, 'detail.proof.url'],
    [
      'a credential for another service',
      { ...aProof(), credential: 'AKIA/20260528/us-east-1/s3/aws4_request' },
      'detail.proof.credential',
    ],
    [
      'a credential of another day',
      { ...aProof(), credential: 'AKIA/20260527/us-east-1/sts/aws4_request' },
      'detail.proof.credential',
    ],
    ['a date that is no time', { ...aProof(), date: '20260231T000000Z' }, 'detail.proof.date'],
    ['a window longer than 60 s', { ...aProof(), expires: 3600 }, 'detail.proof.expires'],
    ['other signed headers', { ...aProof(), signedHeaders: 'host' }, 'detail.proof.signedHeaders'],
    ['a signature that is not hex', { ...aProof(), signature: 'Z'.repeat(64) }, 'detail.proof.signature'],
    ['a short nonce', { ...aProof(), nonce: 'short' }, 'detail.proof.nonce'],
    ['a token with spaces', { ...aProof(), securityToken: 'a b' }, 'detail.proof.securityToken'],
    ['no body hash', { ...aProof(), bodySha256: undefined }, 'detail.proof.bodySha256'],
  ])('refuses %s as PROOF_INVALID, naming the field', (_, input, field) => {
    // Act
    const result = parseProof(input);

    // Assert
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.rejection.code).toBe('PROOF_INVALID');
      expect(result.rejection.field).toBe(field);
    }
  });
});

describe('checkProofClaims', () => {
  it('passes a proof for this audience and body within its window', () => {
    expect(checkProofClaims(aProof(), expected)).toEqual({ ok: true });
    expect(checkProofClaims(aProof(), { ...expected, now: SIGNED_AT + PROOF_MAX_AGE_SECONDS })).toEqual({
      ok: true,
    });
    expect(checkProofClaims(aProof(), { ...expected, now: SIGNED_AT - PROOF_MAX_SKEW_SECONDS })).toEqual({
      ok: true,
    });
  });

  it.each([
    [
      'for another audience',
      aProof(detail, { audience: 'eks-access-broker-prod' }),
      expected,
      'PROOF_WRONG_AUDIENCE',
    ],
    ['binding another body', aProof({ ...detail, durationSeconds: 28_800 }), expected, 'PROOF_WRONG_BODY'],
    [
      'older than 60 s',
      aProof(),
      { ...expected, now: SIGNED_AT + PROOF_MAX_AGE_SECONDS + 1 },
      'PROOF_EXPIRED',
    ],
    [
      'past its own shorter window',
      aProof(detail, { expires: 10 }),
      { ...expected, now: SIGNED_AT + 11 },
      'PROOF_EXPIRED',
    ],
    [
      'signed too far in the future',
      aProof(),
      { ...expected, now: SIGNED_AT - PROOF_MAX_SKEW_SECONDS - 1 },
      'PROOF_EXPIRED',
    ],
  ])('refuses a proof %s', (_, proof, claims, code) => {
    // Act
    const result = checkProofClaims(proof, claims);

    // Assert
    expect(result).toMatchObject({ ok: false, rejection: { code } });
  });

  it('answers the first failed claim: audience, then body, then time', () => {
    // Arrange
    const everythingWrong = aProof({ other: 'body' }, { audience: 'someone-else' });
    const bodyAndTime = aProof({ other: 'body' });
    const late = { ...expected, now: SIGNED_AT + 3600 };

    // Act
    const first = checkProofClaims(everythingWrong, late);
    const second = checkProofClaims(bodyAndTime, late);

    // Assert
    expect(first).toMatchObject({ ok: false, rejection: { code: 'PROOF_WRONG_AUDIENCE' } });
    expect(second).toMatchObject({ ok: false, rejection: { code: 'PROOF_WRONG_BODY' } });
  });
});

describe('the STS call', () => {
  it('keeps the nonce past the last moment the proof could pass', () => {
    expect(signingTime(SIGNED_DATE)).toBe(SIGNED_AT);
    expect(nonceKeepUntil(aProof())).toBeGreaterThan(SIGNED_AT + PROOF_MAX_AGE_SECONDS);
  });

  it('names the region of the credential scope', () => {
    expect(credentialRegion(aProof().credential)).toBe('us-east-1');
    expect(credentialRegion('nonsense')).toBeUndefined();
  });

  it("is a GET of the broker's endpoint with the signature's parameters and the broker's own header values", () => {
    // Arrange
    const proof = aProof(detail, { securityToken: 'IQo+token/with=' });
    const call = presignedCall(proof, { audience: 'broker-audience', bodySha256: 'f'.repeat(64) });

    // Act
    const request = stsRequest(call, 'http://127.0.0.1:4566');

    // Assert
    const url = new URL(request.url);
    expect(url.origin).toBe('http://127.0.0.1:4566');
    expect(url.pathname).toBe('/');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      Action: 'GetCallerIdentity',
      Version: '2011-06-15',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': proof.credential,
      'X-Amz-Date': proof.date,
      'X-Amz-Expires': '60',
      'X-Amz-SignedHeaders': proof.signedHeaders,
      'X-Amz-Security-Token': 'IQo+token/with=',
      'X-Amz-Signature': proof.signature,
    });
    expect(request.url).toContain('X-Amz-Security-Token=IQo%2Btoken%2Fwith%3D');
    expect(request.headers).toEqual({
      [PROOF_HEADERS.audience]: 'broker-audience',
      [PROOF_HEADERS.bodySha256]: 'f'.repeat(64),
      [PROOF_HEADERS.nonce]: proof.nonce,
    });
  });
});

describe('the contract and the proof', () => {
  const envelope = (d: unknown) => ({
    source: 'com.example.ticketing',
    'detail-type': DETAIL_TYPES.grant,
    detail: d,
  });
  const options = { allowedSources: ['com.example.ticketing'] };

  it('admits a detail with a well-formed proof', () => {
    expect(parseRequest(envelope({ ...detail, proof: aProof() }), options).ok).toBe(true);
  });

  it('refuses a request whose only fault is its proof as PROOF_INVALID, and other faults as INVALID_FIELD', () => {
    // Act
    const badProof = parseRequest(envelope({ ...detail, proof: { ...aProof(), nonce: '!' } }), options);
    const badBoth = parseRequest(
      envelope({ ...detail, durationSeconds: -1, proof: { ...aProof(), nonce: '!' } }),
      options,
    );

    // Assert
    expect(badProof).toMatchObject({
      ok: false,
      rejection: { code: 'PROOF_INVALID', field: 'detail.proof.nonce' },
    });
    expect(badBoth).toMatchObject({ ok: false, rejection: { code: 'INVALID_FIELD' } });
  });
});

import { describe, expect, it, vi } from 'vitest';
import {
  callerArnOf,
  resolveStsTarget,
  StsIdentityProofs,
} from '../../functions/adapters/sts-identity-proofs';
import { ConfigurationError, RetryableError } from '../../functions/core/errors';
import { PROOF_HEADERS, presignedCall } from '../../functions/core/proof';
import { aProof, PROOF_AUDIENCE } from '../support/proofs';

const ARN = 'arn:aws:sts::111122223333:assumed-role/oncall-alice/alice@example.com';
const TARGET = { endpoint: 'https://sts.us-east-1.amazonaws.com/', region: 'us-east-1' };
const CALL = presignedCall(aProof(), { audience: PROOF_AUDIENCE, bodySha256: 'c'.repeat(64) });

const answer = (arn: string) => `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>${arn}</Arn>
    <UserId>AROAEXAMPLE:alice</UserId>
    <Account>111122223333</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>0f5b3a5e-1111-2222-3333-444455556666</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`;

const stsError = (code: string) =>
  `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>no</Message></Error></ErrorResponse>`;

function fetchAnswering(status: number, body: string) {
  return vi.fn<typeof fetch>(async () => new Response(body, { status }));
}

describe('StsIdentityProofs', () => {
  it("sends the presigned GET to its own endpoint with the broker's header values, and reads the caller", async () => {
    // Arrange
    const fetch = fetchAnswering(200, answer(ARN));
    const proofs = new StsIdentityProofs({ target: TARGET, fetch });

    // Act
    const caller = await proofs.callerOf(CALL);

    // Assert
    expect(caller).toBe(ARN);
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0] ?? [];
    const sent = new URL(String(url));
    expect(sent.origin).toBe('https://sts.us-east-1.amazonaws.com');
    expect(sent.searchParams.get('Action')).toBe('GetCallerIdentity');
    expect(sent.searchParams.get('X-Amz-Signature')).toBe(CALL.signature);
    expect(init?.method).toBe('GET');
    expect(init?.redirect).toBe('manual');
    expect(init?.headers).toEqual({
      [PROOF_HEADERS.audience]: PROOF_AUDIENCE,
      [PROOF_HEADERS.bodySha256]: 'c'.repeat(64),
      [PROOF_HEADERS.nonce]: CALL.nonce,
    });
  });

  it.each([
    ['a signature STS does not match', 403, stsError('SignatureDoesNotMatch')],
    ['an expired request', 403, stsError('AccessDenied')],
    ['an unknown access key', 403, stsError('InvalidClientTokenId')],
    ['a redirect', 302, ''],
    ['a 200 that is not a GetCallerIdentityResponse', 200, '<html>captive portal</html>'],
  ])('answers undefined for %s', async (_, status, body) => {
    // Arrange
    const proofs = new StsIdentityProofs({ target: TARGET, fetch: fetchAnswering(status, body) });

    // Act
    const caller = await proofs.callerOf(CALL);

    // Assert
    expect(caller).toBeUndefined();
  });

  it('does not ask STS about a credential scoped to another region', async () => {
    // Arrange
    const fetch = fetchAnswering(200, answer(ARN));
    const proofs = new StsIdentityProofs({ target: { ...TARGET, region: 'eu-west-1' }, fetch });

    // Act
    const caller = await proofs.callerOf(CALL);

    // Assert
    expect(caller).toBeUndefined();
    expect(fetch).not.toHaveBeenCalled();
  });

  it.each([
    ['a 5xx', 503, stsError('ServiceUnavailable')],
    ['throttling', 400, stsError('Throttling')],
    ['a 429', 429, ''],
  ])('throws RetryableError for %s', async (_, status, body) => {
    // Arrange
    const proofs = new StsIdentityProofs({ target: TARGET, fetch: fetchAnswering(status, body) });

    // Act
    const outcome = proofs.callerOf(CALL);

    // Assert
    await expect(outcome).rejects.toBeInstanceOf(RetryableError);
  });

  it('throws RetryableError, with the cause, when STS does not answer', async () => {
    // Arrange
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const unreachable = vi.fn<typeof fetch>(async () => {
      throw new TypeError('fetch failed', { cause: refused });
    });
    const timedOut = vi.fn<typeof fetch>(async () => {
      throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    });

    // Act
    const failures = await Promise.all(
      [unreachable, timedOut].map((f) =>
        new StsIdentityProofs({ target: TARGET, fetch: f }).callerOf(CALL).catch((error: unknown) => error),
      ),
    );

    // Assert
    expect(failures[0]).toBeInstanceOf(RetryableError);
    expect((failures[0] as Error).cause).toBeInstanceOf(TypeError);
    expect(failures[1]).toBeInstanceOf(RetryableError);
  });

  it('resolves its target once, and again after a failure', async () => {
    // Arrange
    const target = vi
      .fn<() => Promise<typeof TARGET>>()
      .mockRejectedValueOnce(new Error('Region is missing'))
      .mockResolvedValue(TARGET);
    const proofs = new StsIdentityProofs({ target, fetch: fetchAnswering(200, answer(ARN)) });

    // Act
    const first = await proofs.callerOf(CALL).catch((error: unknown) => error);
    const second = await proofs.callerOf(CALL);
    const third = await proofs.callerOf(CALL);

    // Assert
    expect(first).toBeInstanceOf(Error);
    expect([second, third]).toEqual([ARN, ARN]);
    expect(target).toHaveBeenCalledTimes(2);
  });

  it('refuses an unknown option', () => {
    expect(() => new StsIdentityProofs({ target: TARGET, endpoint: 'x' } as never)).toThrow(
      ConfigurationError,
    );
  });
});

describe('callerArnOf', () => {
  it('reads the ARN of a GetCallerIdentityResponse, unescaping XML', () => {
    expect(callerArnOf(answer('arn:aws:sts::111122223333:assumed-role/dev/bob&amp;co'))).toBe(
      'arn:aws:sts::111122223333:assumed-role/dev/bob&co',
    );
    expect(callerArnOf(answer('arn:aws:iam::111122223333:user/ops/carol'))).toBe(
      'arn:aws:iam::111122223333:user/ops/carol',
    );
  });

  it('answers undefined for anything else', () => {
    expect(callerArnOf('<Arn>arn:aws:iam::111122223333:role/x</Arn>')).toBeUndefined();
    expect(callerArnOf(answer('not-an-arn'))).toBeUndefined();
  });
});

describe('resolveStsTarget', () => {
  it("is the region's own STS endpoint, never the global one", async () => {
    await expect(resolveStsTarget({ region: 'us-east-1', env: {} })).resolves.toEqual({
      endpoint: 'https://sts.us-east-1.amazonaws.com/',
      region: 'us-east-1',
    });
    await expect(resolveStsTarget({ region: 'cn-north-1', env: {} })).resolves.toEqual({
      endpoint: 'https://sts.cn-north-1.amazonaws.com.cn/',
      region: 'cn-north-1',
    });
  });

  it('is the FIPS endpoint when AWS_USE_FIPS_ENDPOINT is true, and the region comes from AWS_REGION', async () => {
    await expect(
      resolveStsTarget({ env: { AWS_REGION: 'us-gov-west-1', AWS_USE_FIPS_ENDPOINT: 'true' } }),
    ).resolves.toEqual({
      endpoint: 'https://sts-fips.us-gov-west-1.amazonaws.com/',
      region: 'us-gov-west-1',
    });
    await expect(resolveStsTarget({ env: {} })).rejects.toThrow('No AWS region: set AWS_REGION');
  });

  it('is AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, when set (the local edge)', async () => {
    await expect(
      resolveStsTarget({ region: 'us-east-1', env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' } }),
    ).resolves.toEqual({ endpoint: 'http://127.0.0.1:4566', region: 'us-east-1' });
    await expect(
      resolveStsTarget({
        region: 'us-east-1',
        env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9999' },
      }),
    ).resolves.toEqual({ endpoint: 'http://127.0.0.1:9999', region: 'us-east-1' });
  });
});

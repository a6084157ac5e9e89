import { describe, expect, it } from 'vitest';
import { type ProofDeps, proveRequester } from '../../functions/app/prove-requester';
import { RetryableError } from '../../functions/core/errors';
import { bodySha256, nonceKeepUntil, type Proof, presignedCall } from '../../functions/core/proof';
import { MemoryLeaseTable } from '../support/fakes/memory-lease-table';
import { RecordingIdentityProofs } from '../support/fakes/recording-identity-proofs';
import { aProof, grantDetail, PROOF_AUDIENCE, SIGNED_AT } from '../support/proofs';

const ALICE = 'arn:aws:sts::111122223333:assumed-role/oncall-alice/alice';

interface World {
  readonly deps: ProofDeps;
  readonly sts: RecordingIdentityProofs;
  readonly nonces: MemoryLeaseTable;
  /** Epoch seconds the broker's clock reads. */
  now: number;
}

function world(): World {
  const sts = new RecordingIdentityProofs();
  const nonces = new MemoryLeaseTable();
  const w: World = {
    sts,
    nonces,
    now: SIGNED_AT + 5,
    deps: { clock: () => w.now * 1000, proofs: sts, nonces, audience: PROOF_AUDIENCE },
  };
  return w;
}

/** What the signer signed: STS vouches for exactly this. */
function signed(w: World, detail: unknown, proof: Proof, caller = ALICE): void {
  w.sts.vouch(presignedCall(proof, { audience: proof.audience, bodySha256: bodySha256(detail) }), caller);
}

describe('proveRequester', () => {
  it('answers the caller STS vouches for, asking STS with its own values, and remembers the nonce', async () => {
    // Arrange
    const w = world();
    const detail = grantDetail();
    const proof = aProof(detail);
    signed(w, detail, proof);

    // Act
    const result = await proveRequester(w.deps, { ...detail, proof }, proof);

    // Assert
    expect(result).toEqual({ ok: true, caller: ALICE });
    expect(w.sts.calls).toEqual([
      presignedCall(proof, { audience: PROOF_AUDIENCE, bodySha256: bodySha256(detail) }),
    ]);
    expect(w.nonces.nonceKeptUntil(proof.nonce)).toBe(nonceKeepUntil(proof));
  });

  it.each([
    ['a malformed proof', (p: Proof) => ({ ...p, signature: 'not-hex' }), 0, 'PROOF_INVALID'],
    [
      'a proof for another broker',
      (p: Proof) => ({ ...p, audience: 'eks-access-broker-prod' }),
      0,
      'PROOF_WRONG_AUDIENCE',
    ],
    [
      'a proof of another body',
      (p: Proof) => ({ ...p, bodySha256: bodySha256({ other: 1 }) }),
      0,
      'PROOF_WRONG_BODY',
    ],
    ['a stale proof', (p: Proof) => p, 61, 'PROOF_EXPIRED'],
  ])('refuses %s without asking STS or writing the nonce', async (_, change, late, code) => {
    // Arrange
    const w = world();
    const detail = grantDetail();
    const proof = aProof(detail);
    signed(w, detail, proof);
    w.now = SIGNED_AT + late;

    // Act
    const result = await proveRequester(w.deps, detail, change(proof));

    // Assert
    expect(result).toMatchObject({ ok: false, rejection: { code } });
    expect(w.sts.calls).toHaveLength(0);
    expect(w.nonces.calls.get('remember')).toBeUndefined();
  });

  it('checks the cheap claims in order: audience before body before time', async () => {
    // Arrange
    const w = world();
    const proof = aProof({ other: 'body' }, { audience: 'someone-else' });
    w.now = SIGNED_AT + 3600;

    // Act
    const result = await proveRequester(w.deps, grantDetail(), proof);

    // Assert
    expect(result).toMatchObject({ ok: false, rejection: { code: 'PROOF_WRONG_AUDIENCE' } });
  });

  it.each([
    [
      'its signature was tampered with',
      (p: Proof) => ({ ...p, signature: 'b'.repeat(64) }),
      (d: Record<string, unknown>) => d,
    ],
    [
      'the detail and its hash were both changed after signing',
      (p: Proof) => ({ ...p, bodySha256: bodySha256({ ...grantDetail(), durationSeconds: 28_800 }) }),
      (d: Record<string, unknown>) => ({ ...d, durationSeconds: 28_800 }),
    ],
    [
      'STS does not know the signer',
      (p: Proof) => ({ ...p, nonce: 'another-nonce-0123456789' }),
      (d: Record<string, unknown>) => d,
    ],
  ])(
    'refuses a proof STS does not vouch for (%s) as PROOF_INVALID, and writes no nonce',
    async (_, change, changeDetail) => {
      // Arrange
      const w = world();
      const detail = grantDetail();
      const proof = aProof(detail);
      signed(w, detail, proof);

      // Act
      const result = await proveRequester(w.deps, changeDetail(detail), change(proof));

      // Assert
      expect(result).toMatchObject({
        ok: false,
        rejection: { code: 'PROOF_INVALID', field: 'detail.proof' },
      });
      expect(w.sts.calls).toHaveLength(1);
      expect(w.nonces.calls.get('remember')).toBeUndefined();
    },
  );

  it('sends its own audience, so a proof signed for another broker and relabelled is refused by STS', async () => {
    // Arrange
    const w = world();
    const detail = grantDetail();
    const forProd = aProof(detail, { audience: 'eks-access-broker-prod' });
    signed(w, detail, forProd);

    // Act
    const result = await proveRequester(w.deps, detail, { ...forProd, audience: PROOF_AUDIENCE });

    // Assert
    expect(result).toMatchObject({ ok: false, rejection: { code: 'PROOF_INVALID' } });
    expect(w.sts.calls[0]?.audience).toBe(PROOF_AUDIENCE);
  });

  it('refuses the same proof a second time as PROOF_REPLAYED', async () => {
    // Arrange
    const w = world();
    const detail = grantDetail();
    const proof = aProof(detail);
    signed(w, detail, proof);
    const first = await proveRequester(w.deps, detail, proof);
    w.now += 10;

    // Act
    const replay = await proveRequester(w.deps, detail, proof);

    // Assert
    expect(first.ok).toBe(true);
    expect(replay).toMatchObject({
      ok: false,
      rejection: { code: 'PROOF_REPLAYED', field: 'detail.proof.nonce' },
    });
  });

  it('lets an STS outage through as retryable, with no nonce written', async () => {
    // Arrange
    const w = world();
    const detail = grantDetail();
    const deps: ProofDeps = {
      ...w.deps,
      proofs: {
        callerOf: async () => {
          throw new RetryableError('STS GetCallerIdentity: no answer from STS');
        },
      },
    };

    // Act
    const outcome = proveRequester(deps, detail, aProof(detail));

    // Assert
    await expect(outcome).rejects.toBeInstanceOf(RetryableError);
    expect(w.nonces.calls.get('remember')).toBeUndefined();
  });
});

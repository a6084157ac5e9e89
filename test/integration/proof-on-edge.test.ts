import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StsIdentityProofs } from '../../functions/adapters/sts-identity-proofs';
import { type ProofDeps, proveRequester } from '../../functions/app/prove-requester';
import { main } from '../../functions/cli/main';
import { DETAIL_TYPES } from '../../functions/core/contract';
import { bodySha256, type Proof, presignedCall } from '../../functions/core/proof';
import { isRecord } from '../../functions/core/validation';
import { type Edge, startEdge } from '../../infra/local/edge';
import { MemoryLeaseTable } from '../support/fakes/memory-lease-table';

const ALICE_ROLE = 'arn:aws:iam::111122223333:role/oncall-alice';
/** Who the edge's STS says signs with access key `oncallalice` (infra/local/identities.json). */
const ALICE_SESSION = 'arn:aws:sts::111122223333:assumed-role/oncall-alice/oncallalice';
const AUDIENCE = 'eks-access-broker-local';
const SOURCE = 'com.example.oncall';

let edge: Edge;
const sent: Record<string, unknown>[] = [];
const saved = { ...process.env };

beforeAll(async () => {
  edge = await startEdge({ port: 0, dynamodb: false });
  edge.bus.subscribe({ source: [SOURCE], detailType: Object.values(DETAIL_TYPES) }, async (event) => {
    if (isRecord(event.detail)) sent.push(event.detail);
  });
  // The CLI signs with the SDK's default chain: Alice's keys, pointed at the edge as `npm start` users do.
  for (const name of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL_STS', 'EVENT_BUS_NAME'])
    delete process.env[name];
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: edge.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'oncallalice',
    AWS_SECRET_ACCESS_KEY: 'oncallalice',
  });
});

afterAll(async () => {
  process.env = saved;
  await edge.close();
});

/** The broker's side: the real STS adapter against the edge's STS, nonces in memory. */
function broker(): ProofDeps {
  return {
    clock: Date.now,
    proofs: new StsIdentityProofs({ target: { endpoint: edge.url, region: 'us-east-1' } }),
    nonces: new MemoryLeaseTable(),
    audience: AUDIENCE,
  };
}

/** Runs `npx eks-access-broker break-glass ...` as Alice and answers the detail it put on the bus. */
async function breakGlass(...extra: string[]): Promise<Record<string, unknown>> {
  const before = sent.length;
  await main(
    [
      'break-glass',
      '--cluster',
      'demo',
      '--principal',
      ALICE_ROLE,
      '--duration',
      '15m',
      '--reason',
      'INC-7: the payments API is down',
      '--source',
      SOURCE,
      '--requested-by',
      'alice',
      ...extra,
    ],
    () => undefined,
  );
  const deadline = Date.now() + 5_000;
  while (sent.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const detail = sent[before];
  if (!detail) throw new Error('the CLI put nothing on the bus');
  return detail;
}

const proofOf = (detail: Record<string, unknown>) => detail.proof as Proof;

describe('a proof signed by the CLI, checked by the broker against the edge STS', () => {
  it('is accepted, naming the signer as STS knows them, and only once', async () => {
    // Arrange
    const detail = await breakGlass();
    const deps = broker();

    // Act
    const first = await proveRequester(deps, detail, detail.proof);
    const replay = await proveRequester(deps, detail, detail.proof);

    // Assert
    expect(proofOf(detail)).toMatchObject({ audience: AUDIENCE, bodySha256: bodySha256(detail) });
    expect(first).toEqual({ ok: true, caller: ALICE_SESSION });
    expect(replay).toMatchObject({ ok: false, rejection: { code: 'PROOF_REPLAYED' } });
  });

  it.each([
    [
      'a longer duration, its hash recomputed',
      (d: Record<string, unknown>) => ({ ...d, durationSeconds: 28_800 }),
      (p: Proof, d: Record<string, unknown>) => ({ ...p, bodySha256: bodySha256(d) }),
    ],
    [
      'another beneficiary, its hash recomputed',
      (d: Record<string, unknown>) => ({ ...d, principalArn: 'arn:aws:iam::111122223333:role/intruder' }),
      (p: Proof, d: Record<string, unknown>) => ({ ...p, bodySha256: bodySha256(d) }),
    ],
    [
      'another nonce',
      (d: Record<string, unknown>) => d,
      (p: Proof) => ({ ...p, nonce: 'fresh-nonce-0123456789' }),
    ],
    [
      'a flipped signature',
      (d: Record<string, unknown>) => d,
      (p: Proof) => ({
        ...p,
        signature: `${p.signature.startsWith('0') ? '1' : '0'}${p.signature.slice(1)}`,
      }),
    ],
    [
      "another principal's access key",
      (d: Record<string, unknown>) => d,
      (p: Proof) => ({ ...p, credential: p.credential.replace(/^oncallalice\//, 'intruder/') }),
    ],
  ])(
    'is refused as PROOF_INVALID when tampered with (%s), and burns no nonce',
    async (_, changeDetail, changeProof) => {
      // Arrange
      const signed = await breakGlass();
      const detail = changeDetail(signed);
      const proof = changeProof(proofOf(signed), detail);
      const deps = broker();

      // Act
      const tampered = await proveRequester(deps, detail, proof);
      const genuine = await proveRequester(deps, signed, signed.proof);

      // Assert
      expect(tampered).toMatchObject({ ok: false, rejection: { code: 'PROOF_INVALID' } });
      expect(genuine).toEqual({ ok: true, caller: ALICE_SESSION });
    },
  );

  it('is refused by the edge STS itself when sent with other bound values', async () => {
    // Arrange
    const detail = await breakGlass();
    const proofs = new StsIdentityProofs({ target: { endpoint: edge.url, region: 'us-east-1' } });
    const own = { audience: AUDIENCE, bodySha256: bodySha256(detail) };

    // Act
    const asSigned = await proofs.callerOf(presignedCall(proofOf(detail), own));
    const otherAudience = await proofs.callerOf(
      presignedCall(proofOf(detail), { ...own, audience: 'eks-access-broker-prod' }),
    );

    // Assert
    expect(asSigned).toBe(ALICE_SESSION);
    expect(otherAudience).toBeUndefined();
  });

  it('is left out with --no-proof', async () => {
    // Act
    const detail = await breakGlass('--no-proof');

    // Assert
    expect(detail.proof).toBeUndefined();
    expect(detail.requestedBy).toBe('alice');
  });
});

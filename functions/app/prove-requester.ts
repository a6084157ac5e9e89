import type { Rejection } from '../core/model';
import { bodySha256, checkProofClaims, nonceKeepUntil, parseProof, presignedCall } from '../core/proof';
import { type IntakeDeps, nowSeconds } from './deps';

export type ProofDeps = Pick<IntakeDeps, 'clock' | 'proofs' | 'nonces' | 'audience'>;

export type ProvenRequester =
  | { readonly ok: true; readonly caller: string }
  | { readonly ok: false; readonly rejection: Rejection };

/**
 * Who signed the request's proof, as STS says. Cheap checks first (shape, audience, body, window), so STS is
 * asked only about a proof that could be valid; the request STS sees is the broker's own, built for its own
 * endpoint with its own values of the bound headers; the nonce is written only for a proof STS vouched for,
 * so a forged proof cannot burn a nonce. `detail`: the request's detail as it arrived (the proof binds it,
 * not the normalized request); `proof`: its `proof`, unchecked.
 */
export async function proveRequester(
  deps: ProofDeps,
  detail: unknown,
  proof: unknown,
): Promise<ProvenRequester> {
  const parsed = parseProof(proof);
  if (!parsed.ok) return parsed;
  let body: string;
  try {
    body = bodySha256(detail);
  } catch {
    // Only a detail that is not JSON gets here (the contract admits none): no hash, so nothing to prove.
    return refuse('PROOF_INVALID', 'the request detail cannot be hashed');
  }
  const claims = checkProofClaims(parsed.proof, {
    audience: deps.audience,
    bodySha256: body,
    now: nowSeconds(deps),
  });
  if (!claims.ok) return claims;
  const caller = await deps.proofs.callerOf(
    presignedCall(parsed.proof, { audience: deps.audience, bodySha256: body }),
  );
  if (caller === undefined) {
    return refuse(
      'PROOF_INVALID',
      'STS did not vouch for the proof: it is tampered, wrongly signed or for another region',
    );
  }
  if (!(await deps.nonces.remember(parsed.proof.nonce, nonceKeepUntil(parsed.proof)))) {
    return refuse(
      'PROOF_REPLAYED',
      'the proof was used before: sign each request anew',
      'detail.proof.nonce',
    );
  }
  return { ok: true, caller };
}

function refuse(code: Rejection['code'], reason: string, field = 'detail.proof'): ProvenRequester {
  return { ok: false, rejection: { code, field, reason } };
}

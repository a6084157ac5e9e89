import { signProof } from '../../functions/cli/proof';
import { bodySha256, PROOF_SIGNED_HEADERS, type Proof } from '../../functions/core/proof';

/** A signing time (epoch seconds) and its X-Amz-Date: 2026-05-28T20:26:40Z. */
export const SIGNED_AT = 1_780_000_000;
export const SIGNED_DATE = '20260528T202640Z';
export const PROOF_AUDIENCE = 'eks-access-broker-local';

/** A grant detail as the CLI sends it (before its proof). */
export function grantDetail(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    requestId: 'cli-proof-1',
    clusterName: 'demo',
    principalArn: 'arn:aws:iam::111122223333:role/oncall-alice',
    policyArn: 'AmazonEKSClusterAdminPolicy',
    accessScope: { type: 'cluster' },
    durationSeconds: 900,
    requestedBy: 'alice',
    reason: 'INC-7: the payments API is down',
    breakGlass: true,
    ...overrides,
  };
}

/** A well-formed proof for `detail` (its claims hold at SIGNED_AT; only STS can say whether it is signed). */
export function aProof(detail: unknown = grantDetail(), overrides: Partial<Proof> = {}): Proof {
  return {
    v: 1,
    credential: `oncallalice/${SIGNED_DATE.slice(0, 8)}/us-east-1/sts/aws4_request`,
    date: SIGNED_DATE,
    expires: 60,
    signedHeaders: PROOF_SIGNED_HEADERS,
    signature: 'a'.repeat(64),
    audience: PROOF_AUDIENCE,
    bodySha256: bodySha256(detail),
    nonce: 'nonce-0123456789abcdef',
    ...overrides,
  };
}

/**
 * `event` as a person sends it with the CLI: its detail with a proof signed by the local edge identity
 * `accessKeyId` (its secret is its id), for the local broker's audience, checked by the edge's STS at `edgeUrl`.
 */
export async function signedByLocal<E extends { readonly detail: Record<string, unknown> }>(
  event: E,
  accessKeyId: string,
  edgeUrl: string,
): Promise<E> {
  const proof = await signProof(event.detail, {
    credentials: { accessKeyId, secretAccessKey: accessKeyId },
    region: 'us-east-1',
    audience: PROOF_AUDIENCE,
    endpoint: edgeUrl,
  });
  return { ...event, detail: { ...event.detail, proof } };
}

import { createHash, createHmac, type Hash, type Hmac, randomBytes } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { resolveStsTarget } from '../adapters/sts-identity-proofs';
import {
  bodySha256,
  PROOF_HEADERS,
  PROOF_MAX_AGE_SECONDS,
  PROOF_SIGNED_HEADERS,
  PROOF_VERSION,
  type Proof,
  STS_CALL_QUERY,
} from '../core/proof';
import { CliError } from './errors';

type SignerOptions = ConstructorParameters<typeof SignatureV4>[0];
type Credentials = SignerOptions['credentials'];
type PresignInput = Parameters<SignatureV4['presign']>[0];

/** What signs a proof: whose credentials, in which region, for which broker, at what time. */
export interface ProofSigning {
  /** Your own credentials (the SDK's default chain: the client's config). */
  readonly credentials: Credentials;
  /** The broker's region: the proof is checked by that region's STS. */
  readonly region: string;
  /** The broker's audience: `eks-access-broker-<stage>`. */
  readonly audience: string;
  /** Where the broker sends it (the regional STS endpoint, or the local edge). Resolved when absent. */
  readonly endpoint?: string;
  readonly now?: Date;
  readonly nonce?: string;
}

/**
 * Signs the requester's proof for `detail`: presigns sts:GetCallerIdentity with your credentials, binding the
 * SHA-256 of the detail (without its proof), the broker's audience and a fresh nonce in signed headers, for
 * the broker's window. The broker rebuilds the same request and sends it to STS; nothing secret leaves here.
 */
export async function signProof(
  detail: Readonly<Record<string, unknown>>,
  signing: ProofSigning,
): Promise<Proof> {
  const endpoint = new URL(signing.endpoint ?? (await resolveStsTarget({ region: signing.region })).endpoint);
  const body = bodySha256(detail);
  const nonce = signing.nonce ?? randomBytes(24).toString('base64url');
  const signer = new SignatureV4({
    service: 'sts',
    region: signing.region,
    credentials: signing.credentials,
    sha256: NodeSha256,
  });
  const request: PresignInput = {
    method: 'GET',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
    path: endpoint.pathname,
    query: { ...STS_CALL_QUERY },
    headers: {
      host: endpoint.host,
      [PROOF_HEADERS.audience]: signing.audience,
      [PROOF_HEADERS.bodySha256]: body,
      [PROOF_HEADERS.nonce]: nonce,
    },
  };
  const presigned = await signer.presign(request, {
    expiresIn: PROOF_MAX_AGE_SECONDS,
    ...(signing.now ? { signingDate: signing.now } : {}),
  });
  const query = (name: string): string | undefined => {
    const value = presigned.query?.[name];
    return typeof value === 'string' ? value : undefined;
  };
  const credential = query('X-Amz-Credential');
  const date = query('X-Amz-Date');
  const signature = query('X-Amz-Signature');
  const securityToken = query('X-Amz-Security-Token');
  // The signer decides what it signs: a header it left out would make a proof the broker cannot check.
  if (!credential || !date || !signature || query('X-Amz-SignedHeaders') !== PROOF_SIGNED_HEADERS) {
    throw new CliError(
      `Could not sign the proof: the signer signed ${query('X-Amz-SignedHeaders') ?? 'nothing'}.`,
    );
  }
  return {
    v: PROOF_VERSION,
    credential,
    date,
    expires: PROOF_MAX_AGE_SECONDS,
    signedHeaders: PROOF_SIGNED_HEADERS,
    signature,
    ...(securityToken ? { securityToken } : {}),
    audience: signing.audience,
    bodySha256: body,
    nonce,
  };
}

/** SHA-256 (and its HMAC, given a secret) on node:crypto, in the shape the SDK's signer takes. */
class NodeSha256 {
  private hash: Hash | Hmac;

  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }

  reset(): void {
    this.hash = this.fresh();
  }

  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

import type { IdentityProofs } from '../../../functions/app/ports';
import type { PresignedCall } from '../../../functions/core/proof';

/**
 * STS as the use cases meet it: it vouches for a presigned call only when every piece the signature covers is
 * exactly what was signed (a test says so with vouch()), as STS recomputes the signature; anything else is
 * refused. Every call is recorded, so a test can say STS was never asked.
 */
export class RecordingIdentityProofs implements IdentityProofs {
  readonly calls: PresignedCall[] = [];
  private readonly signed = new Map<string, string>();

  /** `call`, exactly as signed, is vouched for as `callerArn`. */
  vouch(call: PresignedCall, callerArn: string): void {
    this.signed.set(signedKey(call), callerArn);
  }

  async callerOf(call: PresignedCall): Promise<string | undefined> {
    this.calls.push({ ...call });
    return this.signed.get(signedKey(call));
  }
}

function signedKey(call: PresignedCall): string {
  return JSON.stringify([
    call.credential,
    call.date,
    call.expires,
    call.signedHeaders,
    call.signature,
    call.securityToken ?? null,
    call.audience,
    call.bodySha256,
    call.nonce,
  ]);
}

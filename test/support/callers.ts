import type { Caller } from '../../functions/core/model';
import { type AuthenticatedCaller, loadIdentities } from '../../infra/local/identities';

/** The example ticketing integration (infra/access-rules.yaml), as its role sends on the requests queue. */
export const TICKETING_ROLE = 'arn:aws:iam::111122223333:role/ticketing-integration';

/** A request of the ticketing integration, the way the intake identifies it. */
export const TICKETING_CALLER: Caller = { integration: 'ticketing', sender: TICKETING_ROLE };

/** The local edge's identity `accessKeyId` (infra/local/identities), as a caller of the edge's services. */
export function localCaller(accessKeyId = 'test'): AuthenticatedCaller {
  const identity = loadIdentities().byAccessKey(accessKeyId);
  if (!identity) throw new Error(`No local identity with access key ${accessKeyId}`);
  return identity.caller;
}

/** The SenderId SQS records for a message the local edge's identity `accessKeyId` sent. */
export function localSenderId(accessKeyId = 'test'): string {
  return localCaller(accessKeyId).userId;
}

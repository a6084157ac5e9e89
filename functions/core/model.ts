/**
 * The broker's domain vocabulary, shared by the pure core, the adapters and the handlers. Nothing here imports
 * an AWS SDK, a Lambda type or a logger. Times are epoch seconds unless a name says otherwise.
 */
import { BROKER_NAME } from './names';

/** The EKS API's own scope shape. Cluster scope carries no namespaces. */
export type AccessScope =
  | { readonly type: 'cluster' }
  | { readonly type: 'namespace'; readonly namespaces: readonly string[] };

/** Whose access is reconciled as one unit: EKS allows one access entry per principal per cluster. */
export interface Subject {
  readonly clusterName: string;
  readonly principalArn: string;
}

export interface Ticket {
  readonly system: string;
  readonly key: string;
  readonly url?: string;
}

/** `Access Grant Requested`, parsed and normalized (policyArn always a full ARN, namespaces sorted, unique). */
export interface GrantRequest extends Subject {
  readonly kind: 'grant';
  readonly requestId: string;
  readonly policyArn: string;
  readonly accessScope: AccessScope;
  readonly durationSeconds: number;
  readonly requestedBy: string;
  readonly reason: string;
  readonly ticket?: Ticket;
  readonly breakGlass: boolean;
  /** The EventBridge `source` the request came from (checked against the allow-list). */
  readonly source: string;
}

/** `Access Revoke Requested`: ends the lease of grant `requestId` now. */
export interface RevokeRequest {
  readonly kind: 'revoke';
  readonly requestId: string;
  readonly requestedBy: string;
  readonly reason: string;
  readonly source: string;
}

/** `Access Extend Requested`: adds `durationSeconds` to the lease of grant `requestId`. */
export interface ExtendRequest {
  readonly kind: 'extend';
  readonly requestId: string;
  readonly durationSeconds: number;
  readonly requestedBy: string;
  readonly reason: string;
  readonly source: string;
}

export type BrokerRequest = GrantRequest | RevokeRequest | ExtendRequest;

/** Machine-readable rejection codes, published in `Access Grant Rejected`. */
export type RejectionCode =
  | 'INVALID_ENVELOPE'
  | 'UNKNOWN_DETAIL_TYPE'
  | 'SOURCE_NOT_ALLOWED'
  | 'INVALID_FIELD'
  | 'UNKNOWN_CLUSTER'
  | 'NOT_ALLOWED'
  | 'DURATION_TOO_LONG'
  | 'BREAK_GLASS_REQUIRED'
  | 'BREAK_GLASS_REASON_REQUIRED'
  | 'IDEMPOTENCY_CONFLICT'
  | 'UNKNOWN_REQUEST'
  | 'LEASE_NOT_ACTIVE'
  | 'EXTENSION_CAP_EXCEEDED'
  /** The transport's sender (SQS SenderId) is no principal of an integration that may use that channel. */
  | 'SENDER_NOT_ALLOWED'
  /** The EventBridge event's account is not the account of the integration that owns its source. */
  | 'ACCOUNT_NOT_ALLOWED'
  /** Break-glass asked through an integration that may not send it. */
  | 'BREAK_GLASS_NOT_ALLOWED'
  /** A revoke or extend of a grant that came through another integration. */
  | 'INTEGRATION_MISMATCH'
  /** The integration or the rule needs the requester's proof, and the request carries none. */
  | 'PROOF_REQUIRED'
  /** STS did not vouch for the proof (tampered, wrongly signed, unknown credentials), or it is malformed. */
  | 'PROOF_INVALID'
  /** The proof was signed more than its window ago (or in the future). */
  | 'PROOF_EXPIRED'
  /** The proof was made for another broker (audience). */
  | 'PROOF_WRONG_AUDIENCE'
  /** The proof binds another request body. */
  | 'PROOF_WRONG_BODY'
  /** The proof's nonce was used before. */
  | 'PROOF_REPLAYED'
  /** The rule is `self`: the beneficiary must be the proven requester. */
  | 'NOT_SELF'
  /** The webhook's ticket (issue, incident) does not exist, or the broker's account cannot see it. */
  | 'TICKET_NOT_FOUND'
  /** The ticket could not be read back from its vendor: every retry failed. */
  | 'TICKET_UNREADABLE'
  /** The read-back shows no approval: no move into the approved status, or no acknowledgement. */
  | 'APPROVAL_NOT_FOUND'
  /** The approver is the ticket's reporter, or an owner of the beneficiary. */
  | 'SELF_APPROVAL'
  /** The approver is not a member of the integration's approver group. */
  | 'APPROVER_NOT_IN_GROUP'
  /** The acknowledging responder is not assigned to the incident. */
  | 'RESPONDER_NOT_ASSIGNED'
  /** The acknowledging responder has no role in the integration's user mapping. */
  | 'RESPONDER_NOT_MAPPED';

/** Why a request was refused: the code, the field when one field is at fault, and a sentence for people. */
export interface Rejection {
  readonly code: RejectionCode;
  readonly field?: string;
  readonly reason: string;
}

export type LeaseStatus =
  /** Recorded, access being applied. Counts as wanted access (so a crash mid-grant converges forward). */
  | 'pending'
  /** Access applied; ends at `expiresAt`. */
  | 'active'
  /** Ended (expired, revoked, failed and rolled back). Its access has been or is being removed. */
  | 'ended'
  /** Ending it failed past the retry budget; access may still be there. The sweeper keeps trying. */
  | 'irrevocable';

/** Why a lease ended; on a lease not yet ended, why it is being ended (its revocation is being retried). */
export type EndReason = 'expired' | 'requested' | 'failed' | 'forgotten';

/**
 * How a request reached the broker, as the transport and STS tell it, never as its payload claims: the
 * integration it came through, the principal that sent it, and the requester STS vouched for, if any.
 */
export interface Caller {
  /** The integration's id (access rules). */
  readonly integration: string;
  /**
   * The AWS principal that sent the request: the SQS sender's role ARN; for EventBridge, which does not name
   * the sender, `<account>:<source>` (the bus policy allows only the integration's principals that source).
   */
  readonly sender: string;
  /** The caller STS answered for the request's proof (an assumed-role or IAM user ARN), when it had one. */
  readonly proven?: string;
  /**
   * A webhook integration's request: what the broker read back from the vendor with its own credentials, never
   * the webhook's word. `approvedBy`: who approved it (Jira: the approving or closing transition's author;
   * PagerDuty: the acknowledging responder), as `<vendor>:<user id> (<name>)`, when the ticket names one.
   */
  readonly readBack?: { readonly approvedBy?: string };
}

/** What a lease keeps of its grant request's Caller. */
export interface RequestOrigin {
  readonly integration: string;
  readonly sender: string;
  /**
   * proven: `requestedBy` is the caller STS vouched for (`provenBy`); read-back: the broker read the ticket back
   * from its vendor and took the request from it (`approvedBy`); asserted: the integration's word.
   */
  readonly requestedByProof: 'proven' | 'asserted' | 'read-back';
  readonly provenBy?: string;
  readonly approvedBy?: string;
}

/** One grant as the lease table keeps it. */
export interface Lease extends Subject {
  readonly requestId: string;
  readonly policyArn: string;
  readonly accessScope: AccessScope;
  readonly status: LeaseStatus;
  readonly breakGlass: boolean;
  readonly requestedBy: string;
  readonly reason: string;
  readonly ticket?: Ticket;
  /** The rule that allowed it, and that rule's cap: extensions never pass `firstGrantedAt + maxDurationSeconds`. */
  readonly ruleId: string;
  readonly maxDurationSeconds: number;
  readonly durationSeconds: number;
  readonly requestedAt: number;
  readonly grantedAt?: number;
  readonly expiresAt: number;
  readonly endedAt?: number;
  readonly endReason?: EndReason;
  readonly lastError?: string;
  /**
   * While set, the sweeper leaves the lease alone until then (epoch seconds) instead of from `expiresAt`: the
   * backoff of a revocation that keeps failing, so irrevocable leases do not crowd newly due ones out of a run.
   */
  readonly nextAttemptAt?: number;
  /** Failed attempts to take the lease's access back; reset when one succeeds. */
  readonly revokeAttempts?: number;
  /** Fingerprints of the extensions applied, so a repeated extend request changes nothing. */
  readonly extensions?: readonly string[];
  /** Content hash of the grant request: the same requestId with other content is a conflict. */
  readonly fingerprint: string;
  /** Bumped on every write; writes are conditional on it. */
  readonly version: number;
  /** Who asked (absent on leases recorded before integrations existed). */
  readonly origin?: RequestOrigin;
}

/** An association as EKS holds it. */
export interface Association {
  readonly policyArn: string;
  readonly accessScope: AccessScope;
}

/** What EKS holds for a subject right now (null: no access entry). */
export interface ActualAccess {
  readonly entryType: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly associations: readonly Association[];
}

/**
 * What the broker remembers about a subject besides its leases: the baseline (what existed before the broker
 * first touched each part of it) and what it currently holds changed. Kept in the subject's record.
 */
export interface SubjectState {
  /** True when the broker created the access entry (and may delete it); false when it found one there. */
  readonly entryOwned: boolean;
  /**
   * Per policy the broker has touched: the scope that was there before (null: none). Present while the broker
   * holds that policy changed; removed once the baseline is restored.
   */
  readonly touched: Readonly<Record<string, AccessScope | null>>;
}

export const EMPTY_SUBJECT_STATE: SubjectState = Object.freeze({
  entryOwned: false,
  touched: Object.freeze({}),
});

/** The tag the broker puts on entries it creates, and only on those. */
export const OWNER_TAG_KEY = `${BROKER_NAME}/managed`;
export const OWNER_TAG_VALUE = 'true';

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
  | 'EXTENSION_CAP_EXCEEDED';

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

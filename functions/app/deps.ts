import type { Lease } from '../core/model';
import type { AccessRules } from '../core/rules';
import type { BrokerMetrics } from './metrics';
import type {
  AccessApi,
  AuditEvent,
  IdentityProofs,
  LeaseRepository,
  NonceStore,
  OutcomeSink,
  Senders,
  SubjectLocks,
  TicketSystems,
  Timers,
} from './ports';

/** The structured logger the use cases write to: Powertools' Logger, or a test's recorder. */
export interface Log {
  info(message: string, ...data: Record<string, unknown>[]): void;
  warn(message: string, ...data: Record<string, unknown>[]): void;
  error(message: string, ...data: Record<string, unknown>[]): void;
}

/** What every use case works with; built once per cold start in functions/runtime.ts. */
export interface AppDeps {
  readonly store: LeaseRepository;
  readonly locks: SubjectLocks;
  readonly eks: AccessApi;
  readonly publisher: OutcomeSink;
  readonly timers: Timers;
  readonly rules: AccessRules;
  /** Epoch milliseconds. */
  readonly clock: () => number;
  readonly log: Log;
  readonly metrics: BrokerMetrics;
  /** How long to wait for a subject another invocation is reconciling before giving the work back. */
  readonly lockWaitMs: number;
  /** Attempts to take a lease's access back before it is declared irrevocable (it is still retried). */
  readonly revocationBudget: number;
}

/** What the intake needs besides: who may ask (senders, proofs). Only the intake functions build it. */
export interface IntakeDeps extends AppDeps {
  /** Who sent an SQS message, as an integration principal (the EventBridge intake knows none). */
  readonly senders: Senders;
  /** Checks requesters' proofs with STS. */
  readonly proofs: IdentityProofs;
  /** Nonces of proofs already accepted: a proof is used once. */
  readonly nonces: NonceStore;
  /** The audience proofs must name: this stack (`eks-access-broker-<stage>`). */
  readonly audience: string;
  /**
   * The principal of the broker's webhook function, the only sender of ticket events on the requests queue
   * (its SenderId resolves to it through `senders`); undefined: no webhook integration, no ticket event heard.
   */
  readonly webhookSender: string | undefined;
}

/** The SQS intake's: it also reads tickets back (the webhook function's ticket events). */
export interface TicketIntakeDeps extends IntakeDeps {
  /** The webhook integrations' vendors, to read their tickets back. */
  readonly tickets: TicketSystems;
}

export function nowSeconds(deps: Pick<AppDeps, 'clock'>): number {
  return Math.floor(deps.clock() / 1000);
}

export function auditEvent(
  deps: Pick<AppDeps, 'clock'>,
  lease: Lease,
  type: string,
  actor: string,
  detail?: Record<string, unknown>,
): AuditEvent {
  return { type, at: deps.clock(), actor, requestId: lease.requestId, ...(detail ? { detail } : {}) };
}

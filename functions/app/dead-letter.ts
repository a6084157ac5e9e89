import { parseRequest } from '../core/contract';
import { fingerprintOf, newLease } from '../core/leases';
import type { BrokerRequest, Caller, Lease, Rejection } from '../core/model';
import * as outcomes from '../core/outcomes';
import { idempotencyConflict, otherIntegration, unknownRequest } from '../core/rejections';
import { evaluateGrant } from '../core/rule-decision';
import { readTicketEvent, TICKET_EVENT_DETAIL_TYPE, type TicketEvent } from '../core/tickets/ticket-event';
import { readTimerMessage } from '../core/timer-message';
import { isRecord } from '../core/validation';
import { type AppDeps, auditEvent, type IntakeDeps, nowSeconds } from './deps';
import { extensionKey } from './extend';
import { completeGrant } from './grant';
import { type Channel, identifyChannel } from './identify-caller';
import { publishRejection } from './reject';
import { rereadLease, underSubjectLock } from './subject-work';

export type DeadLetterResult =
  /**
   * The request was answered with its failure (a pending grant that cannot be applied for good, rolled back:
   * `Access Grant Failed`, or `Access Revoked` when it had expired meanwhile; a revocation handed to the sweeper).
   */
  | { readonly status: 'failed'; readonly requestId: string }
  /** A pending grant, completed as its next delivery would have: `Access Granted` (again, if it was announced). */
  | { readonly status: 'granted'; readonly lease: Lease }
  /** Not a request at all: rejected, as the intake would have done had it got that far. */
  | { readonly status: 'rejected'; readonly rejection: Rejection }
  /** The request had reached its outcome after all (its last attempt committed, then died): nothing to add. */
  | { readonly status: 'settled'; readonly lease: Lease }
  /** A lost expiry timer: the sweeper ends the lease anyway, and its outcome is published then. */
  | { readonly status: 'timer'; readonly requestId: string };

const DEFAULT_ERROR = 'the request failed on every delivery and was moved to a dead-letter queue';

/**
 * The end of the poison path. A request whose every delivery failed (a handler bug, a dependency down for
 * longer than the retries) lands in a dead-letter queue; this gives it the outcome its requester is waiting
 * for, so nothing ends silently: a pending grant is completed (it may have been announced already), or, when its
 * access cannot be applied for good, rolled back and answered with `Access Grant Failed`; a revocation is answered with `Access Revocation Failed` and its lease is marked so
 * that the sweeper keeps taking the access back; an extension that was not applied is answered with
 * `Access Grant Failed`. Accepts the three shapes that reach the broker's dead-letter queues: an SQS body (the
 * envelope), an EventBridge event (the intake rule's DLQ) and a Lambda on-failure destination record.
 */
export async function settleDeadLetter(deps: IntakeDeps, letter: DeadLetter): Promise<DeadLetterResult> {
  deps.metrics.add('RequestsDeadLettered');
  const { payload, error } = unwrap(letter.body);
  const timer = readTimerMessage(payload);
  if (timer) {
    deps.log.error('expiry timer dead-lettered: the sweeper ends the lease', { ...timer });
    return { status: 'timer', requestId: timer.requestId };
  }
  const ticketEvent = readTicketEvent(payload);
  if (ticketEvent !== undefined) return settleTicketEvent(deps, letter, ticketEvent, error ?? DEFAULT_ERROR);
  const parsed = parseRequest(payload, { allowedSources: deps.rules.sources });
  if (!parsed.ok) {
    return publishRejection(deps, parsed.rejection, {
      ...(parsed.requestId ? { requestId: parsed.requestId } : {}),
      ...(parsed.detailType ? { requestType: parsed.detailType } : {}),
    });
  }
  const request = parsed.request;
  // Who put it there, as the queue it came from says: a dead letter is acted on only for the integration that
  // sent the request, so a forged one (a misconfigured DLQ policy) changes no one's lease.
  const channel = await channelOf(deps, request, letter, payload);
  if (!channel.ok) return reject(deps, request, channel.rejection);
  // A proof cannot be checked again here (its window has passed), but its absence can: the intake's answer.
  if (channel.integration.requestedBy === 'proven' && !hasProof(payload)) {
    return reject(deps, request, {
      code: 'PROOF_REQUIRED',
      field: 'detail.proof',
      reason: `integration ${channel.integration.id} relays only requests that prove their requester`,
    });
  }
  const caller: Caller = { integration: channel.integration.id, sender: channel.sender };
  const reason = error ?? DEFAULT_ERROR;
  deps.log.error('request dead-lettered', {
    requestId: request.requestId,
    kind: request.kind,
    error: reason,
  });
  const lease = await deps.store.findLease(request.requestId);
  // The requester's proof cannot be checked again here: the integration can.
  const other = lease ? otherIntegration(lease, caller.integration) : undefined;
  if (other) return reject(deps, request, other);
  switch (request.kind) {
    case 'grant':
      // The id belongs to another request: the intake's answer was this refusal.
      if (lease && lease.fingerprint !== fingerprintOf(request)) {
        return reject(deps, request, idempotencyConflict(request.requestId));
      }
      if (lease) {
        return lease.status === 'pending'
          ? abandonGrant(deps, request, lease, reason)
          : { status: 'settled', lease };
      }
      // Never recorded: a grant the rules refuse gets its refusal (the answer that could not be published
      // before), any other its failure.
      return refuseOrFail(deps, request, caller, reason);
    case 'revoke':
      if (!lease) return reject(deps, request, unknownRequest(request.requestId));
      if (lease.status === 'ended') return { status: 'settled', lease };
      return handRevocationToSweeper(deps, request, lease, reason);
    case 'extend':
      if (!lease) return reject(deps, request, unknownRequest(request.requestId));
      if (lease.extensions?.includes(extensionKey(request))) return { status: 'settled', lease };
      await deps.publisher.publish([outcomes.deadLettered(request, reason, lease)]);
      return { status: 'failed', requestId: request.requestId };
  }
}

/**
 * Settles a grant whose every delivery failed while its lease was pending. Its outcome is unknown here: a
 * delivery may have applied the access, published `Access Granted`, and died before saving the lease (its lock
 * then held until it expires, so the redeliveries found the subject busy), and since then the access may even
 * have been changed by hand. What EKS holds now cannot tell whether the grant was announced, so the grant is
 * not abandoned but completed, as its next delivery would have completed it (grant.ts, completeGrant): applied
 * and saved active with `Access Granted` (again, if it was announced); answered `Access Grant Failed` only when
 * its access cannot be applied for good (then nothing of it can have been announced either); ended with
 * `Access Revoked` when its duration has run out meanwhile. A failure the dead letter cannot get past (EKS still
 * down) leaves it on its queue, tried again until one of these answers is reached.
 */
async function abandonGrant(
  deps: AppDeps,
  request: BrokerRequest,
  found: Lease,
  reason: string,
): Promise<DeadLetterResult> {
  const result = await completeGrant(deps, found, undefined, {
    actor: 'dead-letter',
    failure: (failed, error) =>
      outcomes.deadLettered(request, error === reason ? reason : `${error} (${reason})`, failed),
  });
  switch (result.status) {
    case 'granted':
      deps.log.warn('dead-lettered grant completed', { requestId: request.requestId });
      return { status: 'granted', lease: result.lease };
    case 'duplicate':
      return result.lease
        ? { status: 'settled', lease: result.lease }
        : { status: 'failed', requestId: request.requestId };
    default:
      return { status: 'failed', requestId: request.requestId };
  }
}

/**
 * A revocation that could not be carried out by its own deliveries: the lease stops being wanted now and is
 * due at once, so the sweeper takes the access back on its next run (and retries until it can).
 */
async function handRevocationToSweeper(
  deps: AppDeps,
  request: BrokerRequest,
  found: Lease,
  reason: string,
): Promise<DeadLetterResult> {
  return underSubjectLock(deps, found, async (): Promise<DeadLetterResult> => {
    const lease = await rereadLease(deps, found);
    if (!lease) throw new Error(`Lease ${request.requestId} vanished while its revocation was handed over`);
    if (lease.status === 'ended') return { status: 'settled', lease };
    const now = nowSeconds(deps);
    const marked: Lease = {
      ...lease,
      expiresAt: Math.min(lease.expiresAt, now),
      endReason: lease.endReason ?? 'requested',
      lastError: reason,
      nextAttemptAt: now,
    };
    await deps.publisher.publish([outcomes.deadLettered(request, reason, marked)]);
    await deps.store.saveLease(
      marked,
      lease.version,
      auditEvent(deps, marked, 'revocation-failed', 'dead-letter', { error: reason, nextAttemptAt: now }),
    );
    return { status: 'failed', requestId: request.requestId };
  });
}

/**
 * A ticket event whose ticket could not be read back on any delivery (the vendor down or refusing the broker's
 * token): nothing was decided, so nothing is undone; the ticket is told (written back) that its request was not
 * acted on. Heard only from the webhook function, as the intake would.
 */
async function settleTicketEvent(
  deps: IntakeDeps,
  letter: DeadLetter,
  event: TicketEvent | 'malformed',
  reason: string,
): Promise<DeadLetterResult> {
  const principal =
    letter.queue === 'requests' && letter.senderId !== undefined
      ? await deps.senders.principalOf(letter.senderId)
      : undefined;
  const requestType = TICKET_EVENT_DETAIL_TYPE;
  if (deps.webhookSender === undefined || principal !== deps.webhookSender) {
    return publishRejection(
      deps,
      { code: 'SENDER_NOT_ALLOWED', reason: "ticket events are sent only by the broker's webhook function" },
      { requestType },
    );
  }
  if (event === 'malformed') {
    return publishRejection(
      deps,
      { code: 'INVALID_ENVELOPE', reason: 'the dead-lettered ticket event is malformed' },
      { requestType },
    );
  }
  deps.log.error('ticket event dead-lettered', {
    integration: event.integration,
    ticket: event.ticket,
    error: reason,
  });
  return publishRejection(
    deps,
    {
      code: 'TICKET_UNREADABLE',
      reason: `the broker could not read ${event.vendor} ${event.ticket} back on any delivery, so its latest change was not acted on (access granted for it before, if any, stays until it ends or the ticket changes again): ${reason}`,
    },
    {
      requestId: `${event.integration}:${event.ticket}`,
      requestType,
      ticket: { system: event.vendor, key: event.ticket },
      caller: { integration: event.integration, sender: principal },
    },
  );
}

/** Refusals that depend on who asked, which a dead letter cannot tell again. */
const CALLER_CODES: ReadonlySet<Rejection['code']> = new Set(['PROOF_REQUIRED', 'NOT_SELF']);

async function refuseOrFail(
  deps: AppDeps,
  request: Extract<BrokerRequest, { kind: 'grant' }>,
  caller: Caller,
  reason: string,
): Promise<DeadLetterResult> {
  // The proof, if any, is past its window: the rules answer only what they refuse whoever asked through the
  // caller's integration; anything that needs the proven requester is answered as a failure.
  const decision = evaluateGrant(deps.rules, request, caller);
  if (!decision.allowed && !CALLER_CODES.has(decision.rejection.code)) {
    return reject(deps, request, decision.rejection);
  }
  // The failure is recorded before it is told: a lease failing from the start (never applied, not wanted, due
  // at once), so the requestId is spent on it. The same request sent again later is a duplicate of this failure,
  // never a grant that would end with a contradicting `Access Revoked`; and whoever meets the lease before its
  // end is saved (this function again, the sweeper) finishes the failure with the same answer.
  const now = nowSeconds(deps);
  const allowed = decision.allowed
    ? { ruleId: decision.rule.id, maxDurationSeconds: decision.maxDurationSeconds }
    : { ruleId: NO_RULE, maxDurationSeconds: request.durationSeconds };
  const failing: Lease = {
    ...newLease(request, allowed, now, caller),
    expiresAt: now,
    endReason: 'failed',
    lastError: reason,
  };
  const created = await deps.store.createLease(
    failing,
    auditEvent(deps, failing, 'failing', 'dead-letter', { error: reason }),
  );
  const lease = created.created ? failing : created.existing;
  // Taken meanwhile by a delivery of another request with this id: its answer was the conflict.
  if (!created.created && created.fingerprint !== fingerprintOf(request)) {
    return reject(deps, request, idempotencyConflict(request.requestId));
  }
  if (lease === undefined) throw new Error(`Lease ${request.requestId} is taken but could not be read`);
  return lease.status === 'pending'
    ? abandonGrant(deps, request, lease, reason)
    : { status: 'settled', lease };
}

/** The rule of a lease recorded only to spend its requestId on a failure the rules never decided. */
const NO_RULE = 'none: dead-lettered before its requester could be proven';

function reject(deps: AppDeps, request: BrokerRequest, rejection: Rejection): Promise<DeadLetterResult> {
  return publishRejection(deps, rejection, { request });
}

/** A message of one of the broker's dead-letter queues. */
export interface DeadLetter {
  readonly body: string;
  /**
   * Which queue: `requests` (SQS moved it from the requests queue; it keeps its sender's SenderId),
   * `intake-events` (EventBridge's and Lambda's on-failure deliveries of the intake's events), `timers`.
   */
  readonly queue: 'requests' | 'intake-events' | 'timers';
  readonly senderId: string | undefined;
}

/** The integration a dead-lettered request came through: as the intake would have identified it. */
function channelOf(
  deps: IntakeDeps,
  request: BrokerRequest,
  letter: DeadLetter,
  payload: unknown,
): Promise<Channel> {
  switch (letter.queue) {
    case 'requests':
      return identifyChannel(deps, request, { sqsBody: JSON.stringify(payload), senderId: letter.senderId });
    case 'intake-events':
      return identifyChannel(deps, request, { event: payload });
    case 'timers':
      return Promise.resolve({
        ok: false,
        rejection: {
          code: 'SENDER_NOT_ALLOWED',
          reason: "a request on the expiry timers' dead-letter queue was sent by no integration",
        },
      });
  }
}

function hasProof(payload: unknown): boolean {
  return isRecord(payload) && isRecord(payload.detail) && payload.detail.proof !== undefined;
}

/** The request inside a dead-letter body, and the error Lambda recorded with it when it says. */
function unwrap(body: string): { payload: unknown; error?: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { payload: body };
  }
  // A Lambda on-failure destination record: the event is requestPayload, the last error responsePayload.
  if (isRecord(value) && 'requestPayload' in value && 'requestContext' in value) {
    const response = value.responsePayload;
    const message = isRecord(response) ? response.errorMessage : undefined;
    return {
      payload: value.requestPayload,
      ...(typeof message === 'string' && message !== '' ? { error: message.slice(0, 1024) } : {}),
    };
  }
  return { payload: value };
}

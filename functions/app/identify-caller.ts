import { accountsOf, integrationOfSource, listsCaller, queueIntegrationOf } from '../core/integrations';
import { fingerprintOf } from '../core/leases';
import type { BrokerRequest, Caller, Rejection } from '../core/model';
import type { Integration } from '../core/rules';
import { isRecord } from '../core/validation';
import type { IntakeDeps } from './deps';
import { extensionKey } from './extend';
import { proveRequester } from './prove-requester';

/** How the request was delivered: the transport, not the payload, says who sent it. */
export type Delivery =
  | { readonly event: unknown }
  | { readonly sqsBody: string; readonly senderId: string | undefined };

export type Identified =
  | { readonly ok: true; readonly caller: Caller }
  | { readonly ok: false; readonly rejection: Rejection };

/**
 * Who is asking, from what the transport and STS say: the integration the request came through (for SQS the
 * message's SenderId must be a principal of an integration that may use the queue; for EventBridge the bus
 * policy reserves the source to its integration, and the event's account must be that integration's), then
 * the requester's proof when the request carries one (an integration whose `requestedBy` is proven must).
 * Nothing here touches EKS, the leases or a queue.
 */
export async function identifyCaller(
  deps: IntakeDeps,
  request: BrokerRequest,
  delivery: Delivery,
): Promise<Identified> {
  const found = await identifyChannel(deps, request, delivery);
  if (!found.ok) return found;
  const { integration, sender } = found;
  const detail = detailOf(delivery);
  const proof = isRecord(detail) ? detail.proof : undefined;
  if (proof === undefined) {
    if (integration.requestedBy === 'proven') {
      return refuse(
        'PROOF_REQUIRED',
        `integration ${integration.id} relays only requests that prove their requester: sign the request (npx eks-access-broker does)`,
        'detail.proof',
      );
    }
    return { ok: true, caller: { integration: integration.id, sender } };
  }
  const proved = await proveRequester(deps, detail, proof);
  if (proved.ok) {
    // The proven requester asks through the integration only as one of its principals: so a proof signed by
    // anyone else gains nothing, even if a misconfigured bus policy let their event through.
    if (!listsCaller(integration, proved.caller)) {
      return refuse(
        'SENDER_NOT_ALLOWED',
        `the proven requester ${proved.caller} is no principal of integration ${integration.id}`,
        'detail.proof',
      );
    }
    return { ok: true, caller: { integration: integration.id, sender, proven: proved.caller } };
  }
  const recorded = REDELIVERY_CODES.has(proved.rejection.code)
    ? await provenBefore(deps, request, integration)
    : undefined;
  if (recorded === undefined) return proved;
  return { ok: true, caller: { integration: integration.id, sender, proven: recorded } };
}

/** How a redelivered proof fails: its nonce was used (by its first delivery), or its window has passed. */
const REDELIVERY_CODES: ReadonlySet<Rejection['code']> = new Set(['PROOF_REPLAYED', 'PROOF_EXPIRED']);

/**
 * A request redelivered after its proof was accepted (a crash, a busy subject, Lambda's retries) carries the
 * same proof, now used or past its window. Its first delivery recorded what it proved; what the redelivery may
 * finish is only what that delivery recorded: the same grant (same content), or the revocation or extension
 * already applied, so a replay by anyone else gains nothing. The requester is the one recorded on the lease.
 */
async function provenBefore(
  deps: IntakeDeps,
  request: BrokerRequest,
  integration: Integration,
): Promise<string | undefined> {
  const lease = await deps.store.findLease(request.requestId);
  const origin = lease?.origin;
  if (lease === undefined || origin?.integration !== integration.id || origin.provenBy === undefined) {
    return undefined;
  }
  const recorded =
    request.kind === 'grant'
      ? lease.fingerprint === fingerprintOf(request)
      : request.kind === 'revoke'
        ? lease.endReason === 'requested'
        : (lease.extensions ?? []).includes(extensionKey(request));
  return recorded ? origin.provenBy : undefined;
}

export type Channel =
  | { readonly ok: true; readonly integration: Integration; readonly sender: string }
  | { readonly ok: false; readonly rejection: Rejection };

/**
 * The integration a request came through and its sender, from the transport alone: the SQS SenderId, or the
 * event's source and account (the bus policy ties the source to the integration's principals).
 */
export function identifyChannel(
  deps: Pick<IntakeDeps, 'rules' | 'senders'>,
  request: BrokerRequest,
  delivery: Delivery,
): Promise<Channel> {
  return 'event' in delivery
    ? Promise.resolve(viaEventBridge(deps, request, delivery.event))
    : viaQueue(deps, request, delivery.senderId);
}

function viaEventBridge(deps: Pick<IntakeDeps, 'rules'>, request: BrokerRequest, event: unknown): Channel {
  const integration = integrationOfSource(deps.rules, request.source);
  const account = isRecord(event) && typeof event.account === 'string' ? event.account : undefined;
  if (integration === undefined) {
    // The contract refuses unknown sources before this; kept as one more gate.
    return refuse(
      'SOURCE_NOT_ALLOWED',
      `source ${JSON.stringify(request.source)} belongs to no integration`,
      'source',
    );
  }
  if (account === undefined || !accountsOf(integration).includes(account)) {
    return refuse(
      'ACCOUNT_NOT_ALLOWED',
      `events of source ${request.source} come from the account of integration ${integration.id}, not ${account ?? 'an unnamed account'}`,
      'account',
    );
  }
  return { ok: true, integration, sender: `${account}:${request.source}` };
}

async function viaQueue(
  deps: Pick<IntakeDeps, 'rules' | 'senders'>,
  request: BrokerRequest,
  senderId: string | undefined,
): Promise<Channel> {
  const principal = senderId === undefined ? undefined : await deps.senders.principalOf(senderId);
  const integration = principal === undefined ? undefined : queueIntegrationOf(deps.rules, principal);
  if (principal === undefined || integration === undefined) {
    return refuse(
      'SENDER_NOT_ALLOWED',
      `the SQS sender ${senderId ?? '(unnamed)'} is no principal of an integration that may use the requests queue`,
    );
  }
  if (!integration.sources.includes(request.source)) {
    return refuse(
      'SOURCE_NOT_ALLOWED',
      `source ${JSON.stringify(request.source)} is not one of integration ${integration.id}'s sources`,
      'source',
    );
  }
  return { ok: true, integration, sender: principal };
}

/** The request's detail as it arrived (the proof binds it, not the normalized request). */
function detailOf(delivery: Delivery): unknown {
  if ('event' in delivery) return isRecord(delivery.event) ? delivery.event.detail : undefined;
  try {
    const body: unknown = JSON.parse(delivery.sqsBody);
    return isRecord(body) ? body.detail : undefined;
  } catch {
    return undefined;
  }
}

function refuse(
  code: Rejection['code'],
  reason: string,
  field?: string,
): { readonly ok: false; readonly rejection: Rejection } {
  return { ok: false, rejection: { code, reason, ...(field ? { field } : {}) } };
}

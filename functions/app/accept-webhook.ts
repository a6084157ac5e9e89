import { isRetryable, PermanentError } from '../core/errors';
import { webhookIntegration } from '../core/integrations';
import type { AccessRules } from '../core/rules';
import { checkWebhookSignature, secretsOf } from '../core/tickets/signatures';
import { readWebhook } from '../core/tickets/webhook-hint';
import { type Log, nowSeconds } from './deps';
import type { BrokerMetrics } from './metrics';
import type { Secrets, TicketEventQueue, WebhookDeliveries } from './ports';

/** What the webhook function works with; built once per cold start (functions/runtime.ts, webhookDeps). */
export interface WebhookDeps {
  readonly rules: AccessRules;
  readonly secrets: Secrets;
  readonly queue: TicketEventQueue;
  readonly deliveries: WebhookDeliveries;
  /** Epoch milliseconds. */
  readonly clock: () => number;
  readonly log: Log;
  readonly metrics: BrokerMetrics;
}

/** One HTTP request to `/webhooks/<integrationId>`. */
export interface WebhookCall {
  readonly integrationId: string;
  readonly method: string;
  /** Header names in any case (they are compared in lowercase). */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The raw body bytes, as the vendor signed them. */
  readonly body: Uint8Array;
}

/** The HTTP answer: `body` is sent as JSON. */
export interface WebhookAnswer {
  readonly status: number;
  readonly body: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * The largest body taken. An issue webhook carries the whole issue and still stays far below it; a larger body
 * is refused before it is hashed, so a flood of big bodies costs little.
 */
export const MAX_WEBHOOK_BODY_BYTES = 256 * 1024;
/**
 * How long a delivery id is remembered: far longer than either vendor keeps retrying a delivery (Jira Cloud, up
 * to 30 minutes), so a redelivery always finds it; TTL then removes it.
 */
export const DELIVERY_KEEP_SECONDS = 7 * 86_400;
/** Ids from the path are logged, but not at any length: the path is anyone's to choose. */
const MAX_LOGGED_ID = 128;

/**
 * The webhook intake: a vendor's webhook is checked (the integration, the method, the size, the signature on
 * the raw bytes before anything reads them, then the body) and, when it is an event the broker acts on and
 * not a redelivery, queued as a TicketEvent for the intake, which reads the ticket back before anything is
 * decided. Nothing is queued for a refused, ignored or repeated webhook. A failure of the secret store, the
 * queue or the table is answered 503 (500 when waiting cannot help), so the vendor sends the webhook again.
 */
export async function acceptWebhook(deps: WebhookDeps, call: WebhookCall): Promise<WebhookAnswer> {
  const integration = webhookIntegration(deps.rules, call.integrationId);
  if (!integration) return refuse(deps, call, 404, 'no webhook integration at this path');
  if (call.method !== 'POST') return refuse(deps, call, 405, 'only POST is accepted', { allow: 'POST' });
  if (call.body.byteLength > MAX_WEBHOOK_BODY_BYTES) {
    return refuse(deps, call, 413, `the body is larger than ${MAX_WEBHOOK_BODY_BYTES} bytes`);
  }
  const headers = lowercased(call.headers);
  try {
    const stored = await deps.secrets.get(integration.webhook.secret);
    const secrets = secretsOf(stored);
    if (secrets.length === 0) {
      throw new PermanentError(`The webhook secret ${integration.webhook.secret} holds no secret`);
    }
    const signature = checkWebhookSignature(integration.webhook.vendor, headers, call.body, secrets);
    if (!signature.ok) return refuse(deps, call, 401, signature.reason);

    const hint = readWebhook(integration.webhook, {
      integration: integration.id,
      headers,
      body: call.body,
      receivedAt: new Date(deps.clock()).toISOString(),
    });
    if (hint.kind === 'invalid') return refuse(deps, call, 400, hint.reason);
    if (hint.kind === 'ignored') {
      deps.log.info('webhook ignored', { integration: integration.id, reason: hint.reason });
      deps.metrics.add('WebhookIgnored');
      return { status: 202, body: { ignored: hint.reason } };
    }

    const { event } = hint;
    const logged = { integration: integration.id, deliveryId: event.deliveryId, ticket: event.ticket };
    if (await deps.deliveries.seen(integration.id, event.deliveryId)) {
      deps.log.info('webhook already queued: nothing queued again', logged);
      deps.metrics.add('WebhookDuplicate');
      return { status: 200, body: { duplicate: true } };
    }
    await deps.queue.send(event);
    // Remembered after the send: a crash in between queues the redelivery again, which the intake absorbs (it
    // reads the ticket back, and the requestIds derived from the ticket are idempotent); the other order could
    // lose a webhook.
    await deps.deliveries.remember(
      integration.id,
      event.deliveryId,
      nowSeconds(deps) + DELIVERY_KEEP_SECONDS,
    );
    deps.log.info('webhook queued', { ...logged, event: event.event });
    deps.metrics.add('WebhookQueued');
    return { status: 202, body: { queued: true } };
  } catch (error) {
    const status = isRetryable(error) ? 503 : 500;
    deps.log.error('webhook failed: the vendor will send it again', {
      integration: integration.id,
      status,
      error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
    });
    deps.metrics.add('WebhookFailed');
    return { status, body: { error: 'the webhook could not be taken now; send it again later' } };
  }
}

function refuse(
  deps: WebhookDeps,
  call: WebhookCall,
  status: number,
  reason: string,
  headers?: Readonly<Record<string, string>>,
): WebhookAnswer {
  deps.log.warn('webhook refused', {
    integration: call.integrationId.slice(0, MAX_LOGGED_ID),
    status,
    reason,
  });
  deps.metrics.add('WebhookRefused');
  return { status, body: { error: reason }, ...(headers ? { headers } : {}) };
}

function lowercased(
  headers: Readonly<Record<string, string | undefined>>,
): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

import { createHmac } from 'node:crypto';
import { restTime } from './shapes';
import { type IncidentEvent, PAGERDUTY_EVENT_TYPES, type PagerDutyEventType } from './state';

/** A v3 webhook subscription of the fake account. */
export interface FakeWebhookSubscription {
  /** Where events are POSTed, e.g. the local edge's http://127.0.0.1:4566/webhooks/pagerduty. */
  readonly url: string;
  /**
   * The subscription's signing secrets. Each signs every delivery: one `v1=` signature per secret in
   * X-PagerDuty-Signature, as PagerDuty sends while a subscription's secret rotates.
   */
  readonly secrets: readonly string[];
  /** Sent as X-Webhook-Subscription; a random P… id by default. */
  readonly id?: string;
  /** The event types it receives; all the fake sends by default. */
  readonly events?: readonly PagerDutyEventType[];
}

export interface DeliveryOptions {
  /** Attempts per event and subscription, the first included. Default 4. */
  readonly attempts?: number;
  /** Wait before the first retry, doubled before each further one. Default 250 ms. */
  readonly firstRetryMs?: number;
  /** How long one attempt may take. Default 5 s. */
  readonly timeoutMs?: number;
}

/** One event to one subscription: what was sent, and how each attempt went. */
export interface PagerDutyDelivery {
  readonly eventId: string;
  readonly eventType: PagerDutyEventType;
  readonly incidentId: string;
  readonly subscriptionId: string;
  readonly url: string;
  /** The exact bytes sent (UTF-8), the same on every attempt. */
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly attempts: readonly { readonly at: string; readonly status?: number; readonly error?: string }[];
  readonly state: 'pending' | 'delivered' | 'failed';
}

/** X-PagerDuty-Signature for `body`: `v1=<hex HMAC-SHA256(secret, body)>` per secret, comma separated. */
export function pagerDutySignature(secrets: readonly string[], body: string | Buffer): string {
  return secrets.map((secret) => `v1=${createHmac('sha256', secret).update(body).digest('hex')}`).join(',');
}

interface MutableDelivery {
  readonly eventId: string;
  readonly eventType: PagerDutyEventType;
  readonly incidentId: string;
  readonly subscriptionId: string;
  readonly url: string;
  readonly body: string;
  readonly headers: Record<string, string>;
  readonly attempts: { at: string; status?: number; error?: string }[];
  state: PagerDutyDelivery['state'];
}

/**
 * Sends the account's webhook events: after the API call that caused them has answered, to every subscription
 * of the event's type, retried with backoff on a network error, a timeout or any answer but 2xx (assumed from
 * PagerDuty's description of failed deliveries; the real schedule is longer). A retry sends the same bytes, so
 * the same event id and X-Webhook-Id: a receiver tells a redelivery by them.
 */
export class WebhookDispatcher {
  private subscriptions: { readonly id: string; readonly subscription: FakeWebhookSubscription }[] = [];
  private readonly sent: MutableDelivery[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private readonly attempts: number;
  private readonly firstRetryMs: number;
  private readonly timeoutMs: number;
  private closed = false;
  private readonly stop = new AbortController();

  constructor(
    subscriptions: readonly FakeWebhookSubscription[],
    options: DeliveryOptions,
    private readonly newSubscriptionId: () => string,
    private readonly now: () => Date,
  ) {
    this.attempts = options.attempts ?? 4;
    this.firstRetryMs = options.firstRetryMs ?? 250;
    this.timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isInteger(this.attempts) || this.attempts < 1) {
      throw new RangeError('delivery.attempts must be a whole number of at least 1');
    }
    this.setSubscriptions(subscriptions);
  }

  /** Replaces the subscriptions (to rotate a secret, say); deliveries already under way keep their bytes. */
  setSubscriptions(subscriptions: readonly FakeWebhookSubscription[]): void {
    for (const subscription of subscriptions) {
      if (subscription.secrets.length === 0 || subscription.secrets.some((secret) => secret === '')) {
        throw new RangeError(`webhook subscription ${subscription.url}: give at least one non-empty secret`);
      }
      const unknown = (subscription.events ?? []).filter((type) => !PAGERDUTY_EVENT_TYPES.includes(type));
      if (unknown.length > 0) throw new RangeError(`unknown webhook event types: ${unknown.join(', ')}`);
    }
    this.subscriptions = subscriptions.map((subscription) => ({
      id: subscription.id ?? this.newSubscriptionId(),
      subscription,
    }));
  }

  /** Queues the events for delivery; sending starts on a later tick, once the API call has answered. */
  dispatch(events: readonly IncidentEvent[]): void {
    if (this.closed) return;
    for (const event of events) {
      const body = JSON.stringify(event.body);
      for (const { id, subscription } of this.subscriptions) {
        if (subscription.events && !subscription.events.includes(event.type)) continue;
        const delivery: MutableDelivery = {
          eventId: event.id,
          eventType: event.type,
          incidentId: event.incidentId,
          subscriptionId: id,
          url: subscription.url,
          body,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'PagerDuty-Webhook/V3.0',
            'x-pagerduty-signature': pagerDutySignature(subscription.secrets, body),
            'x-webhook-id': event.id,
            'x-webhook-subscription': id,
          },
          attempts: [],
          state: 'pending',
        };
        this.sent.push(delivery);
        const run = this.deliver(delivery).finally(() => this.inFlight.delete(run));
        this.inFlight.add(run);
      }
    }
  }

  deliveries(): PagerDutyDelivery[] {
    return this.sent.map((delivery) => ({
      ...delivery,
      headers: { ...delivery.headers },
      attempts: delivery.attempts.map((attempt) => ({ ...attempt })),
    }));
  }

  /** Resolves once every delivery has succeeded or used up its attempts (including those queued meanwhile). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  reset(): void {
    this.sent.length = 0;
  }

  /** Stops retrying: pending deliveries end as failed. */
  async close(): Promise<void> {
    this.closed = true;
    this.stop.abort();
    for (const entry of this.timers) {
      clearTimeout(entry.timer);
      entry.wake();
    }
    this.timers.clear();
    await this.idle();
  }

  private async deliver(delivery: MutableDelivery): Promise<void> {
    await this.sleep(0);
    for (let attempt = 1; attempt <= this.attempts && !this.closed; attempt++) {
      const at = restTime(this.now());
      try {
        const response = await fetch(delivery.url, {
          method: 'POST',
          headers: delivery.headers,
          body: delivery.body,
          signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(this.timeoutMs)]),
        });
        await response.text().catch(() => '');
        delivery.attempts.push({ at, status: response.status });
        if (response.ok) {
          delivery.state = 'delivered';
          return;
        }
      } catch (error) {
        delivery.attempts.push({ at, error: (error as Error).message });
      }
      if (attempt < this.attempts) await this.sleep(this.firstRetryMs * 2 ** (attempt - 1));
    }
    delivery.state = 'failed';
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.timers.delete(entry);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.timers.add(entry);
    });
  }
}

import { createHmac, randomUUID } from 'node:crypto';

/** Where the fake sends webhooks: one admin webhook of the site, with its secret (none: unsigned, as Jira does). */
export interface JiraWebhookTarget {
  readonly url: string;
  readonly secret?: string | undefined;
}

export interface DeliveryAttempt {
  /** 0 for the first send; Jira's X-Atlassian-Webhook-Retry on the others. */
  readonly retry: number;
  /** The receiver's HTTP status, when it answered. */
  readonly status?: number;
  /** Why nothing was answered (connection refused, timeout). */
  readonly error?: string;
}

export interface WebhookDelivery {
  /** X-Atlassian-Webhook-Identifier: the same on every retry of this delivery. */
  readonly identifier: string;
  readonly url: string;
  readonly webhookEvent: string;
  readonly issueKey: string;
  /** The exact bytes sent, as text. */
  readonly body: string;
  /** The headers of the first attempt (a retry adds X-Atlassian-Webhook-Retry). */
  readonly headers: Readonly<Record<string, string>>;
  readonly attempts: readonly DeliveryAttempt[];
  readonly state: 'pending' | 'delivered' | 'failed';
}

export interface WebhookRetryPolicy {
  /** Retries after the first attempt (Jira Cloud retries for up to 30 minutes; the fake, a few times). */
  readonly retries: number;
  /** Delay before the first retry; doubled for each next one. */
  readonly backoffMs: number;
  /** How long one attempt may take. */
  readonly timeoutMs: number;
}

/**
 * Sends webhooks as Jira Cloud documents them: POST of the JSON body, `X-Hub-Signature: sha256=<hex HMAC of the
 * raw body>` when the webhook has a secret, a delivery id in X-Atlassian-Webhook-Identifier, and retries when the
 * receiver answers 408, 409, 425, 429 or 5xx, or does not answer at all (Jira's retry policy), each retry marked
 * with X-Atlassian-Webhook-Retry. Other answers (a 401 for a bad signature) are final.
 */
export class WebhookSender {
  private targets: readonly JiraWebhookTarget[];
  private readonly sent: MutableDelivery[] = [];
  private readonly pending = new Set<Promise<void>>();
  /** Aborted on close: attempts in flight and backoff waits end at once. */
  private readonly stopping = new AbortController();

  constructor(
    targets: readonly JiraWebhookTarget[],
    private readonly policy: WebhookRetryPolicy,
  ) {
    this.targets = targets;
  }

  setTargets(targets: readonly JiraWebhookTarget[]): void {
    this.targets = targets;
  }

  /** Queues one delivery per target of this payload; returns at once (Jira answers the API call first). */
  send(webhookEvent: string, issueKey: string, payload: unknown): void {
    if (this.stopping.signal.aborted) return;
    const body = JSON.stringify(payload);
    for (const target of this.targets) {
      const headers: Record<string, string> = {
        'content-type': 'application/json; charset=utf-8',
        'user-agent': 'Atlassian Webhook HTTP Client',
        'x-atlassian-webhook-identifier': randomUUID(),
        ...(target.secret === undefined ? {} : { 'x-hub-signature': signature(target.secret, body) }),
      };
      const delivery: MutableDelivery = {
        identifier: headers['x-atlassian-webhook-identifier'] as string,
        url: target.url,
        webhookEvent,
        issueKey,
        body,
        headers,
        attempts: [],
        state: 'pending',
      };
      this.sent.push(delivery);
      const run = this.deliver(delivery).finally(() => this.pending.delete(run));
      this.pending.add(run);
    }
  }

  deliveries(): WebhookDelivery[] {
    return this.sent.map((d) => ({ ...d, attempts: [...d.attempts] }));
  }

  /** Resolves once every delivery queued so far, and any queued meanwhile, is delivered or given up. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  clear(): void {
    this.sent.length = 0;
  }

  /** Gives up every delivery still pending (in flight or waiting to retry). */
  async close(): Promise<void> {
    this.stopping.abort();
    await this.idle();
  }

  private async deliver(delivery: MutableDelivery): Promise<void> {
    for (let retry = 0; ; retry++) {
      const headers =
        retry === 0 ? delivery.headers : { ...delivery.headers, 'x-atlassian-webhook-retry': String(retry) };
      let attempt: DeliveryAttempt;
      try {
        const response = await fetch(delivery.url, {
          method: 'POST',
          headers,
          body: delivery.body,
          signal: AbortSignal.any([AbortSignal.timeout(this.policy.timeoutMs), this.stopping.signal]),
        });
        await response.arrayBuffer().catch(() => undefined);
        attempt = { retry, status: response.status };
      } catch (error) {
        attempt = { retry, error: (error as Error).message };
      }
      delivery.attempts.push(attempt);
      if (attempt.status !== undefined && attempt.status >= 200 && attempt.status < 300) {
        delivery.state = 'delivered';
        return;
      }
      if (!shouldRetry(attempt) || retry >= this.policy.retries || this.stopping.signal.aborted) {
        delivery.state = 'failed';
        return;
      }
      await sleep(this.policy.backoffMs * 2 ** retry, this.stopping.signal);
    }
  }
}

interface MutableDelivery extends Omit<WebhookDelivery, 'attempts' | 'state'> {
  attempts: DeliveryAttempt[];
  state: WebhookDelivery['state'];
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** `sha256=<hex HMAC-SHA256(secret, body)>`, Jira's X-Hub-Signature. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

const RETRIED_STATUSES = new Set([408, 409, 425, 429]);

function shouldRetry(attempt: DeliveryAttempt): boolean {
  if (attempt.status === undefined) return true;
  return RETRIED_STATUSES.has(attempt.status) || attempt.status >= 500;
}

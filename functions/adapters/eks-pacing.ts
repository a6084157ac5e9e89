import type { EKSClient } from '@aws-sdk/client-eks';
import { isThrottle } from './aws-errors';

export interface PacerOptions {
  /** Epoch milliseconds. */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** The rate after a throttle, as a fraction of the rate that was getting through (default 0.9). */
  readonly decrease?: number;
  /** Growth of the rate per second without throttling, as a fraction of the rate after the last decrease. */
  readonly increasePerSecond?: number;
  /** Throttles within this long of a decrease answer calls sent before it took effect: ignored (default 1 s). */
  readonly cooldownMs?: number;
  /** Calls per second the rate never goes below (default 1). */
  readonly minRate?: number;
}

const WINDOW_MS = 1_000;
/** The shortest span a rate is measured over, so that the first few answers do not make a huge rate. */
const MIN_SPAN_MS = 100;

/**
 * Paces the calls to one EKS endpoint (an account and region share EKS's rate limit) once EKS has
 * throttled, so that a container working a batch of records at once keeps just under the limit instead of
 * hitting it over and over. Additive increase, multiplicative decrease, as TCP shares a link: unlimited until
 * the first throttle, then down to `decrease` x the rate that was getting through, growing back linearly
 * until the next throttle; several containers pacing themselves this way converge on a fair share.
 *
 * The SDK's own adaptive retry mode does the same with CUBIC, but cuts the rate again for every throttled
 * call, and calls in flight together are throttled together, so its rate keeps falling to a fraction of the
 * limit; here the throttles of one moment make one decrease.
 */
export class AdaptivePacer {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly decrease: number;
  private readonly increasePerSecond: number;
  private readonly cooldownMs: number;
  private readonly minRate: number;
  /** Calls per second right after the last decrease; undefined until the first throttle. */
  private floorRate: number | undefined;
  private decreasedAt = Number.NEGATIVE_INFINITY;
  /** The next free send slot, epoch ms. */
  private nextSlot = 0;
  /** Times of the answers that were not throttles, for the last WINDOW_MS. */
  private readonly answered: number[] = [];
  private firstAnswerAt: number | undefined;

  constructor(options: PacerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.decrease = options.decrease ?? 0.9;
    this.increasePerSecond = options.increasePerSecond ?? 0.05;
    this.cooldownMs = options.cooldownMs ?? 1_000;
    this.minRate = options.minRate ?? 1;
    if (!(this.decrease > 0 && this.decrease < 1)) throw new RangeError('decrease must be between 0 and 1');
    if (!(this.increasePerSecond > 0)) throw new RangeError('increasePerSecond must be positive');
    if (!(this.minRate > 0)) throw new RangeError('minRate must be positive');
  }

  /** Calls per second allowed now; undefined while unlimited. */
  rate(): number | undefined {
    if (this.floorRate === undefined) return undefined;
    const seconds = (this.now() - this.decreasedAt) / 1000;
    return this.floorRate * (1 + this.increasePerSecond * seconds);
  }

  /** Waits for this call's slot: first come, first served, one every 1/rate seconds. */
  async acquire(): Promise<void> {
    const rate = this.rate();
    if (rate === undefined) return;
    const now = this.now();
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + 1000 / rate;
    if (slot > now) await this.sleep(slot - now);
  }

  /** EKS answered (anything but a throttle): the call got through. */
  onAnswer(): void {
    const now = this.now();
    this.firstAnswerAt ??= now;
    this.answered.push(now);
    while ((this.answered[0] ?? now) <= now - WINDOW_MS) this.answered.shift();
  }

  /** EKS throttled a call: slow down to a little under what got through, once per cooldown. */
  onThrottle(): void {
    const now = this.now();
    if (now - this.decreasedAt < this.cooldownMs) return;
    while ((this.answered[0] ?? now) <= now - WINDOW_MS) this.answered.shift();
    // Over the last second, or over less when the first answer came less than a second ago.
    const span = Math.max(MIN_SPAN_MS, Math.min(WINDOW_MS, now - (this.firstAnswerAt ?? now)));
    const through = (this.answered.length * 1000) / span;
    const current = this.rate();
    const base = current === undefined ? through : Math.min(current, through);
    this.floorRate = Math.max(this.minRate, base * this.decrease);
    this.decreasedAt = now;
    // Slots handed out at the old rate stay; the next ones follow the new rate.
    this.nextSlot = Math.max(this.nextSlot, now);
  }
}

/**
 * Puts every attempt of the client's calls through the pacer: inside the SDK's retry loop (the deserialize
 * step runs once per attempt), so a retried call waits for a slot too and every throttle is seen.
 */
export function pace(client: EKSClient, pacer: AdaptivePacer): EKSClient {
  client.middlewareStack.add(
    (next) => async (args) => {
      await pacer.acquire();
      try {
        const output = await next(args);
        pacer.onAnswer();
        return output;
      } catch (error) {
        if (isThrottle(error)) pacer.onThrottle();
        else pacer.onAnswer();
        throw error;
      }
    },
    { step: 'deserialize', priority: 'high', name: 'eksPacing', override: true },
  );
  return client;
}

import { mulberry32 } from '../random';
import type { EksOperation } from './model';

/** Faults one emulator instance injects, set at construction or at run time. All off by default. */
export interface FaultConfig {
  /** Latency added to every affected call: fixed, or uniform in [minMs, maxMs]. */
  readonly latency?: { readonly fixedMs: number } | { readonly minMs: number; readonly maxMs: number };
  /** Token bucket: calls beyond it answer ThrottlingException (429). */
  readonly rateLimit?: { readonly ratePerSecond: number; readonly burst?: number };
  /** Probability (0..1) that a call answers ServerException (500) without doing anything. */
  readonly serverErrorRate?: number;
  /** Probability that the connection is dropped before the call does anything. */
  readonly dropRate?: number;
  /**
   * Probability that a mutating call takes effect and then the connection is dropped: the client cannot tell
   * whether it happened, as with a real network failure after the server committed.
   */
  readonly dropAfterCommitRate?: number;
  /** Only these operations are affected; all when absent. */
  readonly operations?: readonly EksOperation[];
  /** Seed for the random draws, so a failing run can be replayed. */
  readonly seed?: number;
}

export type FaultDecision =
  | { readonly kind: 'none' }
  | { readonly kind: 'throttle' }
  | { readonly kind: 'server-error' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'drop-after-commit' };

export interface FaultCounts {
  throttled: number;
  serverErrors: number;
  dropped: number;
  droppedAfterCommit: number;
  delayedMs: number;
}

/** Draws the faults for each call from one seeded stream, so runs with the same seed make the same draws. */
export class FaultInjector {
  private config: FaultConfig = {};
  private random: () => number = Math.random;
  private tokens = 0;
  private refilledAt = 0;
  readonly counts: FaultCounts = {
    throttled: 0,
    serverErrors: 0,
    dropped: 0,
    droppedAfterCommit: 0,
    delayedMs: 0,
  };

  constructor(
    config: FaultConfig = {},
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.configure(config);
  }

  configure(config: FaultConfig): void {
    validateFaults(config);
    this.config = config;
    this.random = config.seed === undefined ? Math.random : mulberry32(config.seed);
    const burst = config.rateLimit ? (config.rateLimit.burst ?? config.rateLimit.ratePerSecond) : 0;
    this.tokens = burst;
    this.refilledAt = this.clock();
  }

  resetCounts(): void {
    Object.assign(this.counts, {
      throttled: 0,
      serverErrors: 0,
      dropped: 0,
      droppedAfterCommit: 0,
      delayedMs: 0,
    });
  }

  current(): FaultConfig {
    return this.config;
  }

  affects(operation: EksOperation): boolean {
    return !this.config.operations || this.config.operations.includes(operation);
  }

  /** Milliseconds to wait before answering this call. */
  latencyMs(operation: EksOperation): number {
    const latency = this.config.latency;
    if (!latency || !this.affects(operation)) return 0;
    const ms =
      'fixedMs' in latency
        ? latency.fixedMs
        : latency.minMs + this.random() * (latency.maxMs - latency.minMs);
    this.counts.delayedMs += ms;
    return ms;
  }

  decide(operation: EksOperation, mutating: boolean): FaultDecision {
    if (!this.affects(operation)) return { kind: 'none' };
    if (this.config.rateLimit && !this.takeToken(this.config.rateLimit)) {
      this.counts.throttled++;
      return { kind: 'throttle' };
    }
    if (this.draw(this.config.dropRate)) {
      this.counts.dropped++;
      return { kind: 'drop' };
    }
    if (this.draw(this.config.serverErrorRate)) {
      this.counts.serverErrors++;
      return { kind: 'server-error' };
    }
    if (mutating && this.draw(this.config.dropAfterCommitRate)) {
      this.counts.droppedAfterCommit++;
      return { kind: 'drop-after-commit' };
    }
    return { kind: 'none' };
  }

  private draw(probability: number | undefined): boolean {
    return probability !== undefined && probability > 0 && this.random() < probability;
  }

  private takeToken(limit: { ratePerSecond: number; burst?: number }): boolean {
    const now = this.clock();
    const burst = limit.burst ?? limit.ratePerSecond;
    this.tokens = Math.min(burst, this.tokens + ((now - this.refilledAt) / 1000) * limit.ratePerSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function validateFaults(config: FaultConfig): void {
  const rates = {
    serverErrorRate: config.serverErrorRate,
    dropRate: config.dropRate,
    dropAfterCommitRate: config.dropAfterCommitRate,
  };
  for (const [key, value] of Object.entries(rates)) {
    if (value !== undefined && !(value >= 0 && value <= 1)) {
      throw new RangeError(`Fault ${key} must be a probability between 0 and 1, got ${value}`);
    }
  }
  const latency = config.latency;
  if (latency) {
    const ok =
      'fixedMs' in latency ? latency.fixedMs >= 0 : latency.minMs >= 0 && latency.maxMs >= latency.minMs;
    if (!ok)
      throw new RangeError(
        `Fault latency must be { fixedMs >= 0 } or { 0 <= minMs <= maxMs }, got ${JSON.stringify(latency)}`,
      );
  }
  const rateLimit = config.rateLimit;
  if (
    rateLimit &&
    !(rateLimit.ratePerSecond > 0 && (rateLimit.burst === undefined || rateLimit.burst >= 1))
  ) {
    throw new RangeError(
      `Fault rateLimit needs ratePerSecond > 0 and burst >= 1, got ${JSON.stringify(rateLimit)}`,
    );
  }
}

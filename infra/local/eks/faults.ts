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
  /** Only these operations are affected by the faults above; all when absent. */
  readonly operations?: readonly EksOperation[];
  /** Seed for the random draws, so a failing run can be replayed. */
  readonly seed?: number;
  /**
   * A role created seconds ago: each principal's first `refusals` CreateAccessEntry calls are answered as EKS
   * answers for a principal IAM has not propagated yet (400 "The specified principalArn is invalid: invalid
   * principal."; aws/eks-hybrid#603 retries exactly this). `principals`: only these; all when absent.
   */
  readonly newPrincipals?: { readonly refusals: number; readonly principals?: readonly string[] };
  /** List operations answer at most this many items a page, with a nextToken: EKS may page below maxResults. */
  readonly maxPageSize?: number;
  /** Answers no reference settles, switched to an alternative real EKS might give. */
  readonly unsettled?: UnsettledAnswers;
}

/**
 * What no reference says EKS answers. Each default is our best guess; a test switches to the alternative to
 * prove the broker right whichever way real EKS answers (fidelity.md, "Unsettled").
 */
export interface UnsettledAnswers {
  /**
   * DisassociateAccessPolicy of a policy the entry does not have: 404 ResourceNotFoundException (default),
   * 200 as a no-op, or 400 InvalidParameterException.
   */
  readonly disassociateNotAssociated?: 'not-found' | 'ok' | 'invalid-parameter';
  /**
   * The 404 for a missing cluster on access-entry calls: DescribeCluster's documented "No cluster found for
   * name: X." (default), or the same text as for a missing entry. DescribeCluster itself always answers the
   * former.
   */
  readonly missingCluster?: 'no-cluster-found' | 'entry-message';
  /**
   * EKS's namespace rules for an access scope, which nothing documents: at most `maxPerScope` namespaces
   * (none by default), and the trailing `*` wildcard accepted unless `wildcards` is false.
   */
  readonly namespaces?: { readonly maxPerScope?: number; readonly wildcards?: boolean };
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
  /** CreateAccessEntry calls refused for a principal IAM has not propagated yet (`newPrincipals`). */
  principalRefusals: number;
}

/** Draws the faults for each call from one seeded stream, so runs with the same seed make the same draws. */
export class FaultInjector {
  private config: FaultConfig = {};
  private random: () => number = Math.random;
  private tokens = 0;
  private refilledAt = 0;
  /** CreateAccessEntry calls seen per principal, for `newPrincipals`. */
  private readonly principalCalls = new Map<string, number>();
  readonly counts: FaultCounts = {
    throttled: 0,
    serverErrors: 0,
    dropped: 0,
    droppedAfterCommit: 0,
    delayedMs: 0,
    principalRefusals: 0,
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
    this.principalCalls.clear();
  }

  resetCounts(): void {
    Object.assign(this.counts, {
      throttled: 0,
      serverErrors: 0,
      dropped: 0,
      droppedAfterCommit: 0,
      delayedMs: 0,
      principalRefusals: 0,
    });
    this.principalCalls.clear();
  }

  /** True when this CreateAccessEntry for `principalArn` meets a principal IAM has not propagated yet. */
  refusesNewPrincipal(principalArn: string): boolean {
    const fault = this.config.newPrincipals;
    if (!fault || (fault.principals && !fault.principals.includes(principalArn))) return false;
    const calls = (this.principalCalls.get(principalArn) ?? 0) + 1;
    this.principalCalls.set(principalArn, calls);
    if (calls > fault.refusals) return false;
    this.counts.principalRefusals++;
    return true;
  }

  /** The most items a list page holds: maxResults, or less under `maxPageSize`. */
  pageSize(maxResults: number | undefined): number | undefined {
    const cap = this.config.maxPageSize;
    if (cap === undefined) return maxResults;
    return Math.min(cap, maxResults ?? 100);
  }

  unsettled(): UnsettledAnswers {
    return this.config.unsettled ?? {};
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

const FAULT_KEYS = new Set([
  'latency',
  'rateLimit',
  'serverErrorRate',
  'dropRate',
  'dropAfterCommitRate',
  'operations',
  'seed',
  'newPrincipals',
  'maxPageSize',
  'unsettled',
]);
const UNSETTLED_CHOICES: Readonly<Record<string, readonly string[]>> = {
  disassociateNotAssociated: ['not-found', 'ok', 'invalid-parameter'],
  missingCluster: ['no-cluster-found', 'entry-message'],
};

function validateFaults(config: FaultConfig): void {
  // A typo in a fault (a key it does not know) would silently inject nothing: refuse it.
  const unknown = Object.keys(config).filter((key) => !FAULT_KEYS.has(key));
  if (unknown.length > 0) throw new RangeError(`Unknown fault setting(s): ${unknown.join(', ')}`);
  validateCounts(config);
  validateUnsettled(config.unsettled);
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

function validateCounts(config: FaultConfig): void {
  const { newPrincipals, maxPageSize } = config;
  if (newPrincipals && !(Number.isInteger(newPrincipals.refusals) && newPrincipals.refusals >= 0)) {
    throw new RangeError(
      `Fault newPrincipals.refusals must be an integer >= 0, got ${newPrincipals.refusals}`,
    );
  }
  if (
    maxPageSize !== undefined &&
    !(Number.isInteger(maxPageSize) && maxPageSize >= 1 && maxPageSize <= 100)
  ) {
    throw new RangeError(`Fault maxPageSize must be an integer from 1 to 100, got ${maxPageSize}`);
  }
}

function validateUnsettled(unsettled: UnsettledAnswers | undefined): void {
  if (unsettled === undefined) return;
  for (const [key, value] of Object.entries(unsettled)) {
    if (key === 'namespaces') continue;
    const choices = UNSETTLED_CHOICES[key];
    if (!choices) throw new RangeError(`Unknown unsettled answer: ${key}`);
    if (!choices.includes(String(value))) {
      throw new RangeError(
        `Unsettled answer ${key} must be one of ${choices.join(', ')}, got ${String(value)}`,
      );
    }
  }
  const max = unsettled.namespaces?.maxPerScope;
  if (max !== undefined && !(Number.isInteger(max) && max >= 1)) {
    throw new RangeError(`Unsettled answer namespaces.maxPerScope must be an integer >= 1, got ${max}`);
  }
}

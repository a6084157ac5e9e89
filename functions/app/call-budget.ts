/** Time as a budget sees it: epoch milliseconds, and a wait. Real by default; a benchmark passes its own. */
export interface Timer {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const REAL_TIMER: Timer = {
  // Looked up at each call, not captured: a simulator that replaces Date.now is then obeyed.
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface CallBudgetOptions {
  /** Calls the run may make (Infinity: no limit, and no waiting). */
  readonly calls: number;
  /** Epoch ms after which no call starts (Infinity: none). */
  readonly deadline: number;
  readonly timer: Timer;
}

/**
 * One run's EKS calls, spread evenly over the time it has: each call waits for its slot, `spacing` after the
 * previous one, spacing = (deadline - start) / calls. So a run spends its share of EKS's rate as a steady
 * trickle, never as a burst that would leave grants and revocations less than their share for a while.
 */
export class CallBudget {
  private readonly calls: number;
  private readonly deadline: number;
  private readonly timer: Timer;
  private readonly spacingMs: number;
  private nextSlot: number;
  private taken = 0;

  constructor(options: CallBudgetOptions) {
    if (!(options.calls >= 0)) throw new RangeError(`calls must not be negative: ${options.calls}`);
    this.calls = options.calls;
    this.deadline = options.deadline;
    this.timer = options.timer;
    const start = this.timer.now();
    this.nextSlot = start;
    const window = this.deadline - start;
    this.spacingMs =
      Number.isFinite(this.calls) && Number.isFinite(window) && this.calls > 0
        ? Math.max(0, window / this.calls)
        : 0;
  }

  /** Calls taken so far. */
  get used(): number {
    return this.taken;
  }

  /** Whether no call can be taken any more: all taken, or past the deadline. */
  spent(): boolean {
    return this.taken >= this.calls || this.timer.now() >= this.deadline;
  }

  /**
   * Takes `count` calls, waiting for their slot; false (nothing taken) when the run has not that many left, or
   * the slot would come after the deadline.
   */
  async take(count = 1): Promise<boolean> {
    if (this.taken + count > this.calls) return false;
    const now = this.timer.now();
    const slot = Math.max(now, this.nextSlot);
    if (slot >= this.deadline) return false;
    this.taken += count;
    this.nextSlot = slot + count * this.spacingMs;
    if (slot > now) await this.timer.sleep(slot - now);
    return true;
  }
}

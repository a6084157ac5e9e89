/**
 * A fake clock for the safety suites: it stands still between reads except that every read moves it on by one
 * millisecond. So every event the broker, the EKS emulator and the lease table stamp with it gets a distinct
 * time, and the order of the times is the order in which the reads happened. The invariant checks depend on
 * that: "the lease was granted (audit time) before this mutation" is a comparison of two of these times.
 */
export class TickingClock {
  private ms: number;

  constructor(startMs: number) {
    this.ms = startMs;
  }

  /** Epoch milliseconds; each call returns a later instant than the one before. */
  readonly now = (): number => {
    this.ms += 1;
    return this.ms;
  };

  /** The current instant without moving the clock. */
  peek(): number {
    return this.ms;
  }

  seconds(): number {
    return Math.floor(this.ms / 1000);
  }

  advance(seconds: number): void {
    this.ms += Math.round(seconds * 1000);
  }

  advanceTo(ms: number): void {
    if (ms > this.ms) this.ms = ms;
  }
}

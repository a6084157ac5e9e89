/**
 * The simulated clock and the scheduler. Nothing in the simulation waits on real time: every wait (a request
 * on its way to DynamoDB or EKS and back, a backoff, a queue's visibility timeout, the sweeper's minute) is a
 * wake-up at a simulated instant, and the scheduler runs them one at a time, earliest first (ties in the order
 * they were asked for). After each wake-up it lets the promise continuations it started run to their next wait
 * (one macrotask turn: the simulation has no timers or sockets, so nothing else is pending), then calls
 * `afterStep`, where the invariants are checked. Which invocation goes next is decided by the seeded latencies
 * of their calls: the same seed gives the same interleaving, down to the microtask.
 */
interface Wakeup {
  readonly at: number;
  readonly seq: number;
  readonly fire: () => void;
}

export class Scheduler {
  private nowMs: number;
  private seq = 0;
  private readonly heap: Wakeup[] = [];
  /** Wake-ups run so far. */
  steps = 0;

  constructor(startMs: number) {
    this.nowMs = startMs;
  }

  /**
   * Epoch milliseconds, moving on by one at every read: every stamp (an audit event, an EKS mutation) gets its
   * own instant, in the order the reads happened, as with the safety world's ticking clock.
   */
  readonly clock = (): number => ++this.nowMs;

  /** The current instant without moving it. */
  peek(): number {
    return this.nowMs;
  }

  /** Resolves `ms` (rounded up to whole ms) from now: at the earliest, the instant may be later when it runs. */
  readonly sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      this.at(this.nowMs + Math.max(0, Math.ceil(ms)), resolve);
    });

  /** Runs `fire` at `at` (epoch ms). */
  at(at: number, fire: () => void): void {
    const wakeup: Wakeup = { at, seq: this.seq++, fire };
    const heap = this.heap;
    heap.push(wakeup);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Wakeup;
      if (before(p, wakeup)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = wakeup;
  }

  /** When the next wake-up is due; undefined when nothing is waiting. */
  nextAt(): number | undefined {
    return this.heap[0]?.at;
  }

  get pending(): number {
    return this.heap.length;
  }

  /**
   * Runs wake-ups until none is left or `stop` says so (asked after each step), and none past `untilMs`.
   * `afterStep` runs after each wake-up's continuations have settled.
   */
  async run(options: {
    readonly untilMs?: number;
    readonly stop?: () => boolean;
    readonly afterStep?: () => void;
  }): Promise<void> {
    const until = options.untilMs ?? Number.POSITIVE_INFINITY;
    for (;;) {
      const next = this.heap[0];
      if (next === undefined || next.at > until) break;
      this.pop();
      if (next.at > this.nowMs) this.nowMs = next.at;
      this.steps++;
      next.fire();
      await settle();
      options.afterStep?.();
      if (options.stop?.()) break;
    }
    if (until !== Number.POSITIVE_INFINITY && until > this.nowMs) this.nowMs = until;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && before(heap[right] as Wakeup, heap[left] as Wakeup)) child = right;
      const c = heap[child] as Wakeup;
      if (before(last, c)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = last;
  }
}

function before(a: Wakeup, b: Wakeup): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** One macrotask turn: every promise continuation started so far has run to its next wait. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

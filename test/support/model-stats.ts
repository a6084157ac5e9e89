import { INVARIANT_IDS, INVARIANTS, type InvariantId } from './invariants';

/** What the model-based runs did, summed over runs: the soak report. */
export class ModelStats {
  runs = 0;
  operations = 0;
  deliveries = 0;
  /** Deliveries of the ticketing integration's events put on the bus (the rest came on the queue). */
  busDeliveries = 0;
  redeliveries = 0;
  duplicates = 0;
  lostAcks = 0;
  outOfOrder = 0;
  deadLettered = 0;
  crashes = { delivery: 0, timer: 0, sweep: 0 };
  faults = { throttled: 0, serverErrors: 0, dropped: 0, droppedAfterCommit: 0, delayedMs: 0 };
  dynamodbFaults = { failedBefore: 0, lostAfterCommit: 0 };
  results = new Map<string, number>();
  sweeps = 0;
  timersFired = 0;
  driftRepairs = 0;
  repeatedOutcomes = 0;
  maxExpiryLagSeconds = 0;
  /** Requests no integration may make (the intruder's, a known integration's outside its ceiling), per way in. */
  readonly intruder = { sent: new Map<string, number>(), refused: new Map<string, number>() };
  violations: Record<InvariantId, number> = { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0 };
  readonly startedAt = Date.now();

  result(status: string): void {
    this.results.set(status, (this.results.get(status) ?? 0) + 1);
  }

  /** One delivery of a request no integration may make, sent `how`, answered `answer`. */
  intruderDelivery(how: string, answer: string): void {
    this.intruder.sent.set(how, (this.intruder.sent.get(how) ?? 0) + 1);
    this.intruder.refused.set(answer, (this.intruder.refused.get(answer) ?? 0) + 1);
  }

  totalViolations(): number {
    return Object.values(this.violations).reduce((sum, n) => sum + n, 0);
  }

  table(): string {
    const rows: [string, string | number][] = [
      ['runs (scenarios)', this.runs],
      ['operations run', this.operations],
      ['deliveries (incl. redeliveries)', this.deliveries],
      ['  of which EventBridge events of the ticketing integration', this.busDeliveries],
      ['redeliveries after a failed delivery', this.redeliveries],
      ['duplicate deliveries (explicit + lost acks)', this.duplicates],
      ['  of which lost acks (crash after the last side effect)', this.lostAcks],
      ['out-of-order deliveries (held back, released later)', this.outOfOrder],
      ['dead-lettered (poison path)', this.deadLettered],
      ['crashes injected: intake deliveries', this.crashes.delivery],
      ['crashes injected: expiry timers', this.crashes.timer],
      ['crashes injected: sweeps', this.crashes.sweep],
      ['EKS faults: throttled', this.faults.throttled],
      ['EKS faults: 5xx', this.faults.serverErrors],
      ['EKS faults: dropped connections', this.faults.dropped],
      ['EKS faults: dropped after commit', this.faults.droppedAfterCommit],
      ['EKS faults: latency added (ms)', Math.round(this.faults.delayedMs)],
      ['DynamoDB faults: call failed before sending', this.dynamodbFaults.failedBefore],
      ['DynamoDB faults: write committed, answer lost', this.dynamodbFaults.lostAfterCommit],
      ['sweeps run / timers fired', `${this.sweeps} / ${this.timersFired}`],
      ['drift repairs (check runs without tampering)', this.driftRepairs],
      ['outcome events repeated after an interrupted invocation', this.repeatedOutcomes],
      ['max expiry lag without failed attempts (s)', this.maxExpiryLagSeconds],
      ...[...this.results.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([status, n]): [string, number] => [`delivery results: ${status}`, n]),
      ...sortedRows(this.intruder.sent, 'intruder deliveries answered'),
      ...sortedRows(this.intruder.refused, 'intruder answers'),
      ...INVARIANT_IDS.map((id): [string, number] => [
        `violations of invariant ${id}: ${INVARIANTS[id]}`,
        this.violations[id],
      ]),
      ['wall time (s)', Math.round((Date.now() - this.startedAt) / 1000)],
    ];
    const width = Math.max(...rows.map(([label]) => label.length));
    const line = `+${'-'.repeat(width + 2)}+${'-'.repeat(12)}+`;
    return [
      line,
      ...rows.map(([label, value]) => `| ${label.padEnd(width)} | ${String(value).padStart(10)} |`),
      line,
    ].join('\n');
  }
}

function sortedRows(counts: ReadonlyMap<string, number>, prefix: string): [string, number][] {
  return [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, n]): [string, number] => [`${prefix}: ${key}`, n]);
}

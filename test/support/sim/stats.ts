import { INVARIANT_IDS, INVARIANTS, type InvariantId } from '../invariants';
import { CRASH_POINTS, FAULT_KINDS, FUNCTIONS, type FunctionName } from './invocation';

/** Counts that add up across runs and workers (plain records, so a worker can send them). */
export interface StatsData {
  runs: number;
  operations: number;
  steps: number;
  simulatedMs: number;
  /** CPU time the runs took (user + system, of the processes that ran them): the measure load cannot skew. */
  cpuMs: number;
  counts: Record<string, number>;
  /** Highest values (a maximum over runs, not a sum). */
  maxima: Record<string, number>;
  faults: Record<string, number>;
  crashPoints: Record<string, number>;
  crashFunctions: Record<string, number>;
  invocations: Record<string, number>;
  results: Record<string, number>;
  weathers: Record<string, number>;
  violations: Record<string, number>;
}

export function emptyStats(): StatsData {
  return {
    runs: 0,
    operations: 0,
    steps: 0,
    simulatedMs: 0,
    cpuMs: 0,
    counts: {},
    maxima: {},
    faults: {},
    crashPoints: {},
    crashFunctions: {},
    invocations: {},
    results: {},
    weathers: {},
    violations: {},
  };
}

function add(record: Record<string, number>, key: string, n = 1): void {
  record[key] = (record[key] ?? 0) + n;
}

/** What the simulation did: the table it prints, and the coverage it enforces. */
export class SimStats {
  constructor(readonly data: StatsData = emptyStats()) {}

  count(what: string, n = 1): void {
    add(this.data.counts, what, n);
  }

  max(what: string, value: number): void {
    this.data.maxima[what] = Math.max(this.data.maxima[what] ?? value, value);
  }

  fault(kind: string): void {
    add(this.data.faults, kind);
  }

  crash(fn: FunctionName, point: string): void {
    add(this.data.crashPoints, point);
    add(this.data.crashFunctions, fn);
  }

  invocation(fn: FunctionName): void {
    add(this.data.invocations, fn);
  }

  result(what: string): void {
    add(this.data.results, what);
  }

  violation(invariant: InvariantId): void {
    add(this.data.violations, String(invariant));
  }

  merge(other: StatsData): void {
    const d = this.data;
    d.runs += other.runs;
    d.operations += other.operations;
    d.steps += other.steps;
    d.simulatedMs += other.simulatedMs;
    d.cpuMs += other.cpuMs;
    for (const key of [
      'counts',
      'faults',
      'crashPoints',
      'crashFunctions',
      'invocations',
      'results',
      'weathers',
      'violations',
    ] as const) {
      for (const [name, n] of Object.entries(other[key])) add(d[key], name, n);
    }
    for (const [name, n] of Object.entries(other.maxima)) d.maxima[name] = Math.max(d.maxima[name] ?? n, n);
  }

  /** Crash points and fault kinds never reached, and crash points the simulator does not know. */
  coverageGaps(): string[] {
    const d = this.data;
    return [
      ...CRASH_POINTS.filter((point) => !d.crashPoints[point]).map(
        (point) => `crash point never reached: ${point}`,
      ),
      ...Object.keys(d.crashPoints)
        .filter((point) => !CRASH_POINTS.includes(point))
        .map((point) => `crash point not listed in test/support/sim/invocation.ts: ${point}`),
      ...FUNCTIONS.filter((fn) => !d.crashFunctions[fn]).map((fn) => `no invocation of ${fn} ever crashed`),
      ...FAULT_KINDS.filter((kind) => !d.faults[kind]).map((kind) => `fault never injected: ${kind}`),
    ];
  }

  table(wallMs: number): string {
    const d = this.data;
    const rows: [string, string | number][] = [
      ['runs (seeded scenarios)', d.runs],
      ['operations run', d.operations],
      ['scheduler steps (wake-ups)', d.steps],
      ['simulated time (h)', (d.simulatedMs / 3_600_000).toFixed(1)],
      ['operations per second (wall)', Math.round(d.operations / Math.max(0.001, wallMs / 1000))],
      ['CPU time of the runs (s)', (d.cpuMs / 1000).toFixed(1)],
      ['operations per CPU second', Math.round(d.operations / Math.max(0.001, d.cpuMs / 1000))],
      ...sorted(d.weathers, 'runs in weather'),
      ...sorted(d.invocations, 'invocations'),
      ...sorted(d.counts, ''),
      ...sorted(d.maxima, 'max'),
      ...sorted(d.results, 'answers'),
      ...FAULT_KINDS.map((kind): [string, number] => [`fault: ${kind}`, d.faults[kind] ?? 0]),
      ...FUNCTIONS.map((fn): [string, number] => [`crashes: ${fn}`, d.crashFunctions[fn] ?? 0]),
      ...CRASH_POINTS.map((point): [string, number] => [`crash point: ${point}`, d.crashPoints[point] ?? 0]),
      ...INVARIANT_IDS.map((id): [string, number] => [
        `violations of invariant ${id}: ${INVARIANTS[id]}`,
        d.violations[String(id)] ?? 0,
      ]),
      ['wall time (s)', (wallMs / 1000).toFixed(1)],
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

function sorted(record: Readonly<Record<string, number>>, prefix: string): [string, number][] {
  return Object.entries(record)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, n]): [string, number] => [prefix ? `${prefix}: ${key}` : key, n]);
}

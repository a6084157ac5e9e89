import { SubjectBusyError } from '../core/errors';
import type { Subject } from '../core/model';
import { subjectKey } from '../core/subject';
import { CallBudget, REAL_TIMER, type Timer } from './call-budget';
import { forEachLimited } from './concurrency';
import { type AppDeps, nowSeconds } from './deps';
import { findDrift, repairDrift, type SubjectRecords, settledLeases } from './drift-repair';
import { ScheduledRunError } from './errors';
import type { DriftCursor, LiveLeaseEntry } from './ports';

export interface DriftReport {
  /** Subjects compared with EKS. */
  readonly subjects: number;
  readonly repaired: number;
  /** Subjects left for the sweeper or the intake (a lease is due or pending there) or held by another invocation. */
  readonly skipped: number;
  /** Subjects whose check failed (logged each); the run finishes the others, then throws DriftCheckError. */
  readonly errors: number;
  /** EKS calls the run spent, as its budget counted them. */
  readonly eksCalls: number;
  /** Live leases the run read from the lease table's index. */
  readonly leases: number;
  /** Passes over every live lease the run completed (0 or 1; 2 when a small table let it go round twice). */
  readonly passesCompleted: number;
}

export interface DriftCheckOptions {
  /** Epoch ms (of `timer`) after which no subject is started. */
  readonly deadline?: number;
  /** Subjects worked on at once. */
  readonly concurrency?: number;
  /**
   * The run's share of EKS: `callsPerSecond` (share x R) over the schedule's `intervalSeconds`, spread over the
   * run. Absent: no limit (the tests, the simulator), and no waiting.
   */
  readonly budget?: { readonly callsPerSecond: number; readonly intervalSeconds: number };
  /** Live leases read per page of the index. */
  readonly pageSize?: number;
  /** The clock of `deadline` and of the budget's waits. */
  readonly timer?: Timer;
}

const DEFAULT_PAGE_SIZE = 100;
const DEFAULT_CONCURRENCY = 4;
/** What a repair spends besides the compare: reading the entry and its associations again under the lock. */
const REPAIR_READS = 2;

/**
 * Every minute: puts back access that active leases need and someone removed or changed by hand. It goes
 * through every live lease, a page at a time from where the last run stopped (the cursor, kept in the lease
 * table), and starts over once it has seen them all, so a pass covers any number of leases in as many runs as
 * its share of EKS's rate takes. A subject is compared once a pass, at the live lease of it whose request id
 * comes first, with one EKS read and no lock (findDrift); only a difference takes the subject's lock, and is
 * repaired through the planner with an `Access Drift Repaired` event (repairDrift). A busy subject is skipped:
 * whoever holds it reconciles.
 */
export async function checkDrift(deps: AppDeps, options: DriftCheckOptions = {}): Promise<DriftReport> {
  const timer = options.timer ?? REAL_TIMER;
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
  const calls = options.budget
    ? Math.floor(options.budget.callsPerSecond * options.budget.intervalSeconds)
    : Number.POSITIVE_INFINITY;
  const budget = new CallBudget({ calls, deadline, timer });
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;

  let cursor: DriftCursor = (await deps.store.readDriftCursor()) ?? {
    passStartedAt: nowSeconds(deps),
    passes: 0,
  };
  // A run that starts a pass ends with it; one that starts half-way may go on into the next pass.
  let endsLeft = cursor.position === undefined ? 1 : 2;
  const tally = { subjects: 0, repaired: 0, skipped: 0, leases: 0, passesCompleted: 0 };
  const failures: unknown[] = [];
  const checked = new Set<string>();

  const checkEntry = async (
    entry: LiveLeaseEntry,
    records: SubjectRecords,
  ): Promise<'done' | 'out of budget'> => {
    const key = subjectKey(entry);
    if (checked.has(key)) return 'done';
    // One lease speaks for its subject: the live one whose request id comes first. A stale index entry
    // (its lease ended) speaks for nothing.
    const first = records.leases.reduce<string | undefined>(
      (min, lease) => (min === undefined || lease.requestId < min ? lease.requestId : min),
      undefined,
    );
    if (first !== entry.requestId) return 'done';
    const subject: Subject = { clusterName: entry.clusterName, principalArn: entry.principalArn };
    const now = nowSeconds(deps);
    if (!settledLeases(records, now)) {
      checked.add(key);
      tally.skipped++;
      return 'done';
    }
    if (!(await budget.take(1))) return 'out of budget';
    checked.add(key);
    try {
      tally.subjects++;
      const drift = await findDrift(deps, subject, records, now);
      if (drift !== 'unreadable' && drift.length === 0) return 'done';
      const repairCalls = REPAIR_READS + (drift === 'unreadable' ? 0 : drift.length);
      if (!(await budget.take(repairCalls))) {
        // Seen, not repaired: the next run starts here again.
        checked.delete(key);
        tally.subjects--;
        return 'out of budget';
      }
      const repair = await repairDrift(deps, subject, { waitMs: 0 });
      if (repair.actions.length > 0) tally.repaired++;
    } catch (error) {
      if (error instanceof SubjectBusyError) {
        tally.skipped++;
        return 'done';
      }
      // One subject's failure (a node entry put in its place, an EKS error) must not stop the others.
      failures.push(error);
      deps.log.error('drift check could not check a subject', {
        clusterName: subject.clusterName,
        principalArn: subject.principalArn,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    return 'done';
  };

  while (endsLeft > 0 && !budget.spent()) {
    const page = await deps.store.liveLeasePage(cursor.position, pageSize);
    tally.leases += page.entries.length;
    const reads = new Map<string, Promise<SubjectRecords>>();
    const readOnce = (entry: LiveLeaseEntry): Promise<SubjectRecords> => {
      const key = subjectKey(entry);
      let read = reads.get(key);
      if (read === undefined) {
        read = deps.store.readSubject(entry);
        reads.set(key, read);
      }
      return read;
    };
    const done = page.entries.map(() => false);
    let stopped = false;
    await forEachLimited(
      page.entries.map((entry, index) => ({ entry, index })),
      concurrency,
      async ({ entry, index }) => {
        if (stopped || timer.now() >= deadline) {
          stopped = true;
          return;
        }
        if ((await checkEntry(entry, await readOnce(entry))) === 'out of budget') {
          stopped = true;
          return;
        }
        done[index] = true;
      },
    );
    // The cursor moves past what is done, in order: an entry left undone is the next run's first.
    const finished = done.indexOf(false) < 0 ? done.length : done.indexOf(false);
    const last = page.entries[finished - 1];
    if (last) cursor = { ...cursor, position: last.position };
    if (finished === page.entries.length && page.done) {
      const now = nowSeconds(deps);
      const lastPassSeconds = now - cursor.passStartedAt;
      cursor = { passStartedAt: now, passes: cursor.passes + 1, lastPassSeconds };
      tally.passesCompleted++;
      endsLeft--;
      deps.metrics.add('DriftPassSeconds', lastPassSeconds);
    }
    await deps.store.saveDriftCursor(cursor);
    if (stopped || finished < page.entries.length) break;
  }

  deps.metrics.add('DriftSubjectsChecked', tally.subjects);
  deps.metrics.add('DriftEksCalls', budget.used);
  const report: DriftReport = { ...tally, errors: failures.length, eksCalls: budget.used };
  if (failures.length > 0) throw new DriftCheckError(report, failures);
  return report;
}

/** A drift run that checked every subject it could but failed on some: the scheduled run errors (and alarms). */
export class DriftCheckError extends ScheduledRunError<DriftReport> {
  override readonly name = 'DriftCheckError';
  constructor(
    report: DriftReport,
    readonly failures: readonly unknown[],
  ) {
    super(`The drift check failed on ${report.errors} of ${report.subjects} subject(s)`, report);
  }
}

import { SubjectBusyError } from '../core/errors';
import type { Lease } from '../core/model';
import type { TimerMessage } from '../core/timer-message';
import { forEachLimited } from './concurrency';
import { type AppDeps, nowSeconds } from './deps';
import { ScheduledRunError } from './errors';
import { type EndLeaseResult, endLease } from './revocation';

/**
 * How long before its lease's expiry a timer is armed to arrive, at least (at most a second more: SQS delays are
 * whole seconds): enough for the queue's delivery to the timer function, which then waits for the exact instant
 * (onTimer), so that revocation lands right at expiry and never before it.
 */
const TIMER_LEAD_MS = 1_000;

/** Arms the precise timer of a lease that ends within the timer window; later leases are armed by the sweeper. */
export async function armIfSoon(deps: AppDeps, lease: Lease, now: number): Promise<boolean> {
  const delay = lease.expiresAt - now;
  if (lease.status !== 'active' || delay > deps.timers.maxDelaySeconds) return false;
  const remainingMs = lease.expiresAt * 1000 - deps.clock();
  const early = Math.max(0, Math.floor((remainingMs - TIMER_LEAD_MS) / 1000));
  await deps.timers.arm({ requestId: lease.requestId, expiresAt: lease.expiresAt }, early);
  return true;
}

export type TimerResult = EndLeaseResult | { readonly status: 'stale' } | { readonly status: 'rearmed' };

/** How an invocation of the timer function may wait for a timer's expiry. */
export interface TimerWait {
  /** The longest wait (ms): the function's remaining time, less what the revocation itself needs. */
  readonly maxWaitMs: number;
  readonly sleep: (ms: number) => Promise<void>;
}

/**
 * How long before the instant of expiry the timer's revocation takes the subject's lock and starts its reads,
 * so that only the change itself is left to make once the instant comes. An extension asked in that last
 * moment waits for the lock and finds the lease expired.
 */
const READY_AHEAD_MS = 500;

/**
 * A timer fired. It acts only if the lease still ends at the time it was armed for: an extended, revoked or
 * already ended lease makes it stale. A timer arrives a little before expiry (armIfSoon): it waits, then takes
 * the subject's lock and reads just ahead of the instant (READY_AHEAD_MS), waits for the instant itself by the
 * clock and revokes then, never before. One that would have to wait longer than `wait` allows (no wait at all
 * when absent) is armed again for the rest.
 */
export async function onTimer(deps: AppDeps, timer: TimerMessage, wait?: TimerWait): Promise<TimerResult> {
  const lease = await deps.store.findLease(timer.requestId);
  if (!lease || lease.status === 'ended' || lease.expiresAt !== timer.expiresAt) {
    deps.metrics.add('StaleTimers');
    return { status: 'stale' };
  }
  const expiresAtMs = lease.expiresAt * 1000;
  if (expiresAtMs > deps.clock() + (wait?.maxWaitMs ?? 0)) {
    await deps.timers.arm(timer, rearmDelaySeconds(expiresAtMs - deps.clock()));
    return { status: 'rearmed' };
  }
  const intent = { reason: 'expired', actor: 'timer', onlyIfDue: true } as const;
  if (!wait) return endLease(deps, lease.requestId, intent, lease);
  await sleepUntil(deps, wait, expiresAtMs - READY_AHEAD_MS);
  // Under the lock, the lease as read again: extended meanwhile, it is not due, and nothing is waited for.
  const readyAt = async (read: Lease) => {
    if (read.expiresAt === lease.expiresAt) await sleepUntil(deps, wait, expiresAtMs);
  };
  return endLease(deps, lease.requestId, { ...intent, readyAt }, lease);
}

/** Sleeps until the clock reads `atMs`: a sleep may end a millisecond early, the clock decides. */
async function sleepUntil(deps: AppDeps, wait: TimerWait, atMs: number): Promise<void> {
  for (let remaining = atMs - deps.clock(); remaining > 0; remaining = atMs - deps.clock()) {
    await wait.sleep(remaining);
  }
}

/** Again a little early when the rest is long enough for that, else at expiry: never a delay of 0 (a loop). */
function rearmDelaySeconds(remainingMs: number): number {
  return remainingMs >= TIMER_LEAD_MS + 1000
    ? Math.floor((remainingMs - TIMER_LEAD_MS) / 1000)
    : Math.max(1, Math.ceil(remainingMs / 1000));
}

export interface SweepOptions {
  /** Leases handled per run at most; the rest waits for the next run. */
  readonly limit?: number;
  readonly concurrency?: number;
  /** Epoch ms after which no new lease is started (the function's time budget minus a margin). */
  readonly deadline?: number;
  /** Seconds between runs: leases entering the timer window since the last run(s) get their timer. */
  readonly intervalSeconds?: number;
}

export interface SweepReport {
  readonly due: number;
  readonly revoked: number;
  readonly retryScheduled: number;
  readonly irrevocable: number;
  /** Left for the next run: the deadline came, or another invocation held the subject. */
  readonly deferred: number;
  /** Leases that could not be handled for an unexpected reason (logged; the run fails so it alarms). */
  readonly errors: number;
  readonly timersArmed: number;
}

/**
 * The backstop of expiry: finds due leases through the sparse `due` index (reads grow with the due leases,
 * not with the table; each lease is read once, by endLease under its subject's lock), ends them with bounded
 * concurrency before the deadline, and arms the timers of the leases that entered the timer window, so that
 * those are revoked within seconds of their expiry.
 */
export async function sweep(deps: AppDeps, options: SweepOptions = {}): Promise<SweepReport> {
  const now = nowSeconds(deps);
  const limit = options.limit ?? 200;
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
  const due = await deps.store.dueKeys(now, limit);
  deps.metrics.add('SweepDueLeases', due.length);
  const counts = { revoked: 0, retryScheduled: 0, irrevocable: 0, deferred: 0, errors: 0 };

  await forEachLimited(due, options.concurrency ?? 4, async (lease) => {
    if (Date.now() >= deadline) {
      counts.deferred++;
      return;
    }
    try {
      const result = await endLease(
        deps,
        lease.requestId,
        { reason: 'expired', actor: 'sweeper', onlyIfDue: true },
        lease,
      );
      if (result.status === 'revoked') counts.revoked++;
      else if (result.status === 'retry-scheduled') counts.retryScheduled++;
      else if (result.status === 'irrevocable') counts.irrevocable++;
    } catch (error) {
      if (error instanceof SubjectBusyError) {
        counts.deferred++;
        return;
      }
      // One lease's storage error must not stop the others; the run still ends in error (and alarms).
      counts.errors++;
      deps.log.error('sweep could not end a lease', {
        requestId: lease.requestId,
        error: (error as Error).message,
      });
    }
  });

  let timersArmed = 0;
  if (Date.now() < deadline) {
    // Two intervals back, so one missed or late run does not leave a lease without its timer.
    const lookback = 2 * (options.intervalSeconds ?? 60);
    const soon = await deps.store.dueLeases(now + deps.timers.maxDelaySeconds, limit, {
      after: Math.max(now, now + deps.timers.maxDelaySeconds - lookback),
    });
    for (const lease of soon) {
      if (lease.nextAttemptAt === undefined && (await armIfSoon(deps, lease, now))) timersArmed++;
    }
  }
  const report = { due: due.length, ...counts, timersArmed };
  if (report.due > 0 || report.timersArmed > 0) deps.log.info('sweep finished', { ...report });
  if (counts.errors > 0) throw new SweepError(report);
  return report;
}

export class SweepError extends ScheduledRunError<SweepReport> {
  override readonly name = 'SweepError';
  constructor(report: SweepReport) {
    super(`The sweep could not handle ${report.errors} of ${report.due} due lease(s)`, report);
  }
}

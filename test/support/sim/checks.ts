import type { Lease, AccessScope as LeaseScope } from '../../../functions/core/model';
import { OWNER_TAG_KEY, OWNER_TAG_VALUE } from '../../../functions/core/model';
import type { Outcome } from '../../../functions/core/outcomes';
import { coversScope, unionScope } from '../../../functions/core/scope';
import type { AccessScope, MutationRecord } from '../../../infra/local/eks/model';
import {
  checkDrained,
  checkForeignUntouched,
  checkIntegrationAllowance,
  checkNoEarlyLoss,
  type InvariantId,
  refusedAsThere,
  type TrackedLease,
  toScope,
  type Violation,
} from '../invariants';
import type { FunctionName } from './invocation';
import type { QueueMessage } from './queues';
import type { Answered, SimWorld, Work, WorldObserver } from './world';
import { expectedFailure } from './world';

/** How requests no integration may make are refused (as in the soak). */
const REFUSAL_CODES: ReadonlySet<string> = new Set([
  'SENDER_NOT_ALLOWED',
  'ACCOUNT_NOT_ALLOWED',
  'NOT_ALLOWED',
  'BREAK_GLASS_NOT_ALLOWED',
  'INTEGRATION_MISMATCH',
  'PROOF_REQUIRED',
  'SOURCE_NOT_ALLOWED',
]);
/** Rejections whose answer may change once other requests arrive: a later delivery may answer otherwise. */
const STATE_DEPENDENT_CODES = new Set(['UNKNOWN_REQUEST', 'LEASE_NOT_ACTIVE', 'EXTENSION_CAP_EXCEEDED']);
const FINAL_STATUSES = new Set(['granted', 'failed', 'revoked', 'extended', 'duplicate']);
const ONCE_PER_LEASE = [
  'Access Granted',
  'Break Glass Access Granted',
  'Access Grant Failed',
  'Access Revoked',
  'Access Revocation Failed',
];
/** The longest a lease may outlive its expiry without a failed attempt: the sweep, lock TTLs, redeliveries. */
const MAX_EXPIRY_LAG_SECONDS = 900;

/** A request as the run sent it: every delivery of it and its dead letter belong to it. */
export interface Chain {
  readonly index: number;
  readonly kind: 'grant' | 'revoke' | 'extend';
  readonly requestId: string;
  readonly label: string;
  /** Set on a request no integration may make: how it was sent. */
  readonly intrusion?: string;
  settled: { readonly status: string; readonly code?: string } | undefined;
  deadLettered: boolean;
}

/** The answers a grant's requester heard, in order, as the checks of invariant 4 read them. */
type Heard = 'granted' | 'failed' | 'revoked' | 'rejected';

/**
 * The invariants of test/support/invariants.ts, checked after every step of the scheduler on what changed in
 * it (each EKS mutation, each lease write, each outcome published, each answered record), and in full, with the
 * functions of invariants.ts themselves, at the end of every run.
 */
export class Checks implements WorldObserver {
  readonly violations: Violation[] = [];
  readonly chains = new Map<number, Chain>();
  private readonly byRequest = new Map<string, Chain[]>();
  /** Grant requestIds no integration may make. */
  readonly refusedIds = new Set<string>();
  readonly grantIds: string[] = [];
  /** `requestId|detailType` of outcomes published by work that then did not complete: may come again. */
  private readonly interrupted = new Map<string, number>();
  private readonly heard = new Map<string, Heard[]>();
  /** Grants announced granted: their access must stay, even while their lease is still pending (issue 14). */
  private readonly announced = new Set<string>();
  /** Repeats of an answered request, with what they must leave alone. */
  private readonly repeats = new Map<Work, Chain['settled']>();
  private seenMutations: number;
  /** Subjects changed by hand and not yet repaired: their valid leases may lack access until the drift check. */
  private readonly drifted = new Set<number>();
  /** Entries the broker created (with its tag), by principal: it may delete only those. */
  private readonly brokerEntries = new Set<string>();

  constructor(private readonly world: SimWorld) {
    this.seenMutations = world.emulator.mutations().length;
  }

  chain(chain: Chain): void {
    this.chains.set(chain.index, chain);
    const list = this.byRequest.get(chain.requestId) ?? [];
    list.push(chain);
    this.byRequest.set(chain.requestId, list);
  }

  /**
   * An operator changed the subject by hand: until the broker's next change or lease write finds every valid
   * lease covered again, a valid lease may lack access (including one whose grant was in flight meanwhile).
   */
  handEdited(subject: number): void {
    this.drifted.add(subject);
  }

  /**
   * Subjects changed by hand whose valid leases still lack access (the drift check has yet to repair them),
   * looked at again now: one whose leases need nothing the operator took counts no more.
   */
  driftedSubjects(): number {
    for (const subject of [...this.drifted]) this.subjectNow(subject);
    return this.drifted.size;
  }

  /** The highest index of an operation that has arrived (the run driver keeps it up to date). */
  lastArrived = -1;
  /** What had arrived when the first violation was seen: what shrinking keeps first. */
  arrivedAtFirstViolation: number | undefined;

  private violate(invariant: InvariantId, message: string): void {
    this.arrivedAtFirstViolation ??= this.lastArrived;
    this.violations.push({ invariant, message });
    this.world.stats.violation(invariant);
    this.world.trace(`VIOLATION ${invariant}: ${message}`);
  }

  // ---- after every step -----------------------------------------------------------------------------------

  afterStep(): void {
    const mutations = this.world.emulator.mutations();
    const touched = this.world.touched;
    if (mutations.length === this.seenMutations && touched.size === 0) return;
    for (let i = this.seenMutations; i < mutations.length; i++) {
      const m = mutations[i] as MutationRecord;
      this.mutation(m);
      if (m.principalArn !== undefined) touched.add(m.principalArn);
    }
    this.seenMutations = mutations.length;
    for (const principalArn of touched) {
      const subject = this.world.principals.indexOf(principalArn);
      if (subject >= 0) this.subjectNow(subject);
    }
    touched.clear();
  }

  /** Invariant 3, one mutation at a time: nothing the broker did not create is deleted, narrowed or re-tagged. */
  private mutation(m: MutationRecord): void {
    const hand = this.world.handMutations.has(m.seq);
    this.world.trace(
      `eks #${m.seq} ${m.operation} ${short(m.principalArn)} ${m.policyArn ? short(m.policyArn) : ''} ${m.accessScope ? scopeText(m.accessScope) : ''} ${m.outcome}${hand ? ' (by hand)' : ''}`,
    );
    if (hand || m.principalArn === undefined) return;
    const subject = this.world.subjects.find((s) => s.principalArn === m.principalArn);
    const seed = subject?.baseline;
    const what = `mutation #${m.seq} ${m.operation} (${m.outcome}) on ${short(m.principalArn)}`;
    if (seed && seed.type !== 'STANDARD') {
      if (!refusedAsThere(m)) this.violate(3, `${what}: a ${seed.type} entry must never be touched`);
      return;
    }
    if (m.outcome !== 'applied') return;
    switch (m.operation) {
      case 'CreateAccessEntry':
        if (m.replayed) return;
        if (m.tags?.[OWNER_TAG_KEY] !== OWNER_TAG_VALUE)
          this.violate(3, `${what}: created without the broker's tag`);
        else this.brokerEntries.add(m.principalArn);
        return;
      case 'DeleteAccessEntry':
        if (seed || !this.brokerEntries.has(m.principalArn)) {
          this.violate(3, `${what}: deleted an entry the broker did not create`);
        }
        this.brokerEntries.delete(m.principalArn);
        return;
      case 'AssociateAccessPolicy': {
        const before = seed?.associations.find((a) => a.policyArn === m.policyArn);
        const scope = toScope(m.accessScope);
        if (before && !coversScope(scope, before.accessScope))
          this.violate(3, `${what}: narrowed a baseline association`);
        return;
      }
      case 'DisassociateAccessPolicy':
        if (seed?.associations.some((a) => a.policyArn === m.policyArn)) {
          this.violate(3, `${what}: removed a baseline association`);
        }
        return;
      default:
        this.violate(3, `${what}: the broker never updates or re-tags entries`);
    }
  }

  /**
   * Invariants 1 and 2 at this instant, for one subject: EKS holds no more than its baseline and the scopes of
   * its leases that have not ended (the broker takes access back before it records the end), and every lease
   * that is active and unexpired holds its access, as does a lease announced granted whose save never came
   * (unless an operator changed the entry by hand since the last repair).
   */
  private subjectNow(subject: number): void {
    const world = this.world;
    const principalArn = world.principals[subject] as string;
    const tracked = world.subjects[subject];
    if (tracked?.baseline && tracked.baseline.type !== 'STANDARD') return;
    const held = heldPolicies(world, principalArn);
    const leases = world.table.peekLeases({ clusterName: 'demo', principalArn });
    const now = world.scheduler.peek();
    if (held !== undefined) {
      for (const [policyArn, scope] of held) {
        let allowed: LeaseScope | null | undefined = tracked?.baseline?.associations.find(
          (a) => a.policyArn === policyArn,
        )?.accessScope;
        for (const lease of leases) {
          if (lease.status !== 'ended' && lease.policyArn === policyArn) {
            allowed = unionScope(allowed, lease.accessScope);
          }
        }
        const wire = toScope(scope);
        if (wire && !coversScope(allowed, wire)) {
          this.violate(
            1,
            `${short(principalArn)} holds ${short(policyArn)} at ${scopeText(scope)}, more than its baseline and its leases that have not ended`,
          );
        }
      }
    }
    let allCovered = true;
    for (const lease of leases) {
      if (!validNow(lease, now) && !(this.announced.has(lease.requestId) && announcedNow(lease, now)))
        continue;
      const scope = held?.get(lease.policyArn);
      const covered = scope !== undefined && coversScope(toScope(scope) ?? null, lease.accessScope);
      if (covered) continue;
      allCovered = false;
      if (!this.drifted.has(subject)) {
        this.violate(
          2,
          `lease ${lease.requestId} (active until ${lease.expiresAt}) lost its access: ${short(principalArn)} holds ${held?.has(lease.policyArn) ? scopeText(held.get(lease.policyArn) as AccessScope) : 'nothing'} of ${short(lease.policyArn)}`,
        );
      }
    }
    // A grant in flight may yet announce access the operator took: the subject stays drifted until it lands.
    if (allCovered && !leases.some((lease) => lease.status === 'pending')) this.drifted.delete(subject);
  }

  // ---- as the world goes ------------------------------------------------------------------------------------

  beforeWork(fn: FunctionName, work: Work): void {
    if (fn !== 'sqs-intake' && fn !== 'eventbridge-intake') return;
    const chain = work.chain === undefined ? undefined : this.chains.get(work.chain);
    if (chain?.settled && isFinal(chain.settled)) this.repeats.set(work, chain.settled);
  }

  /** Invariants 4 and 6 as each outcome is published: no answer contradicts one given before. */
  published(outcome: Outcome, _work: Work): void {
    const requestId = String(outcome.detail.requestId);
    if (this.refusedIds.has(requestId) && outcome.detailType !== 'Access Grant Rejected') {
      this.violate(6, `${outcome.detailType} of ${requestId} answered a request that must be refused`);
    }
    if (outcome.detail.requestedBy === INTRUDER && outcome.detailType !== 'Access Grant Rejected') {
      this.violate(6, `${outcome.detailType} of ${requestId} answered a request the intruder sent`);
    }
    const heard = heardOf(outcome);
    if (heard === undefined) return;
    if (heard === 'granted') this.announced.add(requestId);
    const before = this.heard.get(requestId) ?? [];
    if (heard === 'failed' && before.includes('granted')) {
      this.violate(4, `grant ${requestId} was announced granted, then failed`);
    } else if (heard === 'granted' && before.includes('failed')) {
      this.violate(4, `grant ${requestId} was announced failed, then granted`);
    } else if (heard === 'revoked' && before.includes('failed')) {
      this.violate(4, `grant ${requestId} was announced failed, then revoked`);
    }
    before.push(heard);
    this.heard.set(requestId, before);
  }

  answered(answer: Answered): void {
    const { work, result, died } = answer;
    if (died || !result.ok) {
      // Published, then not done: the outcome may be published again by the next attempt.
      for (const outcome of work.published) {
        const key = `${String(outcome.detail.requestId)}|${outcome.detailType}`;
        this.interrupted.set(key, (this.interrupted.get(key) ?? 0) + 1);
      }
    }
    if (!died && !result.ok && !expectedFailure(result.error)) {
      const error = result.error;
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.violate(
        4,
        `${answer.fn} failed ${work.key} with an error that is not retryable: ${text.slice(0, 300)}`,
      );
    }
    const chain = work.chain === undefined ? undefined : this.chains.get(work.chain);
    if (!chain || died || !result.ok) return;
    const value = result.value as { rejection?: { code?: string } } | undefined;
    const settled = {
      status: answer.fn === 'dead-letter' ? `dead-letter ${result.status}` : result.status,
      ...(value?.rejection?.code ? { code: value.rejection.code } : {}),
    };
    this.world.stats.result(settled.code ? `${settled.status} ${settled.code}` : settled.status);
    if (chain.intrusion && (result.status !== 'rejected' || !REFUSAL_CODES.has(settled.code ?? ''))) {
      this.violate(
        6,
        `${chain.label}, which no integration may send, was answered ${settled.status} ${settled.code ?? ''}`,
      );
    }
    const previous = this.repeats.get(work);
    if (previous) this.checkRepeat(chain, previous, settled, work);
    this.repeats.delete(work);
    chain.settled = settled;
  }

  /** Invariant 5: a repeat of a request that was answered for good changes nothing and says nothing new. */
  private checkRepeat(
    chain: Chain,
    previous: NonNullable<Chain['settled']>,
    settled: NonNullable<Chain['settled']>,
    work: Work,
  ): void {
    this.world.stats.count('repeats of answered requests checked (invariant 5)');
    const what = `repeat of ${chain.label} (first answered ${previous.status}${previous.code ? ` ${previous.code}` : ''})`;
    const same =
      settled.status === 'duplicate' ||
      (previous.status === 'rejected' && settled.status === 'rejected' && settled.code === previous.code);
    if (!same) this.violate(5, `${what} was answered ${settled.status} ${settled.code ?? ''}`);
    if (work.mutations > 0) this.violate(5, `${what} changed EKS (${work.mutations} mutation(s))`);
    if (work.writes > 0) this.violate(5, `${what} wrote the lease`);
    if (previous.status !== 'rejected' && work.published.length > 0) {
      this.violate(5, `${what} published ${work.published.map((o) => o.detailType).join(', ')}`);
    }
  }

  redriven(message: QueueMessage, _queue: string): void {
    const chain = this.chainOfKey(message.id);
    if (chain) chain.deadLettered = true;
  }

  stuck(message: QueueMessage): void {
    if (this.stuckReported.has(message.id)) return;
    this.stuckReported.add(message.id);
    this.violate(
      4,
      `the dead letter ${message.id} is still not settled after ${message.receiveCount} receives`,
    );
  }

  private readonly stuckReported = new Set<string>();

  private chainOfKey(key: string): Chain | undefined {
    const match = /^op(\d+)/.exec(key);
    return match ? this.chains.get(Number(match[1])) : undefined;
  }

  // ---- at the end of a run ------------------------------------------------------------------------------

  /** The mutations that are the broker's doing: hand edits out, the broker's re-creation after a hand delete kept as a replay. */
  brokerMutations(): MutationRecord[] {
    const world = this.world;
    const handDeleted = new Set<string>();
    const result: MutationRecord[] = [];
    for (const m of world.emulator.mutations()) {
      const key = m.principalArn ?? '';
      if (world.handMutations.has(m.seq)) {
        if (m.operation === 'DeleteAccessEntry' && m.outcome === 'applied') handDeleted.add(key);
        continue;
      }
      if (m.operation === 'CreateAccessEntry' && m.outcome === 'applied' && handDeleted.has(key)) {
        handDeleted.delete(key);
        result.push({ ...m, replayed: true });
        continue;
      }
      result.push(m);
    }
    return result;
  }

  async tracked(requestIds: Iterable<string>): Promise<TrackedLease[]> {
    const found: TrackedLease[] = [];
    for (const requestId of requestIds) {
      const lease = await this.world.table.findLease(requestId);
      if (lease) found.push({ lease, history: this.world.table.history(requestId) });
    }
    return found;
  }

  /** Invariant 1 once drained (no lease half-ended; EKS = baseline + active leases), and the expiry lag. */
  async drained(): Promise<void> {
    const tracked = await this.tracked(this.grantIds);
    for (const v of checkDrained(
      this.world.emulator.snapshot(),
      this.world.subjects,
      tracked,
      Math.floor(this.world.scheduler.peek() / 1000),
    )) {
      this.violate(v.invariant, v.message);
    }
    for (const { lease, history } of tracked) {
      const failed = history.some((e) => e.type === 'revocation-failed' || e.type === 'irrevocable');
      if (lease.endReason === 'expired' && lease.endedAt !== undefined && !failed) {
        const lag = lease.endedAt - lease.expiresAt;
        this.world.stats.max('expiry lag without failed attempts (s)', lag);
        if (lag > MAX_EXPIRY_LAG_SECONDS) {
          this.violate(
            1,
            `lease ${lease.requestId} outlived its expiry by ${lag} s without a failed revocation`,
          );
        }
      }
    }
  }

  /** Everything again, with the functions of invariants.ts, once every lease has run out. */
  async final(): Promise<void> {
    const world = this.world;
    const retired = await this.tracked(this.grantIds);
    const mutations = this.brokerMutations();
    const baseline = world.subjects.flatMap((subject) => (subject.baseline ? [subject.baseline] : []));
    const found = [
      ...checkDrained(
        world.emulator.snapshot(),
        world.subjects,
        retired,
        Math.floor(world.scheduler.peek() / 1000),
      ),
      ...checkNoEarlyLoss(mutations, retired),
      ...checkForeignUntouched(mutations, baseline, world.fromSeq),
      ...this.outcomesOf(retired),
      ...checkIntegrationAllowance({
        rules: world.rules,
        leases: [...retired, ...(await this.tracked(this.refusedIds))],
        refused: { requestIds: this.refusedIds, requestedBy: INTRUDER },
        outcomes: world.outcomes,
        mutations,
        baseline,
        fromSeq: world.fromSeq,
      }),
    ];
    for (const v of found) this.violate(v.invariant, v.message);
  }

  /** Invariant 4 over the whole run: every request has its terminal outcome, one, not contradicted. */
  private outcomesOf(tracked: readonly TrackedLease[]): Violation[] {
    const violations: Violation[] = [];
    const v = (message: string) => violations.push({ invariant: 4, message });
    const byRequest = new Map<string, Outcome[]>();
    for (const outcome of this.world.outcomes) {
      const requestId = String(outcome.detail.requestId);
      const list = byRequest.get(requestId) ?? [];
      list.push(outcome);
      byRequest.set(requestId, list);
    }
    const of = (requestId: string, detailType: string) =>
      (byRequest.get(requestId) ?? []).filter((o) => o.detailType === detailType);
    for (const chain of this.chains.values()) {
      if (!chain.settled) v(`${chain.label} never got an answer (not settled, not dead-lettered)`);
    }
    const leases = new Map(tracked.map((t) => [t.lease.requestId, t.lease]));
    for (const requestId of this.grantIds) {
      const lease = leases.get(requestId);
      const granted = of(requestId, 'Access Granted').length;
      const failed = of(requestId, 'Access Grant Failed').filter((o) => isGrantAnswer(o)).length;
      const revoked = of(requestId, 'Access Revoked').length;
      const rejected = of(requestId, 'Access Grant Rejected').filter((o) => isGrantAnswer(o)).length;
      const sent = (this.byRequest.get(requestId) ?? []).some((chain) => chain.kind === 'grant');
      if (!lease) {
        if (sent && rejected + failed === 0)
          v(`grant ${requestId} has no lease and was neither rejected nor failed`);
        if (granted > 0) v(`grant ${requestId} has no lease but was announced granted`);
        continue;
      }
      if (lease.status === 'pending') v(`grant ${requestId} is still pending at the end`);
      if (lease.grantedAt !== undefined) {
        if (granted === 0) v(`lease ${requestId} was granted without Access Granted`);
        if (failed > 0) v(`lease ${requestId} was announced both granted and failed`);
      } else if (lease.endReason === 'failed') {
        if (failed === 0) v(`lease ${requestId} failed without Access Grant Failed`);
        if (granted + revoked > 0) v(`lease ${requestId} was announced failed and granted or revoked`);
      } else if (lease.status === 'ended' && failed > 0) {
        v(`lease ${requestId} was announced failed, then ended ${lease.endReason}`);
      }
      if (lease.status === 'ended' && lease.endReason !== 'failed' && revoked === 0) {
        v(`lease ${requestId} ended (${lease.endReason}) without Access Revoked`);
      }
      for (const detailType of ONCE_PER_LEASE) {
        const allowed = 1 + (this.interrupted.get(`${requestId}|${detailType}`) ?? 0);
        const n = of(requestId, detailType).filter((o) => o.detail.deadLettered !== true).length;
        if (n > allowed) v(`${detailType} published ${n} times for ${requestId} (allowed ${allowed})`);
        if (n > 1) this.world.stats.count('outcome events repeated after an interrupted invocation', n - 1);
      }
    }
    return violations;
  }
}

export const INTRUDER = 'mallory@intruder.example';

function isGrantAnswer(outcome: Outcome): boolean {
  const type = outcome.detail.requestType;
  return type === undefined || type === 'Access Grant Requested';
}

function heardOf(outcome: Outcome): Heard | undefined {
  switch (outcome.detailType) {
    case 'Access Granted':
      return 'granted';
    case 'Access Grant Failed':
      return isGrantAnswer(outcome) ? 'failed' : undefined;
    case 'Access Revoked':
      return 'revoked';
    case 'Access Grant Rejected':
      return isGrantAnswer(outcome) ? 'rejected' : undefined;
    default:
      return undefined;
  }
}

function isFinal(settled: NonNullable<Chain['settled']>): boolean {
  if (settled.status === 'rejected') return !STATE_DEPENDENT_CODES.has(settled.code ?? '');
  return FINAL_STATUSES.has(settled.status);
}

/** Active and unexpired at `nowMs`, not being ended: a lease whose access must be there. */
function validNow(lease: Lease, nowMs: number): boolean {
  return (
    lease.status === 'active' &&
    lease.grantedAt !== undefined &&
    lease.endedAt === undefined &&
    lease.expiresAt * 1000 > nowMs
  );
}

/**
 * A lease announced granted whose save did not follow (its invocation died): pending, not ended, not being
 * revoked, not expired. Nothing may take its access away: the requester was told it has it.
 */
function announcedNow(lease: Lease, nowMs: number): boolean {
  return (
    lease.status === 'pending' &&
    lease.endReason === undefined &&
    lease.endedAt === undefined &&
    lease.expiresAt * 1000 > nowMs
  );
}

/** What EKS holds for the principal on cluster demo, by policy; undefined when it has no entry. */
function heldPolicies(world: SimWorld, principalArn: string): Map<string, AccessScope> | undefined {
  let type: string;
  try {
    type = world.emulator.describeAccessEntry('demo', principalArn).accessEntry.type;
  } catch {
    return undefined;
  }
  const held = new Map<string, AccessScope>();
  if (type !== 'STANDARD') return held;
  const listed = world.emulator.listAssociatedAccessPolicies({
    clusterName: 'demo',
    principalArn,
    maxResults: 100,
  });
  for (const association of listed.associatedAccessPolicies) {
    held.set(association.policyArn, association.accessScope);
  }
  return held;
}

function short(arn: string | undefined): string {
  return (arn ?? '-').replace(/^.*\//, '');
}

function scopeText(scope: AccessScope): string {
  return scope.type === 'cluster' ? 'cluster' : `ns:${scope.namespaces.join(',')}`;
}

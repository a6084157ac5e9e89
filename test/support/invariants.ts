/**
 * The safety invariants, checked from what the system recorded rather than from what it claims: the EKS
 * emulator's mutation log (replayed in `seq` order from the seeded state), its final state, and the lease
 * table (each lease with its audit history).
 *
 * When a lease is valid. A lease is valid over the half-open interval [from, to) in epoch milliseconds:
 * - from: the time of its `granted` audit event. The broker applies a lease's access first, then stamps that
 *   event, then saves the lease as active; so the access must be there from that instant on. A lease that was
 *   never granted (rejected, failed, or ended while still pending) is never valid.
 * - to: the earlier of its final expiry (`expiresAt`, seconds, after all extensions) and its end (`endedAt`,
 *   seconds). A revocation stamps `endedAt` (or, when taking the access back fails, lowers `expiresAt`) with the
 *   second read *before* it touches EKS, so the mutations that take the access back are at or after `to`.
 * The final expiry describes the whole life of the lease only if no extension revived it after it had
 * expired: that is checked too (an `extended` event must come before the expiry it moves).
 */
import type { AuditEvent } from '../../functions/app/ports';
import { type AccessScope, type Lease, OWNER_TAG_KEY, OWNER_TAG_VALUE } from '../../functions/core/model';
import type { Outcome } from '../../functions/core/outcomes';
import type { AccessRules } from '../../functions/core/rules';
import { coversScope, normalizeScope, sameScope, unionScope } from '../../functions/core/scope';
import type { ClusterSnapshot } from '../../infra/local/eks/emulator';
import type { MutationRecord, AccessScope as WireScope } from '../../infra/local/eks/model';

export type InvariantId = 1 | 2 | 3 | 4 | 5 | 6;

export const INVARIANTS: Readonly<Record<InvariantId, string>> = {
  1: 'no access outlives its lease (drained EKS = baseline + active leases)',
  2: 'no valid lease loses its access at any moment',
  3: 'nothing the broker did not create is deleted or narrowed',
  4: 'every request reaches exactly one terminal outcome',
  5: 'duplicates, reordering and redelivery change nothing beyond the first delivery',
  6: "no access for a request outside an integration's allowance",
};

export const INVARIANT_IDS: readonly InvariantId[] = [1, 2, 3, 4, 5, 6];

export interface Violation {
  readonly invariant: InvariantId;
  readonly message: string;
}

/** An access entry that existed before the broker ran (seeded into the emulator). */
export interface BaselineEntry {
  readonly clusterName: string;
  readonly principalArn: string;
  readonly type: string;
  readonly kubernetesGroups: readonly string[];
  readonly tags: Readonly<Record<string, string>>;
  readonly associations: readonly { readonly policyArn: string; readonly accessScope: AccessScope }[];
}

/** A subject the run works on; `baseline` when it had an entry before the broker first touched it. */
export interface TrackedSubject {
  readonly clusterName: string;
  readonly principalArn: string;
  readonly baseline?: BaselineEntry;
}

export interface TrackedLease {
  readonly lease: Lease;
  readonly history: readonly AuditEvent[];
}

export function toScope(wire: WireScope | undefined): AccessScope | undefined {
  if (!wire) return undefined;
  return wire.type === 'cluster'
    ? { type: 'cluster' }
    : { type: 'namespace', namespaces: [...wire.namespaces] };
}

/** [from, to) in epoch ms, or undefined for a lease that was never granted. See the file comment. */
export function validity(tracked: TrackedLease): { from: number; to: number } | undefined {
  const granted = tracked.history.find((event) => event.type === 'granted');
  if (!granted) return undefined;
  const ended = tracked.lease.endedAt === undefined ? Number.POSITIVE_INFINITY : tracked.lease.endedAt * 1000;
  return { from: granted.at, to: Math.min(tracked.lease.expiresAt * 1000, ended) };
}

interface ReplayEntry {
  type: string;
  tags: Record<string, string>;
  groups: readonly string[];
  readonly policies: Map<string, AccessScope>;
}

const keyOf = (clusterName: string, principalArn: string) => `${clusterName}\u0000${principalArn}`;

/** Applies one mutation record to the replayed state (records that were refused change nothing). */
function apply(state: Map<string, ReplayEntry>, m: MutationRecord): void {
  if (m.outcome !== 'applied' || m.principalArn === undefined) return;
  const key = keyOf(m.clusterName, m.principalArn);
  const entry = state.get(key);
  switch (m.operation) {
    case 'CreateAccessEntry':
      if (!m.replayed) {
        state.set(key, {
          type: m.entryType ?? 'STANDARD',
          tags: { ...m.tags },
          groups: [...(m.kubernetesGroups ?? [])],
          policies: new Map(),
        });
      }
      return;
    case 'DeleteAccessEntry':
      state.delete(key);
      return;
    case 'AssociateAccessPolicy': {
      const scope = toScope(m.accessScope);
      if (entry && m.policyArn !== undefined && scope) entry.policies.set(m.policyArn, normalizeScope(scope));
      return;
    }
    case 'DisassociateAccessPolicy':
      if (entry && m.policyArn !== undefined) entry.policies.delete(m.policyArn);
      return;
    case 'UpdateAccessEntry':
      if (entry) entry.groups = [...(m.kubernetesGroups ?? [])];
      return;
    case 'TagResource':
      if (entry) entry.tags = { ...entry.tags, ...m.tags };
      return;
    case 'UntagResource':
      if (entry) for (const tagKey of m.tagKeys ?? []) delete entry.tags[tagKey];
      return;
  }
}

/**
 * Invariant 2. Replays the log; after every applied mutation, each lease of the mutated subject that is valid
 * at that mutation's time must hold its policy at a scope covering its own; and at the instant each lease
 * becomes valid, the state then must already cover it. Also refuses an extension that revived an expired lease.
 */
export function checkNoEarlyLoss(
  mutations: readonly MutationRecord[],
  leases: readonly TrackedLease[],
): Violation[] {
  const violations: Violation[] = [];
  const windows = leases.flatMap((tracked) => {
    const window = validity(tracked);
    return window ? [{ lease: tracked.lease, ...window }] : [];
  });
  for (const tracked of leases) {
    for (const event of tracked.history) {
      if (event.type !== 'extended') continue;
      const previous = event.detail?.previousExpiresAt;
      if (typeof previous === 'number' && event.at >= previous * 1000) {
        violations.push({
          invariant: 2,
          message: `lease ${tracked.lease.requestId} was extended at ${event.at} after it had expired at ${previous * 1000}: access it lost came back as valid`,
        });
      }
    }
  }
  const bySubject = new Map<string, typeof windows>();
  for (const window of windows) {
    const key = keyOf(window.lease.clusterName, window.lease.principalArn);
    bySubject.set(key, [...(bySubject.get(key) ?? []), window]);
  }
  const starts = [...windows].sort((a, b) => a.from - b.from);
  const state = new Map<string, ReplayEntry>();
  const covered = (lease: Lease): boolean => {
    const entry = state.get(keyOf(lease.clusterName, lease.principalArn));
    return entry?.type === 'STANDARD' && coversScope(entry.policies.get(lease.policyArn), lease.accessScope);
  };
  let next = 0;
  const startsBefore = (at: number) => {
    for (; next < starts.length && (starts[next]?.from ?? 0) < at; next++) {
      const window = starts[next];
      if (window && window.to > window.from && !covered(window.lease)) {
        violations.push({
          invariant: 2,
          message: `lease ${window.lease.requestId} became valid at ${window.from} without its access (${describeLease(window.lease)})`,
        });
      }
    }
  };
  for (const m of [...mutations].sort((a, b) => a.seq - b.seq)) {
    startsBefore(m.at);
    apply(state, m);
    if (m.outcome !== 'applied' || m.principalArn === undefined) continue;
    for (const window of bySubject.get(keyOf(m.clusterName, m.principalArn)) ?? []) {
      if (window.from <= m.at && m.at < window.to && !covered(window.lease)) {
        violations.push({
          invariant: 2,
          message: `mutation #${m.seq} ${m.operation} at ${m.at} left valid lease ${window.lease.requestId} (${describeLease(window.lease)}, valid ${window.from}..${window.to}) without its access`,
        });
      }
    }
  }
  startsBefore(Number.POSITIVE_INFINITY);
  return violations;
}

/**
 * A create EKS refused because an entry is there (ResourceInUse): it changed nothing, the entry's type
 * included. The broker creates without reading first on a subject it holds nothing of, and reads on refusal.
 */
export function refusedAsThere(m: MutationRecord): boolean {
  return m.operation === 'CreateAccessEntry' && m.outcome === 'ResourceInUseException';
}

/**
 * Invariant 3, over the mutations after `fromSeq` (the seeding): entries that existed before the broker are
 * never deleted, updated or re-tagged, their baseline associations never removed or narrowed; entries that are
 * not STANDARD are never called but by a create they refuse (refusedAsThere); the broker creates entries only
 * with its tag and deletes only those.
 */
export function checkForeignUntouched(
  mutations: readonly MutationRecord[],
  baseline: readonly BaselineEntry[],
  fromSeq: number,
): Violation[] {
  const violations: Violation[] = [];
  const foreign = new Map(baseline.map((entry) => [keyOf(entry.clusterName, entry.principalArn), entry]));
  const state = new Map<string, ReplayEntry>();
  for (const m of [...mutations].sort((a, b) => a.seq - b.seq)) {
    if (m.seq > fromSeq && m.principalArn !== undefined) {
      const key = keyOf(m.clusterName, m.principalArn);
      const seed = foreign.get(key);
      const what = `mutation #${m.seq} ${m.operation} (${m.outcome}) on ${m.principalArn}`;
      if (seed && seed.type !== 'STANDARD') {
        if (refusedAsThere(m)) continue;
        violations.push({ invariant: 3, message: `${what}: a ${seed.type} entry must never be touched` });
      } else if (m.outcome === 'applied') {
        const entry = state.get(key);
        switch (m.operation) {
          case 'CreateAccessEntry':
            if (!m.replayed && m.tags?.[OWNER_TAG_KEY] !== OWNER_TAG_VALUE) {
              violations.push({ invariant: 3, message: `${what}: created without the broker's tag` });
            }
            break;
          case 'DeleteAccessEntry':
            if (seed || entry?.tags[OWNER_TAG_KEY] !== OWNER_TAG_VALUE) {
              violations.push({
                invariant: 3,
                message: `${what}: deleted an entry the broker did not create`,
              });
            }
            break;
          case 'AssociateAccessPolicy': {
            const before = seed?.associations.find((a) => a.policyArn === m.policyArn);
            const scope = toScope(m.accessScope);
            if (before && !coversScope(scope, before.accessScope)) {
              violations.push({
                invariant: 3,
                message: `${what}: narrowed baseline ${m.policyArn} from ${JSON.stringify(before.accessScope)} to ${JSON.stringify(scope)}`,
              });
            }
            break;
          }
          case 'DisassociateAccessPolicy':
            if (seed?.associations.some((a) => a.policyArn === m.policyArn)) {
              violations.push({ invariant: 3, message: `${what}: removed a baseline association` });
            }
            break;
          default:
            violations.push({
              invariant: 3,
              message: `${what}: the broker never updates or re-tags entries`,
            });
        }
      }
    }
    apply(state, m);
  }
  return violations;
}

/**
 * Invariant 1, once the system has drained (faults off, due leases swept): no lease is left half-ended, and
 * every subject holds exactly its baseline plus the union of its active leases, per policy.
 */
export function checkDrained(
  snapshot: readonly ClusterSnapshot[],
  subjects: readonly TrackedSubject[],
  leases: readonly TrackedLease[],
  nowSeconds: number,
): Violation[] {
  const violations: Violation[] = [];
  for (const subject of subjects) {
    const mine = leases.filter(
      ({ lease }) => lease.clusterName === subject.clusterName && lease.principalArn === subject.principalArn,
    );
    const wanted = new Map<string, AccessScope>();
    for (const { lease } of mine) {
      const live = lease.status === 'active' && lease.endReason === undefined && lease.expiresAt > nowSeconds;
      if (lease.status !== 'ended' && !live) {
        violations.push({
          invariant: 1,
          message: `lease ${lease.requestId} is not settled after draining (status ${lease.status}, expires ${lease.expiresAt}, now ${nowSeconds}, endReason ${lease.endReason ?? '-'}, lastError ${lease.lastError ?? '-'})`,
        });
      }
      if (live) {
        const merged = unionScope(wanted.get(lease.policyArn), lease.accessScope);
        if (merged) wanted.set(lease.policyArn, merged);
      }
    }
    const entry = snapshot
      .find((cluster) => cluster.clusterName === subject.clusterName)
      ?.entries.find((e) => e.principalArn === subject.principalArn);
    const who = subject.principalArn;
    const expected = new Map<string, AccessScope>();
    for (const association of subject.baseline?.associations ?? []) {
      expected.set(association.policyArn, normalizeScope(association.accessScope));
    }
    for (const [policyArn, scope] of wanted) {
      const merged = unionScope(expected.get(policyArn), scope);
      if (merged) expected.set(policyArn, merged);
    }
    if (subject.baseline) {
      const seed = subject.baseline;
      if (!entry) {
        violations.push({ invariant: 1, message: `the baseline entry of ${who} is gone` });
        continue;
      }
      if (
        entry.type !== seed.type ||
        JSON.stringify(sortedRecord(entry.tags)) !== JSON.stringify(sortedRecord(seed.tags)) ||
        JSON.stringify([...entry.kubernetesGroups].sort()) !==
          JSON.stringify([...seed.kubernetesGroups].sort())
      ) {
        violations.push({
          invariant: 1,
          message: `the baseline entry of ${who} changed: ${JSON.stringify(entry)}`,
        });
      }
    } else if (expected.size === 0) {
      if (entry) {
        violations.push({
          invariant: 1,
          message: `${who} has no active lease but still has an entry: ${describePolicies(entry.policies)}`,
        });
      }
      continue;
    } else if (!entry) {
      violations.push({ invariant: 1, message: `${who} has active leases but no entry` });
      continue;
    } else if (entry.tags[OWNER_TAG_KEY] !== OWNER_TAG_VALUE) {
      violations.push({ invariant: 1, message: `the entry of ${who} lost the broker's tag` });
    }
    const actual = new Map(entry.policies.map((p) => [p.policyArn, toScope(p.accessScope)]));
    const policies = new Set([...actual.keys(), ...expected.keys()]);
    for (const policyArn of policies) {
      if (!sameScope(actual.get(policyArn), expected.get(policyArn))) {
        violations.push({
          invariant: 1,
          message: `${who} holds ${policyArn} at ${JSON.stringify(actual.get(policyArn) ?? null)}, expected ${JSON.stringify(expected.get(policyArn) ?? null)} (baseline + active leases)`,
        });
      }
    }
  }
  return violations;
}

function describeLease(lease: Lease): string {
  const scope =
    lease.accessScope.type === 'cluster' ? 'cluster' : `namespaces ${lease.accessScope.namespaces.join(',')}`;
  return `${lease.policyArn.replace(/^.*\//, '')} ${scope} for ${lease.principalArn}`;
}

function describePolicies(policies: readonly { policyArn: string; accessScope: WireScope }[]): string {
  return JSON.stringify(policies.map((p) => [p.policyArn.replace(/^.*\//, ''), p.accessScope]));
}

function sortedRecord(record: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1));
}

/** What the run sent that no integration may ask: nothing the system recorded may trace back to it. */
export interface Refused {
  /** The requestIds of grants that must be refused (the intruder's, and grants outside their ceiling). */
  readonly requestIds: ReadonlySet<string>;
  /** The `requestedBy` every such request carries, the trace it leaves in audit events and outcome events. */
  readonly requestedBy: string;
}

export interface AllowanceRecord {
  /** The reviewed rules (infra/access-rules.yaml), not whatever the broker decided with. */
  readonly rules: AccessRules;
  /** Every lease the run's requests may have recorded, with its audit history. */
  readonly leases: readonly TrackedLease[];
  readonly refused: Refused;
  /** Every outcome event the broker published during the run. */
  readonly outcomes: readonly Outcome[];
  readonly mutations: readonly MutationRecord[];
  readonly baseline: readonly BaselineEntry[];
  /** The seq of the last seeding mutation: what comes after is the broker's doing. */
  readonly fromSeq: number;
}

/**
 * Invariant 6, from the lease table, the outcome events and the EKS mutation log, judged against the reviewed
 * rules:
 * - every lease (granted or not: a request that may not be made records none) came through an integration of
 *   the rules, sent by one of its principals on a channel it may use (the queue: an exact principal of an
 *   integration with `queue: true`; the bus: `<account>:<source>` of one of its sources and accounts), was
 *   allowed by a rule of that integration's ceiling in that rule's mode, is break-glass only through an
 *   integration allowed it, and names a proven requester when its integration requires one;
 * - no refused grant has a lease, and no audit event and no outcome event but a rejection comes from a refused
 *   request (a revocation or an extension asked by the intruder names it as its requester);
 * - every access entry the broker created and every association it made is covered by the baseline and the
 *   leases that pass the above: no EKS access without an allowed request behind it.
 */
export function checkIntegrationAllowance(record: AllowanceRecord): Violation[] {
  const violations: Violation[] = [];
  const v = (message: string) => violations.push({ invariant: 6, message });
  const { rules, refused } = record;
  const allowed: Lease[] = [];
  for (const { lease, history } of record.leases) {
    const granted = history.some((event) => event.type === 'granted');
    const what = `lease ${lease.requestId} (${lease.status}${granted ? ', granted' : ''}, ${describeLease(lease)})`;
    const problem = originProblem(rules, lease);
    if (refused.requestIds.has(lease.requestId)) {
      v(`${what} was recorded for a request that must be refused (origin ${JSON.stringify(lease.origin)})`);
    } else if (problem) {
      v(`${what} ${problem}`);
    } else {
      allowed.push(lease);
    }
    for (const event of history) {
      if (event.actor === refused.requestedBy) {
        v(
          `audit event ${event.type} of lease ${lease.requestId} was asked by a request that must be refused`,
        );
      }
    }
  }
  for (const outcome of record.outcomes) {
    if (outcome.detailType === 'Access Grant Rejected') continue;
    const requestId = String(outcome.detail.requestId);
    if (refused.requestIds.has(requestId) || outcome.detail.requestedBy === refused.requestedBy) {
      v(`${outcome.detailType} of ${requestId} answered a request that must be refused`);
    }
  }
  const baseline = new Map(
    record.baseline.map((entry) => [keyOf(entry.clusterName, entry.principalArn), entry]),
  );
  for (const m of record.mutations) {
    if (m.seq <= record.fromSeq || m.outcome !== 'applied' || m.principalArn === undefined) continue;
    const mine = allowed.filter(
      (lease) => lease.clusterName === m.clusterName && lease.principalArn === m.principalArn,
    );
    const what = `mutation #${m.seq} ${m.operation} on ${m.principalArn}`;
    if (m.operation === 'CreateAccessEntry' && !m.replayed && mine.length === 0) {
      v(`${what}: no lease of an allowed request asked for an entry`);
    }
    if (m.operation === 'AssociateAccessPolicy' && m.policyArn !== undefined) {
      const scope = toScope(m.accessScope);
      const policyArn = m.policyArn;
      let wanted: AccessScope | null | undefined = baseline
        .get(keyOf(m.clusterName, m.principalArn))
        ?.associations.find((a) => a.policyArn === policyArn)?.accessScope;
      for (const lease of mine.filter((l) => l.policyArn === policyArn)) {
        wanted = unionScope(wanted, lease.accessScope);
      }
      if (scope && !coversScope(wanted, scope)) {
        v(
          `${what}: ${policyArn.replace(/^.*\//, '')} at ${JSON.stringify(scope)} is more than the baseline and the allowed leases (${JSON.stringify(wanted ?? null)})`,
        );
      }
    }
  }
  return violations;
}

/** Why a lease's origin is not within what the rules let its integration ask; undefined when it is. */
function originProblem(rules: AccessRules, lease: Lease): string | undefined {
  const origin = lease.origin;
  if (origin === undefined) return 'has no origin';
  const integration = rules.integrations.find((candidate) => candidate.id === origin.integration);
  if (!integration) return `came through integration ${origin.integration}, which the rules do not have`;
  if (!senderAllowed(integration, origin.sender)) {
    return `was sent by ${origin.sender}, no principal of integration ${integration.id} on a channel it may use`;
  }
  if (!integration.rules.includes(lease.ruleId)) {
    return `was allowed by rule ${lease.ruleId}, outside integration ${integration.id}'s ceiling (${integration.rules.join(', ')})`;
  }
  const rule = rules.rules.find((candidate) => candidate.id === lease.ruleId);
  const policy = lease.policyArn.replace(/^.*\//, '');
  if (
    !rule ||
    !(rule.policies as readonly string[]).includes(policy) ||
    rule.breakGlassOnly !== lease.breakGlass ||
    lease.maxDurationSeconds > rule.maxDurationSeconds
  ) {
    return `does not fit rule ${lease.ruleId} (${policy}, breakGlass ${lease.breakGlass}, cap ${lease.maxDurationSeconds} s)`;
  }
  if (lease.breakGlass && !integration.breakGlass) {
    return `is break-glass through integration ${integration.id}, which may not send it`;
  }
  if (
    integration.requestedBy === 'proven' &&
    (origin.requestedByProof !== 'proven' || origin.provenBy === undefined)
  ) {
    return `came through integration ${integration.id} without the requester's proof it requires`;
  }
  return undefined;
}

/** The queue names its sender's principal; the bus `<account>:<source>` (its policy reserves the source). */
function senderAllowed(integration: AccessRules['integrations'][number], sender: string): boolean {
  if (sender.startsWith('arn:')) return integration.queue && integration.principals.includes(sender);
  const [account = '', ...source] = sender.split(':');
  return (
    integration.sources.includes(source.join(':')) &&
    integration.principals.some((principal) => principal.split(':')[4] === account)
  );
}

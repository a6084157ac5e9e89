import { describe, expect, it } from 'vitest';
import type {
  AuditEvent,
  HeldLock,
  LeaseRepository,
  NonceStore,
  SubjectLocks,
  WebhookDeliveries,
} from '../../functions/app/ports';
import {
  ConcurrentModificationError,
  PermanentError,
  RetryableError,
  SubjectBusyError,
} from '../../functions/core/errors';
import { EMPTY_SUBJECT_STATE, type Lease, type Subject, type SubjectState } from '../../functions/core/model';

/** One lease table under test: the ports, and its audit trail (read outside the ports, for assertions). */
export interface ContractTable {
  readonly repository: LeaseRepository & SubjectLocks & NonceStore;
  readonly deliveries: WebhookDeliveries;
  history(requestId: string): Promise<AuditEvent[]>;
  /**
   * The next request's answer is lost after the table did it, as when the connection drops once DynamoDB has
   * committed: the caller gets a RetryableError, the change stays (the simulator's DynamoDB fault).
   */
  loseNextAnswer(): void;
}

const NOW = 1_780_000_000;
const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
const EDIT = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy';
const SUBJECT: Subject = { clusterName: 'demo', principalArn: 'arn:aws:iam::111122223333:role/dev' };
const OTHER: Subject = { clusterName: 'demo', principalArn: 'arn:aws:iam::111122223333:role/ops' };
const STATE: SubjectState = { entryOwned: true, touched: { [VIEW]: null, [EDIT]: { type: 'cluster' } } };
const clockAt = (seconds: number) => () => seconds;

function aLease(overrides: Partial<Lease> = {}): Lease {
  return {
    requestId: 'req-1',
    ...SUBJECT,
    policyArn: VIEW,
    accessScope: { type: 'namespace', namespaces: ['team-a', 'team-b'] },
    status: 'active',
    breakGlass: false,
    requestedBy: 'alice@example.com',
    reason: 'debug a failing rollout',
    ticket: { system: 'jira', key: 'OPS-42' },
    ruleId: 'developers-view-edit',
    maxDurationSeconds: 8 * 3600,
    durationSeconds: 3600,
    requestedAt: NOW,
    grantedAt: NOW + 2,
    expiresAt: NOW + 3600,
    fingerprint: 'fp-1',
    version: 1,
    ...overrides,
  };
}

/** A lease whose grant has not completed: pending, never granted. */
function aPendingLease(overrides: Partial<Lease> = {}): Lease {
  const { grantedAt: _grantedAt, ...lease } = aLease({ status: 'pending', ...overrides });
  return lease;
}

function anAudit(lease: Lease, type: string, at = NOW * 1000): AuditEvent {
  return { type, at, actor: 'broker', requestId: lease.requestId, detail: { note: type } };
}

async function thrown(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the call succeeded');
}

/** Holds the subject's lock as `owner` at `now` (epoch seconds) until the returned function is called. */
async function holdLock(
  table: ContractTable,
  subject: Subject,
  owner: string,
  now: number,
): Promise<{ lock: HeldLock; done: () => Promise<void> }> {
  let finish: () => void = () => undefined;
  let taken: (lock: HeldLock) => void = () => undefined;
  const lock = new Promise<HeldLock>((resolve) => {
    taken = resolve;
  });
  const finished = table.repository.withLock(subject, owner, clockAt(now), async (held) => {
    taken(held);
    await new Promise<void>((resolve) => {
      finish = resolve;
    });
  });
  const held = await lock;
  return {
    lock: held,
    done: async () => {
      finish();
      await finished;
    },
  };
}

/**
 * The one contract of LeaseRepository and SubjectLocks: every conditional write, transaction and query the
 * broker uses. Run against DynamoDB Local (the truth) and the memory fake (test/support/fakes), so the fake
 * the use-case tests stand on cannot drift from the table. `fresh` gives an empty table per test.
 */
export function leaseTableContract(name: string, fresh: () => Promise<ContractTable>): void {
  describe(`${name}: the lease table contract`, () => {
    describe('createLease', () => {
      it('records the lease, its pointer and its first audit event, readable by requestId and by subject', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease();

        // Act
        const result = await table.repository.createLease(lease, anAudit(lease, 'requested'));

        // Assert
        expect(result).toEqual({ created: true });
        await expect(table.repository.findLease('req-1')).resolves.toStrictEqual(lease);
        await expect(table.repository.findSubjectLease(SUBJECT, 'req-1')).resolves.toStrictEqual(lease);
        await expect(table.repository.readSubject(SUBJECT)).resolves.toStrictEqual({
          leases: [lease],
          state: EMPTY_SUBJECT_STATE,
        });
        await expect(table.history('req-1')).resolves.toStrictEqual([anAudit(lease, 'requested')]);
      });

      it('answers a taken requestId with the lease and the fingerprint there, and writes nothing', async () => {
        // Arrange
        const table = await fresh();
        const first = aLease();
        await table.repository.createLease(first, anAudit(first, 'requested'));
        const reuse = aLease({ ...OTHER, fingerprint: 'fp-other', durationSeconds: 60 });

        // Act
        const result = await table.repository.createLease(
          reuse,
          anAudit(reuse, 'requested', NOW * 1000 + 5),
          {
            lock: { owner: 'second', now: NOW },
          },
        );

        // Assert
        expect(result).toStrictEqual({ created: false, existing: first, fingerprint: 'fp-1' });
        await expect(table.repository.findSubjectLease(OTHER, 'req-1')).resolves.toBeUndefined();
        await expect(table.history('req-1')).resolves.toHaveLength(1);
        // The transaction was cancelled as a whole: the lock it asked for was not taken either.
        const ran = await table.repository.withLock(OTHER, 'third', clockAt(NOW), async () => 'ran', {
          waitMs: 0,
        });
        expect(ran).toBe('ran');
      });

      it('takes the free lock in the same write, without the subject state, and it serializes the subject', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease();

        // Act
        const result = await table.repository.createLease(lease, anAudit(lease, 'requested'), {
          lock: { owner: 'granter', now: NOW },
        });

        // Assert
        if (!result.created || result.lock === undefined) throw new Error('expected the lease with its lock');
        expect(result.lock).toMatchObject({
          owner: 'granter',
          held: true,
          state: undefined,
          subject: SUBJECT,
        });
        const busy = await thrown(
          table.repository.withLock(SUBJECT, 'other', clockAt(NOW + 59), async () => 'ran', { waitMs: 0 }),
        );
        expect(busy).toBeInstanceOf(SubjectBusyError);
        await expect(result.lock.release()).resolves.toBe(true);
        await expect(
          table.repository.withLock(SUBJECT, 'other', clockAt(NOW), async () => 'ran', { waitMs: 0 }),
        ).resolves.toBe('ran');
      });

      it('creates the lease alone when another holds the lock', async () => {
        // Arrange
        const table = await fresh();
        const holder = await holdLock(table, SUBJECT, 'holder', NOW);
        const lease = aLease();

        // Act
        const result = await table.repository.createLease(lease, anAudit(lease, 'requested'), {
          lock: { owner: 'granter', now: NOW + 10 },
        });

        // Assert
        expect(result).toStrictEqual({ created: true });
        await expect(table.repository.findLease('req-1')).resolves.toStrictEqual(lease);
        await holder.done();
        expect(holder.lock.held).toBe(false);
      });

      it('takes over a lock whose holder let it expire (60 s by the caller clock)', async () => {
        // Arrange
        const table = await fresh();
        const holder = await holdLock(table, SUBJECT, 'crashed', NOW);
        const lease = aLease();

        // Act
        const result = await table.repository.createLease(lease, anAudit(lease, 'requested'), {
          lock: { owner: 'granter', now: NOW + 60 },
        });

        // Assert
        expect(result.created && result.lock?.owner).toBe('granter');
        // The old holder finds its lock gone: its release answers false, and it changes nothing.
        await expect(holder.lock.release()).resolves.toBe(false);
        await expect(
          table.repository.saveSubjectState(SUBJECT, STATE, 'crashed').catch((error: unknown) => error),
        ).resolves.toBeInstanceOf(ConcurrentModificationError);
        await holder.done();
      });

      it('refuses an audit event of another request, and records nothing', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease();

        // Act
        const error = await thrown(
          table.repository.createLease(lease, { ...anAudit(lease, 'requested'), requestId: 'req-2' }),
        );

        // Assert
        expect(error).toBeInstanceOf(PermanentError);
        await expect(table.repository.findLease('req-1')).resolves.toBeUndefined();
      });
    });

    describe('findLease and findSubjectLease', () => {
      it('answer undefined for an unknown request and for the wrong subject', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease();
        await table.repository.createLease(lease, anAudit(lease, 'requested'));

        // Act
        const unknown = await table.repository.findLease('req-404');
        const elsewhere = await table.repository.findSubjectLease(OTHER, 'req-1');

        // Assert
        expect(unknown).toBeUndefined();
        expect(elsewhere).toBeUndefined();
      });

      it('keep undefined fields out and hand out copies that cannot change what is stored', async () => {
        // Arrange
        const table = await fresh();
        const lease = {
          ...aLease(),
          lastError: undefined,
          accessScope: { type: 'namespace', namespaces: ['a'] },
        };
        await table.repository.createLease(lease as Lease, anAudit(lease as Lease, 'requested'));

        // Act
        const read = await table.repository.findLease('req-1');
        if (read?.accessScope.type !== 'namespace') throw new Error('expected the namespaced lease');
        (read.accessScope.namespaces as string[]).push('mutated');
        lease.accessScope.namespaces.push('mutated-too');

        // Assert
        const again = await table.repository.findLease('req-1');
        expect(again).not.toHaveProperty('lastError');
        expect(again?.accessScope).toStrictEqual({ type: 'namespace', namespaces: ['a'] });
      });
    });

    describe('readSubject', () => {
      it('answers the leases that still count, in requestId order, without ended ones', async () => {
        // Arrange
        const table = await fresh();
        const leases = [
          aLease({ requestId: 'req-c', status: 'irrevocable' }),
          aLease({ requestId: 'req-a', status: 'pending', grantedAt: undefined }),
          aLease({ requestId: 'req-b', status: 'ended', endedAt: NOW + 10, endReason: 'requested' }),
          aLease({ requestId: 'req-d', ...OTHER }),
        ];
        for (const lease of leases) await table.repository.createLease(lease, anAudit(lease, 'requested'));

        // Act
        const read = await table.repository.readSubject(SUBJECT);

        // Assert
        expect(read.leases.map((lease) => [lease.requestId, lease.status])).toEqual([
          ['req-a', 'pending'],
          ['req-c', 'irrevocable'],
        ]);
        expect(read.leases[0]).not.toHaveProperty('grantedAt');
        expect(read.state).toStrictEqual(EMPTY_SUBJECT_STATE);
      });

      it('answers the saved state with the leases, and the empty state when only a lock was ever taken', async () => {
        // Arrange
        const table = await fresh();
        await table.repository.withLock(SUBJECT, 'owner', clockAt(NOW), (lock) =>
          table.repository.saveSubjectState(SUBJECT, STATE, lock.owner),
        );
        await table.repository.withLock(OTHER, 'owner', clockAt(NOW), async () => undefined);

        // Act
        const saved = await table.repository.readSubject(SUBJECT);
        const lockedOnly = await table.repository.readSubject(OTHER);

        // Assert
        expect(saved).toStrictEqual({ leases: [], state: STATE });
        expect(lockedOnly).toStrictEqual({ leases: [], state: EMPTY_SUBJECT_STATE });
      });
    });

    describe('saveLease', () => {
      it('writes the next version with its audit event when the stored version is the expected one', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease({ status: 'pending' });
        await table.repository.createLease(lease, anAudit(lease, 'requested'));
        const active = { ...lease, status: 'active' as const };

        // Act
        const saved = await table.repository.saveLease(active, 1, anAudit(active, 'granted', NOW * 1000 + 1));

        // Assert
        expect(saved).toStrictEqual({ ...active, version: 2 });
        await expect(table.repository.findLease('req-1')).resolves.toStrictEqual({ ...active, version: 2 });
        await expect(table.history('req-1')).resolves.toStrictEqual([
          anAudit(lease, 'requested'),
          anAudit(active, 'granted', NOW * 1000 + 1),
        ]);
      });

      it('throws ConcurrentModificationError on a stale version or a missing lease, and writes nothing', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease();
        await table.repository.createLease(lease, anAudit(lease, 'requested'));
        await table.repository.saveLease(lease, 1, anAudit(lease, 'granted', NOW * 1000 + 1));

        // Act
        const stale = await thrown(
          table.repository.saveLease({ ...lease, reason: 'late' }, 1, anAudit(lease, 'late', NOW * 1000 + 2)),
        );
        const missing = aLease({ requestId: 'req-404' });
        const absent = await thrown(table.repository.saveLease(missing, 1, anAudit(missing, 'x')));

        // Assert
        expect(stale).toBeInstanceOf(ConcurrentModificationError);
        expect(absent).toBeInstanceOf(ConcurrentModificationError);
        await expect(table.repository.findLease('req-1')).resolves.toMatchObject({
          version: 2,
          reason: lease.reason,
        });
        await expect(table.history('req-1')).resolves.toHaveLength(2);
        await expect(table.repository.findSubjectLease(SUBJECT, 'req-404')).resolves.toBeUndefined();
      });

      it('frees the lock in the same write when asked: the next taker gets it at once', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease({ status: 'pending' });
        const created = await table.repository.createLease(lease, anAudit(lease, 'requested'), {
          lock: { owner: 'granter', now: NOW },
        });
        const lock = created.created ? created.lock : undefined;
        if (lock === undefined) throw new Error('expected the lock');

        // Act
        await table.repository.saveLease(
          { ...lease, status: 'active' },
          1,
          anAudit(lease, 'granted', NOW * 1000 + 1),
          {
            unlock: lock,
          },
        );

        // Assert
        expect(lock.held).toBe(false);
        await expect(lock.release()).resolves.toBe(true);
        await expect(
          table.repository.withLock(SUBJECT, 'next', clockAt(NOW + 1), async () => 'ran', { waitMs: 0 }),
        ).resolves.toBe('ran');
      });

      it('saves without freeing a lock that was taken over meanwhile, and the new holder keeps it', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease();
        const created = await table.repository.createLease(lease, anAudit(lease, 'requested'), {
          lock: { owner: 'slow', now: NOW },
        });
        const lock = created.created ? created.lock : undefined;
        if (lock === undefined) throw new Error('expected the lock');
        const taker = await holdLock(table, SUBJECT, 'taker', NOW + 61);

        // Act
        const saved = await table.repository.saveLease(lease, 1, anAudit(lease, 'granted', NOW * 1000 + 1), {
          unlock: lock,
        });

        // Assert
        expect(saved.version).toBe(2);
        expect(lock.held).toBe(false);
        await expect(lock.release()).resolves.toBe(false);
        await expect(table.repository.saveSubjectState(SUBJECT, STATE, 'taker')).resolves.toBeUndefined();
        const busy = await thrown(
          table.repository.withLock(SUBJECT, 'third', clockAt(NOW + 62), async () => 'ran', { waitMs: 0 }),
        );
        expect(busy).toBeInstanceOf(SubjectBusyError);
        await taker.done();
      });

      it('keeps the lock held when the save loses its race', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease();
        const created = await table.repository.createLease(lease, anAudit(lease, 'requested'), {
          lock: { owner: 'granter', now: NOW },
        });
        const lock = created.created ? created.lock : undefined;
        if (lock === undefined) throw new Error('expected the lock');

        // Act
        const error = await thrown(
          table.repository.saveLease(lease, 7, anAudit(lease, 'granted', NOW * 1000 + 1), { unlock: lock }),
        );

        // Assert
        expect(error).toBeInstanceOf(ConcurrentModificationError);
        expect(lock.held).toBe(true);
        const busy = await thrown(
          table.repository.withLock(SUBJECT, 'other', clockAt(NOW + 1), async () => 'ran', { waitMs: 0 }),
        );
        expect(busy).toBeInstanceOf(SubjectBusyError);
        await expect(lock.release()).resolves.toBe(true);
      });

      it('refuses the lock of another subject', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease();
        await table.repository.createLease(lease, anAudit(lease, 'requested'));
        const other = aLease({ ...OTHER, requestId: 'req-2' });
        const created = await table.repository.createLease(other, anAudit(other, 'requested'), {
          lock: { owner: 'granter', now: NOW },
        });
        const lock = created.created ? created.lock : undefined;
        if (lock === undefined) throw new Error('expected the lock');

        // Act
        const error = await thrown(
          table.repository.saveLease(lease, 1, anAudit(lease, 'granted', NOW * 1000 + 1), { unlock: lock }),
        );

        // Assert
        expect(error).toBeInstanceOf(PermanentError);
        await expect(table.repository.findLease('req-1')).resolves.toMatchObject({ version: 1 });
        await lock.release();
      });
      it('refuses to end a lease without endedAt (its purge time would be unknown), and writes nothing', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease();
        await table.repository.createLease(lease, anAudit(lease, 'requested'));
        const ended: Lease = { ...lease, status: 'ended', endReason: 'requested' };

        // Act
        const error = await thrown(
          table.repository.saveLease(ended, 1, anAudit(ended, 'revoked', NOW * 1000 + 1)),
        );

        // Assert
        expect(error).toBeInstanceOf(PermanentError);
        await expect(table.repository.findLease('req-1')).resolves.toStrictEqual(lease);
        await expect(table.history('req-1')).resolves.toHaveLength(1);
      });
    });

    describe('saveSubjectState', () => {
      it('saves while the caller holds the lock, and the next lock taken alone carries it', async () => {
        // Arrange
        const table = await fresh();

        // Act
        await table.repository.withLock(SUBJECT, 'owner', clockAt(NOW), (lock) =>
          table.repository.saveSubjectState(SUBJECT, STATE, lock.owner),
        );

        // Assert
        const seen = await table.repository.withLock(
          SUBJECT,
          'next',
          clockAt(NOW),
          async (lock) => lock.state,
        );
        expect(seen).toStrictEqual(STATE);
      });

      it('refuses anyone but the lock owner, with no lock at all too, and keeps the state', async () => {
        // Arrange
        const table = await fresh();
        await table.repository.withLock(SUBJECT, 'first', clockAt(NOW), (lock) =>
          table.repository.saveSubjectState(SUBJECT, STATE, lock.owner),
        );
        const holder = await holdLock(table, SUBJECT, 'holder', NOW);

        // Act
        const notOwner = await thrown(
          table.repository.saveSubjectState(SUBJECT, EMPTY_SUBJECT_STATE, 'intruder'),
        );
        const unlocked = await thrown(table.repository.saveSubjectState(OTHER, STATE, 'intruder'));

        // Assert
        expect(notOwner).toBeInstanceOf(ConcurrentModificationError);
        expect(unlocked).toBeInstanceOf(ConcurrentModificationError);
        expect(holder.lock.state).toStrictEqual(STATE);
        await holder.done();
        await expect(table.repository.readSubject(SUBJECT)).resolves.toMatchObject({ state: STATE });
        await expect(table.repository.readSubject(OTHER)).resolves.toMatchObject({
          state: EMPTY_SUBJECT_STATE,
        });
      });

      it('keeps the state as saved whatever the caller later does to the objects it passed or read', async () => {
        // Arrange
        const table = await fresh();
        const state = { entryOwned: true, touched: { [VIEW]: null } as Record<string, unknown> };
        await table.repository.withLock(SUBJECT, 'owner', clockAt(NOW), (lock) =>
          table.repository.saveSubjectState(SUBJECT, state as SubjectState, lock.owner),
        );

        // Act
        state.touched[EDIT] = { type: 'cluster' };
        const read = await table.repository.readSubject(SUBJECT);
        (read.state.touched as Record<string, unknown>)[EDIT] = { type: 'cluster' };

        // Assert
        await expect(table.repository.readSubject(SUBJECT)).resolves.toStrictEqual({
          leases: [],
          state: { entryOwned: true, touched: { [VIEW]: null } },
        });
      });

      it('still lets the owner save after its lock expired, until someone takes it over', async () => {
        // Arrange
        const table = await fresh();
        const holder = await holdLock(table, SUBJECT, 'late', NOW - 600);

        // Act
        const saved = await table.repository.saveSubjectState(SUBJECT, STATE, 'late');

        // Assert
        expect(saved).toBeUndefined();
        await holder.done();
        await expect(table.repository.readSubject(SUBJECT)).resolves.toMatchObject({ state: STATE });
      });
    });

    describe('withLock', () => {
      it('runs the work holding the lock with the stored state, answers its result and frees the lock', async () => {
        // Arrange
        const table = await fresh();
        let during: { held: boolean; state: SubjectState | undefined } | undefined;

        // Act
        const result = await table.repository.withLock(SUBJECT, 'owner', clockAt(NOW), async (lock) => {
          during = { held: lock.held, state: lock.state };
          return 42;
        });

        // Assert
        expect(result).toBe(42);
        expect(during).toStrictEqual({ held: true, state: EMPTY_SUBJECT_STATE });
        await expect(
          table.repository.withLock(SUBJECT, 'next', clockAt(NOW), async () => 'ran', { waitMs: 0 }),
        ).resolves.toBe('ran');
      });

      it('frees the lock when the work throws, and rethrows the error of the work', async () => {
        // Arrange
        const table = await fresh();
        const failure = new Error('work failed');

        // Act
        const error = await thrown(
          table.repository.withLock(SUBJECT, 'owner', clockAt(NOW), async () => {
            throw failure;
          }),
        );

        // Assert
        expect(error).toBe(failure);
        await expect(
          table.repository.withLock(SUBJECT, 'next', clockAt(NOW), async () => 'ran', { waitMs: 0 }),
        ).resolves.toBe('ran');
      });

      it('waits for a busy subject up to waitMs, then throws SubjectBusyError without running the work', async () => {
        // Arrange
        const table = await fresh();
        const holder = await holdLock(table, SUBJECT, 'holder', NOW);
        let ran = false;
        const started = Date.now();

        // Act
        const error = await thrown(
          table.repository.withLock(
            SUBJECT,
            'waiter',
            clockAt(NOW + 30),
            async () => {
              ran = true;
            },
            { waitMs: 120 },
          ),
        );

        // Assert
        expect(error).toBeInstanceOf(SubjectBusyError);
        expect(ran).toBe(false);
        expect(Date.now() - started).toBeGreaterThanOrEqual(100);
        await holder.done();
      });

      it('gets the lock once the holder frees it within the wait', async () => {
        // Arrange
        const table = await fresh();
        const holder = await holdLock(table, SUBJECT, 'holder', NOW);
        setTimeout(() => void holder.done(), 40);

        // Act
        const result = await table.repository.withLock(SUBJECT, 'waiter', clockAt(NOW), async () => 'ran', {
          waitMs: 3_000,
        });

        // Assert
        expect(result).toBe('ran');
        expect(holder.lock.held).toBe(false);
      });

      it('runs at once with a lock handed in, and refuses one of another owner or subject', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease();
        const created = await table.repository.createLease(lease, anAudit(lease, 'requested'), {
          lock: { owner: 'granter', now: NOW },
        });
        const lock = created.created ? created.lock : undefined;
        if (lock === undefined) throw new Error('expected the lock');

        // Act
        const wrongOwner = await thrown(
          table.repository.withLock(SUBJECT, 'other', clockAt(NOW), async () => 'ran', { held: lock }),
        );
        const wrongSubject = await thrown(
          table.repository.withLock(OTHER, 'granter', clockAt(NOW), async () => 'ran', { held: lock }),
        );
        const handed = await table.repository.withLock(
          SUBJECT,
          'granter',
          clockAt(NOW),
          async (inside) => inside,
          {
            held: lock,
            waitMs: 0,
          },
        );

        // Assert
        expect(wrongOwner).toBeInstanceOf(Error);
        expect(wrongSubject).toBeInstanceOf(Error);
        expect(handed).toBe(lock);
        expect(lock.held).toBe(false);
      });

      it('lets the holder take its own lock again (re-entry)', async () => {
        // Arrange
        const table = await fresh();

        // Act
        const inner = await table.repository.withLock(SUBJECT, 'owner', clockAt(NOW), () =>
          table.repository.withLock(SUBJECT, 'owner', clockAt(NOW + 1), async () => 'inner', { waitMs: 0 }),
        );

        // Assert
        expect(inner).toBe('inner');
      });
    });

    describe('the due index', () => {
      async function seeded(table: ContractTable): Promise<void> {
        const leases = [
          aLease({ requestId: 'due-b', expiresAt: NOW - 100 }),
          aLease({ requestId: 'due-a', expiresAt: NOW - 100, ...OTHER }),
          aLease({
            requestId: 'retry',
            expiresAt: NOW - 5000,
            nextAttemptAt: NOW - 10,
            status: 'irrevocable',
          }),
          aLease({ requestId: 'backoff', expiresAt: NOW - 5000, nextAttemptAt: NOW + 30 }),
          aLease({ requestId: 'soon', expiresAt: NOW + 60 }),
          aLease({ requestId: 'later', expiresAt: NOW + 7200 }),
          aLease({ requestId: 'gone', expiresAt: NOW - 900, status: 'ended', endedAt: NOW - 900 }),
        ];
        for (const lease of leases) await table.repository.createLease(lease, anAudit(lease, 'requested'));
      }

      it('dueKeys answers the due entries oldest first, at the next attempt else the expiry, without ended leases', async () => {
        // Arrange
        const table = await fresh();
        await seeded(table);

        // Act
        const due = await table.repository.dueKeys(NOW, 100);

        // Assert
        expect(due).toStrictEqual([
          { ...OTHER, requestId: 'due-a', dueAt: NOW - 100 },
          { ...SUBJECT, requestId: 'due-b', dueAt: NOW - 100 },
          { ...SUBJECT, requestId: 'retry', dueAt: NOW - 10 },
        ]);
      });

      it('dueKeys answers at most `limit` due entries, the oldest among them', async () => {
        // Arrange
        const table = await fresh();
        await seeded(table);

        // Act
        const due = await table.repository.dueKeys(NOW, 2);

        // Assert
        expect(due).toHaveLength(2);
        expect(due[0]?.dueAt).toBe(NOW - 100);
        expect(due.every((entry) => ['due-a', 'due-b', 'retry'].includes(entry.requestId))).toBe(true);
        expect(await thrown(table.repository.dueKeys(NOW, 0))).toBeInstanceOf(RangeError);
      });

      it('dueLeases answers the leases due in (after, now], oldest first, at most `limit`', async () => {
        // Arrange
        const table = await fresh();
        await seeded(table);

        // Act
        const all = await table.repository.dueLeases(NOW, 100);
        const window = await table.repository.dueLeases(NOW + 60, 100, { after: NOW - 10 });
        const first = await table.repository.dueLeases(NOW + 60, 1, { after: NOW - 100 });

        // Assert
        expect(all.map((lease) => lease.requestId)).toEqual(['due-a', 'due-b', 'retry']);
        expect(all[0]).toStrictEqual(aLease({ requestId: 'due-a', expiresAt: NOW - 100, ...OTHER }));
        expect(window.map((lease) => lease.requestId)).toEqual(['backoff', 'soon']);
        expect(first.map((lease) => lease.requestId)).toEqual(['retry']);
      });

      it('listLiveLeases answers every lease not ended, soonest due first, at most `limit`', async () => {
        // Arrange
        const table = await fresh();
        await seeded(table);

        // Act
        const live = await table.repository.listLiveLeases(100);
        const firstThree = await table.repository.listLiveLeases(3);

        // Assert
        expect(live.map((lease) => lease.requestId)).toEqual([
          'due-a',
          'due-b',
          'retry',
          'backoff',
          'soon',
          'later',
        ]);
        expect(firstThree.map((lease) => lease.requestId)).toEqual(['due-a', 'due-b', 'retry']);
      });

      it('follows a lease that moves: extended off the due list, ended off the index', async () => {
        // Arrange
        const table = await fresh();
        await seeded(table);
        const dueB = aLease({ requestId: 'due-b', expiresAt: NOW - 100 });
        const retry = aLease({
          requestId: 'retry',
          expiresAt: NOW - 5000,
          nextAttemptAt: NOW - 10,
          status: 'irrevocable',
        });

        // Act
        await table.repository.saveLease(
          { ...dueB, expiresAt: NOW + 600 },
          1,
          anAudit(dueB, 'extended', NOW * 1000 + 1),
        );
        await table.repository.saveLease(
          { ...retry, status: 'ended', endedAt: NOW, endReason: 'expired' },
          1,
          anAudit(retry, 'expired', NOW * 1000 + 1),
        );

        // Assert
        await expect(table.repository.dueKeys(NOW, 100)).resolves.toStrictEqual([
          { ...OTHER, requestId: 'due-a', dueAt: NOW - 100 },
        ]);
        const live = await table.repository.listLiveLeases(100);
        expect(live.map((lease) => lease.requestId)).toEqual(['due-a', 'backoff', 'soon', 'due-b', 'later']);
      });
    });

    describe('the live leases page by page, and the drift cursor (the drift check)', () => {
      async function seeded(table: ContractTable): Promise<void> {
        const leases = [
          aLease({ requestId: 'a', expiresAt: NOW + 100 }),
          aLease({ requestId: 'b', expiresAt: NOW + 100, ...OTHER }),
          aLease({ requestId: 'c', expiresAt: NOW - 50, status: 'irrevocable', nextAttemptAt: NOW + 10 }),
          aPendingLease({ requestId: 'd', expiresAt: NOW + 3600 }),
          aLease({ requestId: 'e', expiresAt: NOW + 7200, ...OTHER }),
          aLease({ requestId: 'gone', expiresAt: NOW - 900, status: 'ended', endedAt: NOW - 900 }),
        ];
        for (const lease of leases) await table.repository.createLease(lease, anAudit(lease, 'requested'));
      }

      async function allPages(table: ContractTable, limit: number, after?: string) {
        const pages = [];
        let position = after;
        for (let page = 0; page < 20; page++) {
          const read = await table.repository.liveLeasePage(position, limit);
          pages.push(read);
          position = read.entries.at(-1)?.position ?? position;
          if (read.done) return pages;
        }
        throw new Error('liveLeasePage never said done');
      }

      it('pages through every live lease once, ended ones left out, and says when the pass is done', async () => {
        // Arrange
        const table = await fresh();
        await seeded(table);

        // Act
        const pages = await allPages(table, 2);

        // Assert
        const ids = pages.flatMap((page) => page.entries.map((entry) => entry.requestId));
        expect([...ids].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
        expect(pages.slice(0, -1).every((page) => !page.done && page.entries.length === 2)).toBe(true);
        const b = pages.flatMap((page) => page.entries).find((entry) => entry.requestId === 'b');
        expect(b).toMatchObject({ ...OTHER, requestId: 'b' });
      });

      it('goes on after a position whose lease has ended since, and after the last position answers done', async () => {
        // Arrange
        const table = await fresh();
        await seeded(table);
        const [first] = (await table.repository.liveLeasePage(undefined, 1)).entries;
        if (!first) throw new Error('no live lease');
        const lease = await table.repository.findLease(first.requestId);
        if (!lease) throw new Error('no lease');
        await table.repository.saveLease(
          { ...lease, status: 'ended', endedAt: NOW, endReason: 'requested' },
          lease.version,
          anAudit(lease, 'revoked', NOW * 1000 + 1),
        );

        // Act
        const rest = await allPages(table, 10, first.position);
        const last = rest.at(-1)?.entries.at(-1);
        const after = await table.repository.liveLeasePage(last?.position, 10);

        // Assert
        const ids = rest.flatMap((page) => page.entries.map((entry) => entry.requestId));
        expect(ids).toHaveLength(4);
        expect(ids).not.toContain(first.requestId);
        expect(after).toStrictEqual({ entries: [], done: true });
      });

      it('keeps the drift cursor: none until saved, then the last one saved', async () => {
        // Arrange
        const table = await fresh();
        const before = await table.repository.readDriftCursor();

        // Act
        await table.repository.saveDriftCursor({ position: 'p-1', passStartedAt: NOW, passes: 2 });
        const saved = await table.repository.readDriftCursor();
        await table.repository.saveDriftCursor({ passStartedAt: NOW + 60, passes: 3, lastPassSeconds: 60 });
        const restarted = await table.repository.readDriftCursor();

        // Assert
        expect(before).toBeUndefined();
        expect(saved).toStrictEqual({ position: 'p-1', passStartedAt: NOW, passes: 2 });
        expect(restarted).toStrictEqual({ passStartedAt: NOW + 60, passes: 3, lastPassSeconds: 60 });
      });
    });

    describe('remember (proof nonces)', () => {
      it('remembers a new nonce once: the first call is true, every later one false', async () => {
        // Arrange
        const table = await fresh();

        // Act
        const first = await table.repository.remember('nonce-aaaaaaaaaaaaaaaa', NOW + 360);
        const again = await table.repository.remember('nonce-aaaaaaaaaaaaaaaa', NOW + 360);
        const later = await table.repository.remember('nonce-aaaaaaaaaaaaaaaa', NOW + 9999);
        const other = await table.repository.remember('nonce-bbbbbbbbbbbbbbbb', NOW + 360);

        // Assert
        expect([first, again, later, other]).toEqual([true, false, false, true]);
      });

      it('lets exactly one of concurrent remembers of the same nonce win', async () => {
        // Arrange
        const table = await fresh();

        // Act
        const results = await Promise.all(
          Array.from({ length: 8 }, () => table.repository.remember('nonce-cccccccccccccccc', NOW + 360)),
        );

        // Assert
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('keeps nonces apart from leases: a nonce named like a requestId changes no lease', async () => {
        // Arrange
        const table = await fresh();
        const lease = aLease();
        await table.repository.createLease(lease, anAudit(lease, 'requested'));

        // Act
        const remembered = await table.repository.remember(lease.requestId, NOW + 360);

        // Assert
        expect(remembered).toBe(true);
        await expect(table.repository.findLease(lease.requestId)).resolves.toStrictEqual(lease);
        await expect(table.repository.listLiveLeases(100)).resolves.toStrictEqual([lease]);
      });
    });

    describe('what the simulator leans on: repeats, dead holders, pending leases (test/support/sim)', () => {
      it('createLease of a taken requestId takes no lock, even when asked to', async () => {
        // Arrange
        const table = await fresh();
        const lease = aPendingLease();
        await table.repository.createLease(lease, anAudit(lease, 'requested'));

        // Act
        const again = await table.repository.createLease(lease, anAudit(lease, 'requested', NOW * 1000 + 1), {
          lock: { owner: 'second-delivery', now: NOW },
        });
        const other = await table.repository.withLock(
          SUBJECT,
          'someone-else',
          clockAt(NOW),
          async () => 'ran',
          {
            waitMs: 0,
          },
        );

        // Assert
        expect(again).toMatchObject({ created: false, fingerprint: lease.fingerprint });
        expect('lock' in again).toBe(false);
        expect(other).toBe('ran');
      });

      it('withLock takes over a lock its dead holder let expire; the holder, back, can neither free nor save with it', async () => {
        // Arrange
        const table = await fresh();
        const lease = aPendingLease();
        const created = await table.repository.createLease(lease, anAudit(lease, 'requested'), {
          lock: { owner: 'dead', now: NOW },
        });
        const dead = created.created ? created.lock : undefined;

        // Act
        const busy = await thrown(
          table.repository.withLock(SUBJECT, 'early', clockAt(NOW + 59), async () => 'ran', { waitMs: 0 }),
        );
        const { lock, done } = await holdLock(table, SUBJECT, 'late', NOW + 60);
        const freed = await dead?.release();
        const saveState = await thrown(table.repository.saveSubjectState(SUBJECT, STATE, 'dead'));
        await table.repository.saveSubjectState(SUBJECT, STATE, lock.owner);
        await done();

        // Assert
        expect(busy).toBeInstanceOf(SubjectBusyError);
        expect(freed).toBe(false);
        expect(saveState).toBeInstanceOf(ConcurrentModificationError);
        await expect(table.repository.readSubject(SUBJECT)).resolves.toMatchObject({ state: STATE });
      });

      it('saveLease with a lock already freed saves the lease and leaves the lock to whoever took it since', async () => {
        // Arrange
        const table = await fresh();
        const lease = aPendingLease();
        const created = await table.repository.createLease(lease, anAudit(lease, 'requested'), {
          lock: { owner: 'first', now: NOW },
        });
        const first = created.created ? created.lock : undefined;
        await first?.release();
        const { lock: next, done } = await holdLock(table, SUBJECT, 'next', NOW);

        // Act
        const saved = await table.repository.saveLease(
          { ...lease, reason: 'saved after its lock was freed' },
          1,
          anAudit(lease, 'granted', NOW * 1000 + 1),
          first ? { unlock: first } : {},
        );
        const stillHeld = await thrown(table.repository.saveSubjectState(SUBJECT, STATE, 'first'));
        await table.repository.saveSubjectState(SUBJECT, STATE, next.owner);
        await done();

        // Assert
        expect(saved.version).toBe(2);
        expect(stillHeld).toBeInstanceOf(ConcurrentModificationError);
      });

      it('lists a pending lease in the due index at its expiry, and at once when its expiry moved to now', async () => {
        // Arrange: a grant that never completed, and one whose failure was recorded (expiry moved to now).
        const table = await fresh();
        const pending = aPendingLease({ requestId: 'pending', expiresAt: NOW + 20 });
        const failing = aPendingLease({ requestId: 'failing', expiresAt: NOW + 3600, ...OTHER });
        for (const lease of [pending, failing])
          await table.repository.createLease(lease, anAudit(lease, 'requested'));
        await table.repository.saveLease(
          { ...failing, endReason: 'failed', lastError: 'EKS refused', expiresAt: NOW },
          1,
          anAudit(failing, 'failing', NOW * 1000 + 1),
        );

        // Act
        const dueNow = await table.repository.dueKeys(NOW, 10);
        const dueLater = await table.repository.dueKeys(NOW + 20, 10);

        // Assert
        expect(dueNow.map((entry) => entry.requestId)).toEqual(['failing']);
        expect(dueLater.map((entry) => [entry.requestId, entry.dueAt])).toEqual([
          ['failing', NOW],
          ['pending', NOW + 20],
        ]);
      });

      describe('a write whose answer is lost is done all the same, and its repeat is answered as a repeat', () => {
        it('createLease: the lease and its lock are there; the repeat finds the lease, the lock is held', async () => {
          // Arrange
          const table = await fresh();
          const lease = aPendingLease();

          // Act
          table.loseNextAnswer();
          const lost = await thrown(
            table.repository.createLease(lease, anAudit(lease, 'requested'), {
              lock: { owner: 'lost', now: NOW },
            }),
          );
          const repeat = await table.repository.createLease(lease, anAudit(lease, 'requested'), {
            lock: { owner: 'repeat', now: NOW },
          });
          const busy = await thrown(
            table.repository.withLock(SUBJECT, 'repeat', clockAt(NOW), async () => 'ran', { waitMs: 0 }),
          );

          // Assert
          expect(lost).toBeInstanceOf(RetryableError);
          expect(repeat).toStrictEqual({ created: false, existing: lease, fingerprint: lease.fingerprint });
          expect(busy).toBeInstanceOf(SubjectBusyError);
        });

        it('saveLease: the new version is stored; the repeat on the old version loses the race', async () => {
          // Arrange
          const table = await fresh();
          const lease = aPendingLease();
          await table.repository.createLease(lease, anAudit(lease, 'requested'));
          const active: Lease = { ...lease, status: 'active', grantedAt: NOW + 2 };

          // Act
          table.loseNextAnswer();
          const lost = await thrown(
            table.repository.saveLease(active, 1, anAudit(active, 'granted', NOW * 1000 + 1)),
          );
          const stored = await table.repository.findLease(lease.requestId);
          const repeat = await thrown(
            table.repository.saveLease(active, 1, anAudit(active, 'granted', NOW * 1000 + 2)),
          );

          // Assert
          expect(lost).toBeInstanceOf(RetryableError);
          expect(stored).toStrictEqual({ ...active, version: 2 });
          expect(repeat).toBeInstanceOf(ConcurrentModificationError);
        });

        it('taking the lock: it is held by the one that lost the answer, who takes it again; anyone else waits', async () => {
          // Arrange
          const table = await fresh();

          // Act
          table.loseNextAnswer();
          const lost = await thrown(
            table.repository.withLock(SUBJECT, 'lost', clockAt(NOW), async () => 'ran', { waitMs: 0 }),
          );
          const other = await thrown(
            table.repository.withLock(SUBJECT, 'other', clockAt(NOW), async () => 'ran', { waitMs: 0 }),
          );
          const again = await table.repository.withLock(SUBJECT, 'lost', clockAt(NOW), async () => 'ran', {
            waitMs: 0,
          });

          // Assert
          expect(lost).toBeInstanceOf(RetryableError);
          expect(other).toBeInstanceOf(SubjectBusyError);
          expect(again).toBe('ran');
        });

        it('freeing the lock: it is free; saveSubjectState: the state is saved; remember: the nonce is used', async () => {
          // Arrange
          const table = await fresh();
          const { lock, done } = await holdLock(table, SUBJECT, 'holder', NOW);
          table.loseNextAnswer();
          const lostState = await thrown(table.repository.saveSubjectState(SUBJECT, STATE, lock.owner));

          // Act
          table.loseNextAnswer();
          const lostRelease = await thrown(done());
          const next = await table.repository.withLock(
            SUBJECT,
            'next',
            clockAt(NOW),
            async (held) => held.state,
            {
              waitMs: 0,
            },
          );
          table.loseNextAnswer();
          const lostNonce = await thrown(table.repository.remember('nonce-lost-answer-0001', NOW + 360));
          const repeatNonce = await table.repository.remember('nonce-lost-answer-0001', NOW + 360);

          // Assert
          expect([lostState, lostRelease, lostNonce].map((error) => error instanceof RetryableError)).toEqual(
            [true, true, true],
          );
          expect(next).toStrictEqual(STATE);
          expect(repeatNonce).toBe(false);
        });
      });
    });

    describe('deliveries (webhook delivery ids)', () => {
      it('has seen a delivery id once remembered, for its own integration only', async () => {
        // Arrange
        const table = await fresh();

        // Act
        const before = await table.deliveries.seen('jira', 'delivery-1');
        await table.deliveries.remember('jira', 'delivery-1', NOW + 604_800);
        const after = await table.deliveries.seen('jira', 'delivery-1');
        const otherIntegration = await table.deliveries.seen('pagerduty', 'delivery-1');
        const otherId = await table.deliveries.seen('jira', 'delivery-2');

        // Assert
        expect([before, after, otherIntegration, otherId]).toEqual([false, true, false, false]);
      });

      it('remembers a delivery id again without an error, still seen', async () => {
        // Arrange
        const table = await fresh();
        await table.deliveries.remember('jira', 'delivery-1', NOW + 60);

        // Act
        await table.deliveries.remember('jira', 'delivery-1', NOW + 604_800);

        // Assert
        await expect(table.deliveries.seen('jira', 'delivery-1')).resolves.toBe(true);
      });

      it('keeps deliveries apart from nonces: a delivery named like a nonce leaves the nonce new', async () => {
        // Arrange
        const table = await fresh();
        await table.deliveries.remember('jira', 'nonce-dddddddddddddddd', NOW + 360);

        // Act
        const remembered = await table.repository.remember('nonce-dddddddddddddddd', NOW + 360);

        // Assert
        expect(remembered).toBe(true);
      });
    });
  });
}

import { describe, expect, it } from 'vitest';
import { releaseLock } from '../../../functions/adapters/lease-table/subject-lock';
import { ConcurrentModificationError, SubjectBusyError } from '../../../functions/core/errors';
import { EMPTY_SUBJECT_STATE } from '../../../functions/core/model';
import { acquireLock, aLease, anAudit, NOW, OTHER_SUBJECT, SUBJECT } from './fixtures';
import { useDynamoDbLocal } from './local-table';

describe('The subject lock on DynamoDB Local', () => {
  const db = useDynamoDbLocal();

  describe('subject lock and state', () => {
    it('is exclusive between owners, re-entrant for its owner, and taken over once expired', async () => {
      // Arrange
      const { table } = await db.freshStore();

      // Act
      const a = await acquireLock(table, SUBJECT, 'owner-a', NOW, 30);
      const b = await acquireLock(table, SUBJECT, 'owner-b', NOW + 29, 30);
      const aAgain = await acquireLock(table, SUBJECT, 'owner-a', NOW + 29, 30);
      const bBeforeExpiry = await acquireLock(table, SUBJECT, 'owner-b', NOW + 58, 30);
      const bAfterExpiry = await acquireLock(table, SUBJECT, 'owner-b', NOW + 59, 30);
      const otherSubject = await acquireLock(table, OTHER_SUBJECT, 'owner-a', NOW + 59, 30);

      // Assert
      expect([a, b, aAgain, bBeforeExpiry, bAfterExpiry, otherSubject]).toEqual([
        true,
        false,
        true,
        false,
        true,
        true,
      ]);
      await expect(releaseLock(table, SUBJECT, 'owner-a')).resolves.toBe(false);
      await expect(releaseLock(table, SUBJECT, 'owner-b')).resolves.toBe(true);
      await expect(acquireLock(table, SUBJECT, 'owner-c', NOW + 60, 30)).resolves.toBe(true);
    });

    it('saves the subject state only for the lock holder', async () => {
      // Arrange
      const { store, table } = await db.freshStore();
      const state = {
        entryOwned: true,
        touched: {
          'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy': null,
          'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy': {
            type: 'namespace' as const,
            namespaces: ['team-a'],
          },
        },
      };

      // Act
      const withoutAnyLock = store.saveSubjectState(SUBJECT, state, 'owner-a');
      await expect(withoutAnyLock).rejects.toBeInstanceOf(ConcurrentModificationError);
      const emptyWithLockOnly = (await acquireLock(table, SUBJECT, 'owner-a', NOW, 30))
        ? (await store.readSubject(SUBJECT)).state
        : undefined;
      const byOther = store.saveSubjectState(SUBJECT, state, 'owner-b');
      await expect(byOther).rejects.toBeInstanceOf(ConcurrentModificationError);
      await store.saveSubjectState(SUBJECT, state, 'owner-a');

      // Assert
      expect(emptyWithLockOnly).toBe(EMPTY_SUBJECT_STATE);
      expect((await store.readSubject(SUBJECT)).state).toStrictEqual(state);
      expect((await store.readSubject(OTHER_SUBJECT)).state).toBe(EMPTY_SUBJECT_STATE);
    });

    it('withLock runs the work under the lock and releases it when the work fails', async () => {
      // Arrange
      const { store, table } = await db.freshStore();
      const clock = () => NOW;
      let heldDuringWork = true;

      // Act
      const failure = store.withLock(SUBJECT, 'owner-a', clock, async () => {
        heldDuringWork = !(await acquireLock(table, SUBJECT, 'owner-b', NOW, 30));
        throw new Error('EKS said no');
      });

      // Assert
      await expect(failure).rejects.toThrow('EKS said no');
      expect(heldDuringWork).toBe(true);
      await expect(
        store.withLock(SUBJECT, 'owner-b', clock, async () => 'done', { waitMs: 0 }),
      ).resolves.toBe('done');
      await expect(acquireLock(table, SUBJECT, 'owner-c', NOW, 30)).resolves.toBe(true);
    });

    it('withLock gives up with SubjectBusyError after waitMs, and gets the lock once it is freed', async () => {
      // Arrange
      const { store, table } = await db.freshStore();
      await acquireLock(table, SUBJECT, 'owner-a', NOW, 30);
      const started = Date.now();

      // Act
      const busy = await store
        .withLock(
          SUBJECT,
          'owner-b',
          () => NOW,
          async () => 'never',
          { waitMs: 300 },
        )
        .catch((error: unknown) => error);
      const waited = Date.now() - started;
      setTimeout(() => void releaseLock(table, SUBJECT, 'owner-a'), 150);
      const eventually = await store.withLock(
        SUBJECT,
        'owner-b',
        () => NOW,
        async () => 'ran',
        { waitMs: 5_000 },
      );

      // Assert
      expect(busy).toBeInstanceOf(SubjectBusyError);
      expect(waited).toBeGreaterThanOrEqual(300);
      expect(waited).toBeLessThan(2_000);
      expect(eventually).toBe('ran');
    });
  });

  describe('lock and state together', () => {
    it('hands the work the subject state read by the write that took the lock, and frees the lock once', async () => {
      // Arrange
      const { store, table } = await db.freshStore();
      const state = {
        entryOwned: true,
        touched: { 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy': null },
      };
      await acquireLock(table, SUBJECT, 'setup', NOW, 30);
      await store.saveSubjectState(SUBJECT, state, 'setup');
      await releaseLock(table, SUBJECT, 'setup');
      const before = db.counts.requests;

      // Act
      const seen = await store.withLock(
        SUBJECT,
        'owner-a',
        () => NOW,
        async (lock) => {
          const first = lock.state;
          const released = await lock.release();
          const takenMeanwhile = await acquireLock(table, SUBJECT, 'owner-b', NOW, 30);
          return { first, released, takenMeanwhile };
        },
      );

      // Assert: one request to take the lock (no read), one to free it, one by owner-b; withLock frees no more.
      expect(seen).toStrictEqual({ first: state, released: true, takenMeanwhile: true });
      expect(db.counts.requests - before).toBe(3);
      await expect(releaseLock(table, SUBJECT, 'owner-b')).resolves.toBe(true);
    });

    it('frees the lock along with the lease save, or saves alone if the lock was taken over meanwhile', async () => {
      // Arrange
      const { store, table } = await db.freshStore();
      const first = aLease({ requestId: 'unlock-1', status: 'pending' });
      const second = aLease({ requestId: 'unlock-2', status: 'pending' });
      for (const lease of [first, second]) await store.createLease(lease, anAudit(lease, 'requested', NOW));
      const before = db.counts.requests;

      // Act
      const freed = await store.withLock(
        SUBJECT,
        'owner-a',
        () => NOW,
        async (lock) => {
          await store.saveLease({ ...first, status: 'active' }, 1, anAudit(first, 'granted', NOW + 1), {
            unlock: lock,
          });
          return acquireLock(table, SUBJECT, 'owner-b', NOW, 30);
        },
      );
      const requests = db.counts.requests - before;
      // owner-a's lock expires while it works, and owner-c takes it over.
      const kept = await store.withLock(
        SUBJECT,
        'owner-a',
        () => NOW + 100,
        async (lock) => {
          await acquireLock(table, SUBJECT, 'owner-c', NOW + 200, 30);
          const saved = await store.saveLease(
            { ...second, status: 'active' },
            1,
            anAudit(second, 'granted', NOW + 201),
            {
              unlock: lock,
            },
          );
          return { saved, heldByC: !(await acquireLock(table, SUBJECT, 'owner-d', NOW + 201, 30)) };
        },
        { ttlSeconds: 30 },
      );

      // Assert: lock, save with unlock, owner-b's lock; nothing left for withLock to free.
      expect(freed).toBe(true);
      expect(requests).toBe(3);
      expect(kept.saved.version).toBe(2);
      expect(kept.heldByC).toBe(true);
      await expect(store.findLease('unlock-2')).resolves.toMatchObject({ status: 'active', version: 2 });
    });
  });
});

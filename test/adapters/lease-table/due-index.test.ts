import { describe, expect, it } from 'vitest';
import { aLease, anAudit, ended, NOW } from './fixtures';
import { useDynamoDbLocal } from './local-table';

describe('The due index on DynamoDB Local', () => {
  const db = useDynamoDbLocal();

  describe('dueLeases', () => {
    it('finds the 5 due leases of 300, oldest first, reading about as many items as are due', async () => {
      // Arrange
      const { store } = await db.freshStore();
      const dueOffsets = [-50, -3000, -1, -700, 0];
      const leases = Array.from({ length: 300 }, (_, index) =>
        aLease({
          requestId: `req-${String(index).padStart(3, '0')}`,
          principalArn: `arn:aws:iam::111122223333:role/dev-${index % 40}`,
          expiresAt: NOW + (dueOffsets[index / 60] ?? 60 + index),
        }),
      );
      // Ended leases long past expiry must not be found: they left the index when they ended.
      const endedLeases = Array.from({ length: 10 }, (_, index) =>
        ended(aLease({ requestId: `old-${index}`, expiresAt: NOW - 10_000 }), NOW - 9_000),
      );
      const all = [...leases, ...endedLeases];
      for (let offset = 0; offset < all.length; offset += 25) {
        await Promise.all(
          all
            .slice(offset, offset + 25)
            .map((lease) => store.createLease(lease, anAudit(lease, 'granted', NOW))),
        );
      }
      const before = { ...db.counts };

      // Act
      const due = await store.dueLeases(NOW, 100);

      // Assert
      expect(due.map((lease) => lease.expiresAt - NOW)).toEqual([-3000, -700, -50, -1, 0]);
      expect(due.map((lease) => lease.requestId)).toEqual([
        'req-060',
        'req-180',
        'req-000',
        'req-120',
        'req-240',
      ]);
      // 5 index entries plus 5 consistent re-reads by key; 8 shard queries plus one BatchGetItem.
      expect(db.counts.itemsRead - before.itemsRead).toBe(10);
      expect(db.counts.requests - before.requests).toBe(9);
    });

    it('honours the limit, drops leases that ended, and holds back a lease until its next attempt', async () => {
      // Arrange
      const { store } = await db.freshStore({ dueShards: 3 });
      const leases = [-40, -30, -20, -10].map((offset, index) =>
        aLease({ requestId: `req-${index}`, expiresAt: NOW + offset }),
      );
      for (const lease of leases) await store.createLease(lease, anAudit(lease, 'granted', NOW));
      const [first, second, third] = leases;
      if (first === undefined || second === undefined || third === undefined) throw new Error('fixture');
      await store.saveLease(ended(first, NOW - 5), 1, anAudit(first, 'expired', NOW));
      await store.saveLease(
        { ...second, status: 'irrevocable', lastError: 'AccessDenied', nextAttemptAt: NOW + 300 },
        1,
        anAudit(second, 'revocation-failed', NOW),
      );

      // Act
      const firstTwo = await store.dueLeases(NOW, 2);
      const later = await store.dueLeases(NOW + 300, 10);

      // Assert
      expect(firstTwo.map((lease) => lease.requestId)).toEqual(['req-2', 'req-3']);
      expect(later.map((lease) => lease.requestId)).toEqual(['req-2', 'req-3', 'req-1']);
    });
  });

  describe('dueKeys', () => {
    it('reads about as many index entries as it returns, however large the backlog, naming each lease', async () => {
      // Arrange
      const { store } = await db.freshStore();
      const leases = Array.from({ length: 80 }, (_, i) =>
        aLease({
          requestId: `due-${String(i).padStart(2, '0')}`,
          principalArn: `arn:aws:iam::111122223333:role/path/dev-${i % 3}`,
          expiresAt: NOW - 100 + i,
        }),
      );
      for (let offset = 0; offset < leases.length; offset += 20) {
        await Promise.all(
          leases
            .slice(offset, offset + 20)
            .map((lease) => store.createLease(lease, anAudit(lease, 'granted', NOW))),
        );
      }
      const before = { ...db.counts };

      // Act
      const first = await store.dueKeys(NOW, 20);
      const reads = db.counts.itemsRead - before.itemsRead;
      const all = await store.dueKeys(NOW, 1000);

      // Assert
      expect(first).toHaveLength(20);
      expect(reads).toBeLessThanOrEqual(20 + 8);
      expect(first.map((due) => due.dueAt)).toEqual([...first.map((due) => due.dueAt)].sort((a, b) => a - b));
      expect(all).toHaveLength(80);
      expect(all[0]).toStrictEqual({
        requestId: 'due-00',
        clusterName: 'demo',
        principalArn: 'arn:aws:iam::111122223333:role/path/dev-0',
        dueAt: NOW - 100,
      });
      const fifth = all[5];
      if (fifth === undefined) throw new Error('fixture');
      await expect(store.findSubjectLease(fifth, fifth.requestId)).resolves.toStrictEqual(leases[5]);
    });
  });

  describe('listLiveLeases', () => {
    it('lists every lease not ended, soonest due first, however far off, up to the limit', async () => {
      // Arrange
      const { store } = await db.freshStore({ dueShards: 3 });
      const later = aLease({ requestId: 'later', expiresAt: NOW + 30 * 86_400 });
      const soon = aLease({ requestId: 'soon', expiresAt: NOW + 60 });
      const retrying = aLease({ requestId: 'retrying', status: 'irrevocable', nextAttemptAt: NOW + 600 });
      const gone = aLease({ requestId: 'gone', expiresAt: NOW - 60 });
      for (const lease of [later, soon, retrying, gone]) {
        await store.createLease(lease, anAudit(lease, 'granted', NOW));
      }
      await store.saveLease(ended(gone, NOW - 30), 1, anAudit(gone, 'expired', NOW));

      // Act
      const live = await store.listLiveLeases(10);
      const firstTwo = await store.listLiveLeases(2);

      // Assert
      expect(live).toStrictEqual([soon, retrying, later]);
      expect(firstTwo).toStrictEqual([soon, retrying]);
    });
  });
});

import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  QueryCommand as RawQueryCommand,
} from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { ItemOptions } from '../../../functions/adapters/lease-table/items';
import { bulkItems } from '../../../functions/adapters/lease-table/items';
import { LEASE_TABLE_TTL_ATTRIBUTE } from '../../../functions/adapters/lease-table/schema';
import { releaseLock } from '../../../functions/adapters/lease-table/subject-lock';
import { ConcurrentModificationError } from '../../../functions/core/errors';
import { EMPTY_SUBJECT_STATE } from '../../../functions/core/model';
import { ensureLeaseTable } from '../../../infra/local/lease-table';
import { acquireLock, aLease, anAudit, DAY, ended, NOW, OTHER_SUBJECT, SUBJECT } from './fixtures';
import { useDynamoDbLocal } from './local-table';

/** What a LeaseStore built without options writes its items with. */
const DEFAULT_ITEM_OPTIONS: ItemOptions = { dueShards: 8, retentionSeconds: 90 * DAY };

describe('Lease records on DynamoDB Local', () => {
  const db = useDynamoDbLocal();

  describe('ensureLeaseTable', () => {
    it('creates the table with its indexes and TTL, and is idempotent', async () => {
      // Arrange
      const tableName = 'ensure-twice';

      // Act
      await ensureLeaseTable(db.client, tableName);
      await ensureLeaseTable(db.client, tableName);

      // Assert
      const { Table } = await db.client.send(new DescribeTableCommand({ TableName: tableName }));
      expect(Table?.TableStatus).toBe('ACTIVE');
      expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual([
        'due',
        'subject-audit',
      ]);
      const ttl = await db.client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
      expect(ttl.TimeToLiveDescription).toMatchObject({
        TimeToLiveStatus: 'ENABLED',
        AttributeName: LEASE_TABLE_TTL_ATTRIBUTE,
      });
    });
  });

  describe('createLease', () => {
    it('records the lease, readable by requestId and by subject', async () => {
      // Arrange
      const { store } = await db.freshStore();
      const lease = aLease();

      // Act
      const result = await store.createLease(lease, anAudit(lease, 'granted', NOW * 1000));

      // Assert
      expect(result).toEqual({ created: true });
      await expect(store.findLease('req-1')).resolves.toStrictEqual(lease);
      expect((await store.readSubject(SUBJECT)).leases).toStrictEqual([lease]);
      await expect(store.findLease('unknown')).resolves.toBeUndefined();
    });

    it('reports a duplicate with the same fingerprint and writes nothing more', async () => {
      // Arrange
      const { store } = await db.freshStore();
      const lease = aLease();
      await store.createLease(lease, anAudit(lease, 'granted', NOW * 1000));

      // Act
      const result = await store.createLease(lease, anAudit(lease, 'granted', NOW * 1000 + 5));

      // Assert
      expect(result).toStrictEqual({ created: false, existing: lease, fingerprint: 'fp-1' });
      await expect(store.history('req-1')).resolves.toHaveLength(1);
    });

    it('reports the existing grant when the requestId is reused with other content, even for another subject', async () => {
      // Arrange
      const { store } = await db.freshStore();
      const original = aLease();
      await store.createLease(original, anAudit(original, 'granted', NOW * 1000));
      const reuse = aLease({ ...OTHER_SUBJECT, fingerprint: 'fp-other' });

      // Act
      const result = await store.createLease(reuse, anAudit(reuse, 'granted', NOW * 1000 + 5));

      // Assert
      expect(result).toStrictEqual({ created: false, existing: original, fingerprint: 'fp-1' });
      expect((await store.readSubject(OTHER_SUBJECT)).leases).toEqual([]);
    });
  });

  describe('createLease with the subject lock', () => {
    const LOCKING = { lock: { owner: 'owner-a', now: NOW, ttlSeconds: 30 } };

    it('takes the lock in the same request as the lease, for the one owner', async () => {
      // Arrange
      const { store, table } = await db.freshStore();
      const lease = aLease({ status: 'pending', grantedAt: undefined });
      const before = db.counts.requests;

      // Act
      const result = await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000), LOCKING);

      // Assert
      expect(db.counts.requests - before).toBe(1);
      expect(result.created && result.lock?.owner).toBe('owner-a');
      await expect(store.findLease(lease.requestId)).resolves.toEqual(lease);
      await expect(acquireLock(table, SUBJECT, 'owner-b', NOW + 1, 30)).resolves.toBe(false);
      const ran = await store.withLock(
        SUBJECT,
        'owner-a',
        () => NOW + 1,
        async (lock) => lock.owner,
        {
          waitMs: 0,
          ...(result.created && result.lock ? { held: result.lock } : {}),
        },
      );
      expect(ran).toBe('owner-a');
      await expect(acquireLock(table, SUBJECT, 'owner-b', NOW + 1, 30)).resolves.toBe(true);
    });

    it('creates the lease without the lock while another owner holds it, and leaves that lock alone', async () => {
      // Arrange
      const { store, table } = await db.freshStore();
      await acquireLock(table, SUBJECT, 'owner-b', NOW, 30);
      const lease = aLease({ status: 'pending', grantedAt: undefined });

      // Act
      const result = await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000), LOCKING);

      // Assert
      expect(result).toEqual({ created: true });
      await expect(store.findLease(lease.requestId)).resolves.toEqual(lease);
      await expect(acquireLock(table, SUBJECT, 'owner-a', NOW + 1, 30)).resolves.toBe(false);
      await expect(releaseLock(table, SUBJECT, 'owner-b')).resolves.toBe(true);
    });

    it('takes no lock for a repeated requestId, and tells the repeat in as many requests as without it', async () => {
      // Arrange
      const { store, table } = await db.freshStore();
      const lease = aLease({ status: 'pending', grantedAt: undefined });
      await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000));
      const before = db.counts.requests;

      // Act
      const result = await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000 + 5), LOCKING);

      // Assert
      expect(result).toEqual({ created: false, existing: lease, fingerprint: lease.fingerprint });
      // The cancelled transaction says which item refused (DynamoDB's CancellationReasons), so the
      // repeat costs what it would without the lock: the transaction and the two reads of what is there.
      expect(db.counts.requests - before).toBe(3);
      await expect(acquireLock(table, SUBJECT, 'owner-b', NOW + 1, 30)).resolves.toBe(true);
    });

    it('refuses a held lock handed to withLock for another owner or subject', async () => {
      // Arrange
      const { store } = await db.freshStore();
      const lease = aLease({ status: 'pending', grantedAt: undefined });
      const result = await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000), LOCKING);
      const held = result.created ? result.lock : undefined;
      if (!held) throw new Error('expected the lock');

      // Act
      const asOther = store.withLock(
        SUBJECT,
        'owner-b',
        () => NOW,
        async () => 'ran',
        { held },
      );
      const onOther = store.withLock(
        OTHER_SUBJECT,
        'owner-a',
        () => NOW,
        async () => 'ran',
        { held },
      );

      // Assert
      await expect(asOther).rejects.toThrow(/not owner-b's/);
      await expect(onOther).rejects.toThrow(/not owner-a's/);
    });
  });

  describe('readSubject', () => {
    it('sees a lease right after it is written and leaves out ended leases and other subjects', async () => {
      // Arrange
      const { store } = await db.freshStore();
      const first = aLease({ requestId: 'req-1' });
      const { ticket: _, ...second } = aLease({ requestId: 'req-2', accessScope: { type: 'cluster' } });
      const other = aLease({ requestId: 'req-3', ...OTHER_SUBJECT });
      for (const lease of [first, second, other])
        await store.createLease(lease, anAudit(lease, 'granted', NOW * 1000));
      await store.saveLease(ended(first, NOW + 60), 1, anAudit(first, 'revoked', (NOW + 60) * 1000));

      // Act
      const live = (await store.readSubject(SUBJECT)).leases;
      const third = aLease({ requestId: 'req-4', status: 'pending', grantedAt: undefined });
      await store.createLease(third, anAudit(third, 'requested', NOW * 1000));
      const afterWrite = (await store.readSubject(SUBJECT)).leases;

      // Assert
      expect(live).toStrictEqual([second]);
      expect(afterWrite.map((lease) => lease.requestId)).toEqual(['req-2', 'req-4']);
    });

    it('reads the subject state with the leases, in one request, under a lock taken with a lease', async () => {
      // Arrange
      const { store } = await db.freshStore();
      const state = { entryOwned: true, touched: { [aLease().policyArn]: null } };
      const lease = aLease({ status: 'pending', grantedAt: undefined });
      const created = await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000), {
        lock: { owner: 'owner-a', now: NOW },
      });
      const empty = await store.readSubject(SUBJECT);
      await store.saveSubjectState(SUBJECT, state, 'owner-a');
      const before = db.counts.requests;

      // Act
      const records = await store.readSubject(SUBJECT);

      // Assert
      expect(created.created && created.lock !== undefined).toBe(true);
      expect(empty).toEqual({ leases: [lease], state: EMPTY_SUBJECT_STATE });
      expect(records).toEqual({ leases: [lease], state });
      expect(db.counts.requests - before).toBe(1);
    });
  });

  describe('saveLease', () => {
    it('lets exactly one of two saves from the same version win', async () => {
      // Arrange
      const { store } = await db.freshStore();
      const lease = aLease();
      await store.createLease(lease, anAudit(lease, 'granted', NOW * 1000));
      const extended = { ...lease, expiresAt: lease.expiresAt + 1800 };
      const revoked = ended(lease, NOW + 10);

      // Act
      const outcomes = await Promise.allSettled([
        store.saveLease(extended, 1, anAudit(lease, 'extended', NOW * 1000 + 10)),
        store.saveLease(revoked, 1, anAudit(lease, 'revoked', NOW * 1000 + 10)),
      ]);

      // Assert
      const winners = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      const losers = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(1);
      expect(losers[0]).toBeInstanceOf(ConcurrentModificationError);
      const stored = await store.findLease('req-1');
      expect(stored?.version).toBe(2);
      const history = await store.history('req-1');
      expect(history.map((event) => event.type)).toEqual([
        'granted',
        winners[0]?.value.status === 'ended' ? 'revoked' : 'extended',
      ]);
    });

    it('refuses a stale end whose audit key collides with the winner of the race', async () => {
      // Arrange
      const { store } = await db.freshStore();
      const lease = aLease();
      await store.createLease(lease, anAudit(lease, 'granted', NOW * 1000));
      await store.saveLease(
        { ...lease, expiresAt: NOW + 7200 },
        1,
        anAudit(lease, 'extended', NOW * 1000 + 10),
      );

      // Act
      const stale = await store
        .saveLease(ended(lease, NOW + 10), 1, anAudit(lease, 'revoked', NOW * 1000 + 10))
        .catch((error: unknown) => error);

      // Assert
      expect(stale).toBeInstanceOf(ConcurrentModificationError);
      const history = await store.history('req-1');
      expect(history.map((event) => event.type)).toEqual(['granted', 'extended']);
    });

    it('returns the lease with the next version and refuses a stale version', async () => {
      // Arrange
      const { store } = await db.freshStore();
      const lease = aLease();
      await store.createLease(lease, anAudit(lease, 'granted', NOW * 1000));

      // Act
      const saved = await store.saveLease(
        { ...lease, lastError: 'throttled once' },
        1,
        anAudit(lease, 'noted', 1),
      );
      const stale = await store
        .saveLease(lease, 1, anAudit(lease, 'noted', 2))
        .catch((error: unknown) => error);

      // Assert
      expect(saved).toStrictEqual({ ...lease, lastError: 'throttled once', version: 2 });
      await expect(store.findLease('req-1')).resolves.toStrictEqual(saved);
      expect(stale).toBeInstanceOf(ConcurrentModificationError);
    });
  });

  describe('bulkItems', () => {
    it('loads leases and subject state in bulk in the items the store writes itself', async () => {
      // Arrange
      const { store, tableName } = await db.freshStore();
      const lease = aLease({ requestId: 'bulk-1', expiresAt: NOW - 5 });
      const state = { entryOwned: true, touched: {} };
      const items = bulkItems(lease, DEFAULT_ITEM_OPTIONS, state);

      // Act
      for (const item of [items.lease, items.pointer, items.subject]) {
        await db.documentClient.send(new PutCommand({ TableName: tableName, Item: item }));
      }

      // Assert
      await expect(store.findLease('bulk-1')).resolves.toStrictEqual(lease);
      expect((await store.readSubject(SUBJECT)).state).toStrictEqual(state);
      await expect(store.dueLeases(NOW, 10)).resolves.toStrictEqual([lease]);
    });
  });

  describe('TTL', () => {
    it('sets purgeAt only on ended leases, with their pointer and audit items, and takes them off the due index', async () => {
      // Arrange
      const { store, tableName } = await db.freshStore({ retentionDays: 7 });
      const lease = aLease();
      const pk = `S#${SUBJECT.clusterName}#${SUBJECT.principalArn}`;
      await store.createLease(lease, anAudit(lease, 'granted', NOW * 1000));
      const extended = await store.saveLease(
        { ...lease, expiresAt: NOW + 7200 },
        1,
        anAudit(lease, 'extended', 1),
      );
      const activeItem = await db.rawItem(tableName, pk, 'L#req-1');

      // Act
      await store.saveLease(ended(extended, NOW + 100), 2, anAudit(lease, 'revoked', NOW * 1000 + 100));

      // Assert
      expect(activeItem).not.toHaveProperty(LEASE_TABLE_TTL_ATTRIBUTE);
      expect(activeItem).toMatchObject({ dueAt: NOW + 7200, dueShard: expect.stringMatching(/^[0-7]$/) });
      const purgeAt = NOW + 100 + 7 * DAY;
      const endedItem = await db.rawItem(tableName, pk, 'L#req-1');
      expect(endedItem[LEASE_TABLE_TTL_ATTRIBUTE]).toBe(purgeAt);
      expect(endedItem).not.toHaveProperty('dueAt');
      expect(endedItem).not.toHaveProperty('dueShard');
      expect((await db.rawItem(tableName, 'R#req-1', 'R'))[LEASE_TABLE_TTL_ATTRIBUTE]).toBe(purgeAt);
      const { Items: requestItems = [] } = await db.documentClient.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': 'R#req-1' },
        }),
      );
      expect(requestItems).toHaveLength(4);
      expect(requestItems.map((item) => item[LEASE_TABLE_TTL_ATTRIBUTE])).toEqual([
        purgeAt,
        purgeAt,
        purgeAt,
        purgeAt,
      ]);
    });

    it('leaves no purgeAt anywhere while leases are live', async () => {
      // Arrange
      const { store, tableName } = await db.freshStore();
      const lease = aLease({ status: 'pending' });
      await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000));

      // Act
      await store.saveLease({ ...lease, status: 'active' }, 1, anAudit(lease, 'granted', NOW * 1000 + 1));
      await store.saveLease(
        { ...lease, status: 'irrevocable' },
        2,
        anAudit(lease, 'revocation-failed', NOW * 1000 + 2),
      );

      // Assert
      const { Items = [] } = await db.client.send(
        new RawQueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: 'R#req-1' } },
        }),
      );
      expect(Items).toHaveLength(4);
      for (const item of Items) expect(item).not.toHaveProperty(LEASE_TABLE_TTL_ATTRIBUTE);
    });
  });
});

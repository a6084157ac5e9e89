import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  QueryCommand as RawQueryCommand,
} from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEvent, LeaseStore, leaseDocumentClient } from '../../functions/adapters/lease-store';
import { ConcurrentModificationError, SubjectBusyError } from '../../functions/core/errors';
import { EMPTY_SUBJECT_STATE, type Lease, type Subject } from '../../functions/core/model';
import { ensureLeaseTable, LEASE_TABLE_TTL_ATTRIBUTE } from '../../infra/lease-table';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../infra/local/dynamodb-local';
import { LOCAL_CREDENTIALS } from '../support/aws';

const NOW = 1_780_000_000;
const DAY = 86_400;
const SUBJECT: Subject = { clusterName: 'demo', principalArn: 'arn:aws:iam::111122223333:role/dev' };
const OTHER_SUBJECT: Subject = { clusterName: 'demo', principalArn: 'arn:aws:iam::111122223333:role/ops' };

function aLease(overrides: Partial<Lease> = {}): Lease {
  return {
    requestId: 'req-1',
    ...SUBJECT,
    policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
    accessScope: { type: 'namespace', namespaces: ['team-a', 'team-b'] },
    status: 'active',
    breakGlass: false,
    requestedBy: 'alice@example.com',
    reason: 'debug a failing rollout',
    ticket: { system: 'jira', key: 'OPS-42', url: 'https://jira.example.com/browse/OPS-42' },
    ruleId: 'developers-view',
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

function anAudit(lease: Lease, type: string, at: number, detail?: Record<string, unknown>): AuditEvent {
  return {
    type,
    at,
    actor: 'broker',
    requestId: lease.requestId,
    ...(detail === undefined ? {} : { detail }),
  };
}

function ended(lease: Lease, endedAt: number): Lease {
  return { ...lease, status: 'ended', endedAt, endReason: 'requested' };
}

describe('LeaseStore on DynamoDB Local', () => {
  let local: DynamoDbLocal;
  let client: DynamoDBClient;
  let documentClient: DynamoDBDocumentClient;
  let tables = 0;

  beforeAll(async () => {
    local = await startDynamoDbLocal();
    client = new DynamoDBClient({
      endpoint: local.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    documentClient = leaseDocumentClient(client);
  });

  afterAll(async () => {
    client?.destroy();
    await local?.stop();
  });

  /** A table per test: tests stay independent without cleanup. */
  async function freshStore(
    options: { retentionDays?: number; dueShards?: number } = {},
  ): Promise<{ store: LeaseStore; tableName: string }> {
    tables += 1;
    const tableName = `leases-${tables}`;
    await ensureLeaseTable(client, tableName);
    return { store: new LeaseStore({ client: documentClient, tableName, ...options }), tableName };
  }

  async function rawItem(tableName: string, pk: string, sk: string): Promise<Record<string, unknown>> {
    const { Item } = await documentClient.send(new GetCommand({ TableName: tableName, Key: { pk, sk } }));
    if (Item === undefined) throw new Error(`no item ${pk} ${sk}`);
    return Item;
  }

  describe('ensureLeaseTable', () => {
    it('creates the table with its indexes and TTL, and is idempotent', async () => {
      // Arrange
      const tableName = 'ensure-twice';

      // Act
      await ensureLeaseTable(client, tableName);
      await ensureLeaseTable(client, tableName);

      // Assert
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      expect(Table?.TableStatus).toBe('ACTIVE');
      expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual([
        'due',
        'subject-audit',
      ]);
      const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
      expect(ttl.TimeToLiveDescription).toMatchObject({
        TimeToLiveStatus: 'ENABLED',
        AttributeName: LEASE_TABLE_TTL_ATTRIBUTE,
      });
    });
  });

  describe('createLease', () => {
    it('records the lease, readable by requestId and by subject', async () => {
      // Arrange
      const { store } = await freshStore();
      const lease = aLease();

      // Act
      const result = await store.createLease(lease, anAudit(lease, 'granted', NOW * 1000));

      // Assert
      expect(result).toEqual({ created: true });
      await expect(store.findLease('req-1')).resolves.toStrictEqual(lease);
      await expect(store.leasesOf(SUBJECT)).resolves.toStrictEqual([lease]);
      await expect(store.findLease('unknown')).resolves.toBeUndefined();
    });

    it('reports a duplicate with the same fingerprint and writes nothing more', async () => {
      // Arrange
      const { store } = await freshStore();
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
      const { store } = await freshStore();
      const original = aLease();
      await store.createLease(original, anAudit(original, 'granted', NOW * 1000));
      const reuse = aLease({ ...OTHER_SUBJECT, fingerprint: 'fp-other' });

      // Act
      const result = await store.createLease(reuse, anAudit(reuse, 'granted', NOW * 1000 + 5));

      // Assert
      expect(result).toStrictEqual({ created: false, existing: original, fingerprint: 'fp-1' });
      await expect(store.leasesOf(OTHER_SUBJECT)).resolves.toEqual([]);
    });
  });

  describe('createLease with the subject lock', () => {
    const LOCKING = { lock: { owner: 'owner-a', now: NOW, ttlSeconds: 30 } };

    it('takes the lock in the same request as the lease, for the one owner', async () => {
      // Arrange
      const { store } = await freshStore();
      const lease = aLease({ status: 'pending', grantedAt: undefined });
      const before = store.stats.requests;

      // Act
      const result = await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000), LOCKING);

      // Assert
      expect(store.stats.requests - before).toBe(1);
      expect(result.created && result.lock?.owner).toBe('owner-a');
      await expect(store.findLease(lease.requestId)).resolves.toEqual(lease);
      await expect(store.acquireLock(SUBJECT, 'owner-b', NOW + 1, 30)).resolves.toBe(false);
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
      await expect(store.acquireLock(SUBJECT, 'owner-b', NOW + 1, 30)).resolves.toBe(true);
    });

    it('creates the lease without the lock while another owner holds it, and leaves that lock alone', async () => {
      // Arrange
      const { store } = await freshStore();
      await store.acquireLock(SUBJECT, 'owner-b', NOW, 30);
      const lease = aLease({ status: 'pending', grantedAt: undefined });

      // Act
      const result = await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000), LOCKING);

      // Assert
      expect(result).toEqual({ created: true });
      await expect(store.findLease(lease.requestId)).resolves.toEqual(lease);
      await expect(store.acquireLock(SUBJECT, 'owner-a', NOW + 1, 30)).resolves.toBe(false);
      await expect(store.releaseLock(SUBJECT, 'owner-b')).resolves.toBe(true);
    });

    it('takes no lock for a repeated requestId, and tells the repeat in as many requests as without it', async () => {
      // Arrange
      const { store } = await freshStore();
      const lease = aLease({ status: 'pending', grantedAt: undefined });
      await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000));
      const before = store.stats.requests;

      // Act
      const result = await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000 + 5), LOCKING);

      // Assert
      expect(result).toEqual({ created: false, existing: lease, fingerprint: lease.fingerprint });
      // The cancelled transaction says which item refused (DynamoDB's CancellationReasons), so the
      // repeat costs what it would without the lock: the transaction and the two reads of what is there.
      expect(store.stats.requests - before).toBe(3);
      await expect(store.acquireLock(SUBJECT, 'owner-b', NOW + 1, 30)).resolves.toBe(true);
    });

    it('refuses a held lock handed to withLock for another owner or subject', async () => {
      // Arrange
      const { store } = await freshStore();
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

  describe('leasesOf', () => {
    it('sees a lease right after it is written and leaves out ended leases and other subjects', async () => {
      // Arrange
      const { store } = await freshStore();
      const first = aLease({ requestId: 'req-1' });
      const { ticket: _, ...second } = aLease({ requestId: 'req-2', accessScope: { type: 'cluster' } });
      const other = aLease({ requestId: 'req-3', ...OTHER_SUBJECT });
      for (const lease of [first, second, other])
        await store.createLease(lease, anAudit(lease, 'granted', NOW * 1000));
      await store.saveLease(ended(first, NOW + 60), 1, anAudit(first, 'revoked', (NOW + 60) * 1000));

      // Act
      const live = await store.leasesOf(SUBJECT);
      const third = aLease({ requestId: 'req-4', status: 'pending', grantedAt: undefined });
      await store.createLease(third, anAudit(third, 'requested', NOW * 1000));
      const afterWrite = await store.leasesOf(SUBJECT);

      // Assert
      expect(live).toStrictEqual([second]);
      expect(afterWrite.map((lease) => lease.requestId)).toEqual(['req-2', 'req-4']);
    });

    it('reads the subject state with the leases, in one request, under a lock taken with a lease', async () => {
      // Arrange
      const { store } = await freshStore();
      const state = { entryOwned: true, touched: { [aLease().policyArn]: null } };
      const lease = aLease({ status: 'pending', grantedAt: undefined });
      const created = await store.createLease(lease, anAudit(lease, 'requested', NOW * 1000), {
        lock: { owner: 'owner-a', now: NOW },
      });
      const empty = await store.readSubject(SUBJECT);
      await store.saveSubjectState(SUBJECT, state, 'owner-a');
      const before = store.stats.requests;

      // Act
      const records = await store.readSubject(SUBJECT);

      // Assert
      expect(created.created && created.lock !== undefined).toBe(true);
      expect(empty).toEqual({ leases: [lease], state: EMPTY_SUBJECT_STATE });
      expect(records).toEqual({ leases: [lease], state });
      expect(store.stats.requests - before).toBe(1);
    });
  });

  describe('saveLease', () => {
    it('lets exactly one of two saves from the same version win', async () => {
      // Arrange
      const { store } = await freshStore();
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
      const { store } = await freshStore();
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
      const { store } = await freshStore();
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

  describe('dueLeases', () => {
    it('finds the 5 due leases of 300, oldest first, reading about as many items as are due', async () => {
      // Arrange
      const { store } = await freshStore();
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
      const before = { ...store.stats };

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
      expect(store.stats.itemsRead - before.itemsRead).toBe(10);
      expect(store.stats.requests - before.requests).toBe(9);
    });

    it('honours the limit, drops leases that ended, and holds back a lease until its next attempt', async () => {
      // Arrange
      const { store } = await freshStore({ dueShards: 3 });
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
      const { store } = await freshStore();
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
      const before = { ...store.stats };

      // Act
      const first = await store.dueKeys(NOW, 20);
      const reads = store.stats.itemsRead - before.itemsRead;
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

  describe('history', () => {
    it('keeps every transition of a request in order, and the subject history across requests', async () => {
      // Arrange
      const { store } = await freshStore();
      const lease = aLease({ status: 'pending', grantedAt: undefined });
      const other = aLease({ requestId: 'req-2' });
      const t = NOW * 1000;

      // Act
      await store.createLease(lease, anAudit(lease, 'requested', t));
      const granted = await store.saveLease(
        { ...lease, status: 'active', grantedAt: NOW },
        1,
        anAudit(lease, 'granted', t + 1, { scope: ['team-a', 'team-b'], note: undefined }),
      );
      await store.createLease(other, anAudit(other, 'granted', t + 2));
      // Same millisecond as the grant: the version in the key keeps them apart and in order.
      const extended = await store.saveLease(
        { ...granted, expiresAt: granted.expiresAt + 600 },
        2,
        anAudit(lease, 'extended', t + 1, { addedSeconds: 600 }),
      );
      await store.saveLease(ended(extended, NOW + 5), 3, anAudit(lease, 'revoked', t + 5000));

      // Assert
      const history = await store.history('req-1');
      expect(history).toStrictEqual([
        { type: 'requested', at: t, actor: 'broker', requestId: 'req-1' },
        {
          type: 'granted',
          at: t + 1,
          actor: 'broker',
          requestId: 'req-1',
          detail: { scope: ['team-a', 'team-b'] },
        },
        { type: 'extended', at: t + 1, actor: 'broker', requestId: 'req-1', detail: { addedSeconds: 600 } },
        { type: 'revoked', at: t + 5000, actor: 'broker', requestId: 'req-1' },
      ]);
      const subjectHistory = await store.subjectHistory(SUBJECT);
      expect(subjectHistory.map((event) => [event.requestId, event.type])).toEqual([
        ['req-1', 'requested'],
        ['req-1', 'granted'],
        ['req-1', 'extended'],
        ['req-2', 'granted'],
        ['req-1', 'revoked'],
      ]);
      const latestTwo = await store.subjectHistory(SUBJECT, 2);
      expect(latestTwo.map((event) => event.type)).toEqual(['granted', 'revoked']);
      await expect(store.subjectHistory(OTHER_SUBJECT)).resolves.toEqual([]);
    });
  });

  describe('subject lock and state', () => {
    it('is exclusive between owners, re-entrant for its owner, and taken over once expired', async () => {
      // Arrange
      const { store } = await freshStore();

      // Act
      const a = await store.acquireLock(SUBJECT, 'owner-a', NOW, 30);
      const b = await store.acquireLock(SUBJECT, 'owner-b', NOW + 29, 30);
      const aAgain = await store.acquireLock(SUBJECT, 'owner-a', NOW + 29, 30);
      const bBeforeExpiry = await store.acquireLock(SUBJECT, 'owner-b', NOW + 58, 30);
      const bAfterExpiry = await store.acquireLock(SUBJECT, 'owner-b', NOW + 59, 30);
      const otherSubject = await store.acquireLock(OTHER_SUBJECT, 'owner-a', NOW + 59, 30);

      // Assert
      expect([a, b, aAgain, bBeforeExpiry, bAfterExpiry, otherSubject]).toEqual([
        true,
        false,
        true,
        false,
        true,
        true,
      ]);
      await expect(store.releaseLock(SUBJECT, 'owner-a')).resolves.toBe(false);
      await expect(store.releaseLock(SUBJECT, 'owner-b')).resolves.toBe(true);
      await expect(store.acquireLock(SUBJECT, 'owner-c', NOW + 60, 30)).resolves.toBe(true);
    });

    it('saves the subject state only for the lock holder', async () => {
      // Arrange
      const { store } = await freshStore();
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
      const emptyWithLockOnly = (await store.acquireLock(SUBJECT, 'owner-a', NOW, 30))
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
      const { store } = await freshStore();
      const clock = () => NOW;
      let heldDuringWork = true;

      // Act
      const failure = store.withLock(SUBJECT, 'owner-a', clock, async () => {
        heldDuringWork = !(await store.acquireLock(SUBJECT, 'owner-b', NOW, 30));
        throw new Error('EKS said no');
      });

      // Assert
      await expect(failure).rejects.toThrow('EKS said no');
      expect(heldDuringWork).toBe(true);
      await expect(
        store.withLock(SUBJECT, 'owner-b', clock, async () => 'done', { waitMs: 0 }),
      ).resolves.toBe('done');
      await expect(store.acquireLock(SUBJECT, 'owner-c', NOW, 30)).resolves.toBe(true);
    });

    it('withLock gives up with SubjectBusyError after waitMs, and gets the lock once it is freed', async () => {
      // Arrange
      const { store } = await freshStore();
      await store.acquireLock(SUBJECT, 'owner-a', NOW, 30);
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
      setTimeout(() => void store.releaseLock(SUBJECT, 'owner-a'), 150);
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
      const { store } = await freshStore();
      const state = {
        entryOwned: true,
        touched: { 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy': null },
      };
      await store.acquireLock(SUBJECT, 'setup', NOW, 30);
      await store.saveSubjectState(SUBJECT, state, 'setup');
      await store.releaseLock(SUBJECT, 'setup');
      const before = store.stats.requests;

      // Act
      const seen = await store.withLock(
        SUBJECT,
        'owner-a',
        () => NOW,
        async (lock) => {
          const first = lock.state;
          const released = await lock.release();
          const takenMeanwhile = await store.acquireLock(SUBJECT, 'owner-b', NOW, 30);
          return { first, released, takenMeanwhile };
        },
      );

      // Assert: one request to take the lock (no read), one to free it, one by owner-b; withLock frees no more.
      expect(seen).toStrictEqual({ first: state, released: true, takenMeanwhile: true });
      expect(store.stats.requests - before).toBe(3);
      await expect(store.releaseLock(SUBJECT, 'owner-b')).resolves.toBe(true);
    });

    it('frees the lock along with the lease save, or saves alone if the lock was taken over meanwhile', async () => {
      // Arrange
      const { store } = await freshStore();
      const first = aLease({ requestId: 'unlock-1', status: 'pending' });
      const second = aLease({ requestId: 'unlock-2', status: 'pending' });
      for (const lease of [first, second]) await store.createLease(lease, anAudit(lease, 'requested', NOW));
      const before = store.stats.requests;

      // Act
      const freed = await store.withLock(
        SUBJECT,
        'owner-a',
        () => NOW,
        async (lock) => {
          await store.saveLease({ ...first, status: 'active' }, 1, anAudit(first, 'granted', NOW + 1), {
            unlock: lock,
          });
          return store.acquireLock(SUBJECT, 'owner-b', NOW, 30);
        },
      );
      const requests = store.stats.requests - before;
      // owner-a's lock expires while it works, and owner-c takes it over.
      const kept = await store.withLock(
        SUBJECT,
        'owner-a',
        () => NOW + 100,
        async (lock) => {
          await store.acquireLock(SUBJECT, 'owner-c', NOW + 200, 30);
          const saved = await store.saveLease(
            { ...second, status: 'active' },
            1,
            anAudit(second, 'granted', NOW + 201),
            {
              unlock: lock,
            },
          );
          return { saved, heldByC: !(await store.acquireLock(SUBJECT, 'owner-d', NOW + 201, 30)) };
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

    it('loads leases and subject state in bulk in the items the store writes itself', async () => {
      // Arrange
      const { store, tableName } = await freshStore();
      const lease = aLease({ requestId: 'bulk-1', expiresAt: NOW - 5 });
      const state = { entryOwned: true, touched: {} };
      const items = store.bulkItems(lease, state);

      // Act
      for (const item of [items.lease, items.pointer, items.subject]) {
        await documentClient.send(new PutCommand({ TableName: tableName, Item: item }));
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
      const { store, tableName } = await freshStore({ retentionDays: 7 });
      const lease = aLease();
      const pk = `S#${SUBJECT.clusterName}#${SUBJECT.principalArn}`;
      await store.createLease(lease, anAudit(lease, 'granted', NOW * 1000));
      const extended = await store.saveLease(
        { ...lease, expiresAt: NOW + 7200 },
        1,
        anAudit(lease, 'extended', 1),
      );
      const activeItem = await rawItem(tableName, pk, 'L#req-1');

      // Act
      await store.saveLease(ended(extended, NOW + 100), 2, anAudit(lease, 'revoked', NOW * 1000 + 100));

      // Assert
      expect(activeItem).not.toHaveProperty(LEASE_TABLE_TTL_ATTRIBUTE);
      expect(activeItem).toMatchObject({ dueAt: NOW + 7200, dueShard: expect.stringMatching(/^[0-7]$/) });
      const purgeAt = NOW + 100 + 7 * DAY;
      const endedItem = await rawItem(tableName, pk, 'L#req-1');
      expect(endedItem[LEASE_TABLE_TTL_ATTRIBUTE]).toBe(purgeAt);
      expect(endedItem).not.toHaveProperty('dueAt');
      expect(endedItem).not.toHaveProperty('dueShard');
      expect((await rawItem(tableName, 'R#req-1', 'R'))[LEASE_TABLE_TTL_ATTRIBUTE]).toBe(purgeAt);
      const { Items: requestItems = [] } = await documentClient.send(
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
      const { store, tableName } = await freshStore();
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
      const { Items = [] } = await client.send(
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

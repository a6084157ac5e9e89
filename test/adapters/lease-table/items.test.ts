import { describe, expect, it } from 'vitest';
import {
  auditFromItem,
  auditItem,
  bulkItems,
  dueLeaseFromItem,
  type ItemOptions,
  leaseFromItem,
  leaseItem,
  pointerItem,
  subjectStateFromItem,
} from '../../../functions/adapters/lease-table/items';
import { auditSk, dueShardOf, leaseOfKey } from '../../../functions/adapters/lease-table/schema';
import { PermanentError } from '../../../functions/core/errors';
import { EMPTY_SUBJECT_STATE } from '../../../functions/core/model';
import { aLease, anAudit, DAY, ended, NOW, SUBJECT } from './fixtures';

const OPTIONS: ItemOptions = { dueShards: 8, retentionSeconds: 7 * DAY };
const SUBJECT_PK = 'S#demo#arn:aws:iam::111122223333:role/dev';
const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('Lease table items, mapped without a request', () => {
  describe('keys', () => {
    it('pads the audit sort key so that string order is time order, then version order', () => {
      // Act
      const keys = [auditSk(NOW * 1000, 2), auditSk(999, 10), auditSk(999, 9)];

      // Assert
      expect(keys).toEqual([
        `A#00${NOW * 1000}#0000000002`,
        'A#000000000000999#0000000010',
        'A#000000000000999#0000000009',
      ]);
      expect([...keys].sort()).toEqual([keys[2], keys[1], keys[0]]);
    });

    it('reads the subject and requestId back from a lease key, the principal ARN with its path', () => {
      // Act
      const lease = leaseOfKey({ pk: 'S#demo#arn:aws:iam::111122223333:role/path/dev', sk: 'L#req-1' });
      const pointer = leaseOfKey({ pk: 'R#req-1', sk: 'R' });

      // Assert
      expect(lease).toStrictEqual({
        clusterName: 'demo',
        principalArn: 'arn:aws:iam::111122223333:role/path/dev',
        requestId: 'req-1',
      });
      expect(pointer).toBeUndefined();
    });

    it('hashes a requestId to the same due shard in every process', () => {
      // Act
      const shards = [dueShardOf('req-1', 8), dueShardOf('req-1', 3), dueShardOf('req-1', 1)];

      // Assert
      expect(shards).toEqual(['1', '0', '0']);
    });
  });

  describe('leases', () => {
    it('puts a live lease on the due index, without purgeAt, and reads it back unchanged', () => {
      // Arrange
      const lease = aLease({ nextAttemptAt: NOW + 60, revokeAttempts: 1, extensions: ['ext-1'] });

      // Act
      const item = leaseItem(lease, OPTIONS);

      // Assert
      expect(item).toStrictEqual({
        pk: SUBJECT_PK,
        sk: 'L#req-1',
        kind: 'lease',
        ...lease,
        dueShard: '1',
        dueAt: NOW + 60,
      });
      expect(leaseFromItem(item)).toStrictEqual(lease);
    });

    it('takes an ended lease off the due index and stamps purgeAt, retention after it ended', () => {
      // Arrange
      const lease = ended(aLease(), NOW + 100);

      // Act
      const item = leaseItem(lease, OPTIONS);

      // Assert
      expect(item).not.toHaveProperty('dueShard');
      expect(item).not.toHaveProperty('dueAt');
      expect(item.purgeAt).toBe(NOW + 100 + 7 * DAY);
      expect(leaseFromItem(item)).toStrictEqual(lease);
    });

    it('refuses an ended lease without endedAt, and a stored lease it cannot map, as PermanentErrors', () => {
      // Arrange
      const { endedAt: _, ...noEnd } = ended(aLease(), NOW);
      const stored = leaseItem(aLease(), OPTIONS);

      // Act
      const unwritable = caught(() => leaseItem(noEnd, OPTIONS));
      const unreadable = caught(() => leaseFromItem({ ...stored, accessScope: { type: 'everything' } }));

      // Assert
      expect(unwritable).toBeInstanceOf(PermanentError);
      expect(unreadable).toBeInstanceOf(PermanentError);
      expect((unreadable as Error).message).toBe(
        `Lease table item ${SUBJECT_PK} L#req-1 has a missing or invalid accessScope`,
      );
    });
  });

  describe('pointers, audit events and due entries', () => {
    it('keeps the subject and fingerprint of a grant on its pointer, with purgeAt once ended', () => {
      // Act
      const live = pointerItem(aLease(), undefined);
      const purged = pointerItem(aLease(), NOW);

      // Assert
      expect(live).toStrictEqual({
        pk: 'R#req-1',
        sk: 'R',
        kind: 'pointer',
        requestId: 'req-1',
        clusterName: 'demo',
        principalArn: 'arn:aws:iam::111122223333:role/dev',
        fingerprint: 'fp-1',
      });
      expect(purged).toStrictEqual({ ...live, purgeAt: NOW });
    });

    it('keys an audit event by time and lease version, drops undefined detail fields, and reads it back', () => {
      // Arrange
      const audit = anAudit(aLease(), 'granted', NOW * 1000, { scope: ['a', undefined], note: undefined });

      // Act
      const item = auditItem(audit, SUBJECT, 2, undefined);

      // Assert
      expect(item).toStrictEqual({
        pk: 'R#req-1',
        sk: auditSk(NOW * 1000, 2),
        kind: 'audit',
        requestId: 'req-1',
        eventType: 'granted',
        actor: 'broker',
        detail: { scope: ['a'] },
        leaseVersion: 2,
        clusterName: 'demo',
        principalArn: 'arn:aws:iam::111122223333:role/dev',
        auditSubject: SUBJECT_PK,
        auditAt: NOW * 1000,
      });
      expect(auditFromItem(item)).toStrictEqual({ ...audit, detail: { scope: ['a'] } });
    });

    it('reads a keys-only due entry as the lease it names, and refuses one with another kind of key', () => {
      // Act
      const due = dueLeaseFromItem({ pk: SUBJECT_PK, sk: 'L#req-1', dueShard: '1', dueAt: NOW });
      const wrong = caught(() => dueLeaseFromItem({ pk: 'R#req-1', sk: 'R', dueAt: NOW }));

      // Assert
      expect(due).toStrictEqual({ ...SUBJECT, requestId: 'req-1', dueAt: NOW });
      expect(wrong).toBeInstanceOf(PermanentError);
    });
  });

  describe('subject state', () => {
    it('reads the empty state from a missing item or one that holds only a lock', () => {
      // Act
      const missing = subjectStateFromItem(undefined);
      const lockOnly = subjectStateFromItem({
        pk: SUBJECT_PK,
        sk: '#SUBJECT',
        lockOwner: 'a',
        lockUntil: NOW,
      });

      // Assert
      expect(missing).toBe(EMPTY_SUBJECT_STATE);
      expect(lockOnly).toBe(EMPTY_SUBJECT_STATE);
    });

    it('writes in bulk the lease, pointer and unlocked subject item that the store writes itself', () => {
      // Arrange
      const lease = aLease();
      const state = { entryOwned: true, touched: { [VIEW]: null } };

      // Act
      const items = bulkItems(lease, OPTIONS, state);
      const withoutState = bulkItems(lease, OPTIONS);

      // Assert
      expect(items).toStrictEqual({
        lease: leaseItem(lease, OPTIONS),
        pointer: pointerItem(lease, undefined),
        subject: {
          pk: SUBJECT_PK,
          sk: '#SUBJECT',
          kind: 'subject',
          clusterName: 'demo',
          principalArn: 'arn:aws:iam::111122223333:role/dev',
          entryOwned: true,
          touched: { [VIEW]: null },
          version: 1,
        },
      });
      expect(subjectStateFromItem(items.subject)).toStrictEqual(state);
      expect(withoutState).toStrictEqual({ lease: items.lease, pointer: items.pointer });
    });
  });
});

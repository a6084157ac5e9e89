import { describe, expect, it } from 'vitest';
import { aLease, anAudit, ended, NOW, OTHER_SUBJECT, SUBJECT } from './fixtures';
import { useDynamoDbLocal } from './local-table';

describe('The audit trail on DynamoDB Local', () => {
  const db = useDynamoDbLocal();

  describe('history', () => {
    it('keeps every transition of a request in order, and the subject history across requests', async () => {
      // Arrange
      const { store } = await db.freshStore();
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
});

import { describe, expect, it } from 'vitest';
import { historyQuery, subjectHistoryQuery } from '../../../functions/adapters/lease-table/audit-trail';
import { dueQuery } from '../../../functions/adapters/lease-table/due-index';
import {
  putIfAbsent,
  putOnVersion,
  subjectQuery,
} from '../../../functions/adapters/lease-table/lease-records';
import { auditPurgeQuery, purgeAtUpdate } from '../../../functions/adapters/lease-table/purge-stamps';
import { lockUpdate, unlockUpdate } from '../../../functions/adapters/lease-table/subject-lock';
import { subjectStateUpdate } from '../../../functions/adapters/lease-table/subject-state';
import { NOW, SUBJECT } from './fixtures';

const TABLE = 'leases';
const SUBJECT_PK = 'S#demo#arn:aws:iam::111122223333:role/dev';
const SUBJECT_ITEM_KEY = { pk: SUBJECT_PK, sk: '#SUBJECT' };
const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';

describe('DynamoDB expressions of the lease table, built without a request', () => {
  describe('the subject lock', () => {
    it('takes the lock when it is free, expired or held by the same owner, and names the subject on its item', () => {
      // Act
      const update = lockUpdate(SUBJECT, 'owner-a', NOW, 30);

      // Assert
      expect(update).toStrictEqual({
        Key: SUBJECT_ITEM_KEY,
        UpdateExpression:
          'SET #lockOwner = :owner, #lockUntil = :until, #kind = :kind, #clusterName = :clusterName, #principalArn = :principalArn',
        ConditionExpression: 'attribute_not_exists(#lockOwner) OR #lockUntil <= :now OR #lockOwner = :owner',
        ExpressionAttributeNames: {
          '#lockOwner': 'lockOwner',
          '#lockUntil': 'lockUntil',
          '#kind': 'kind',
          '#clusterName': 'clusterName',
          '#principalArn': 'principalArn',
        },
        ExpressionAttributeValues: {
          ':owner': 'owner-a',
          ':until': NOW + 30,
          ':now': NOW,
          ':kind': 'subject',
          ':clusterName': 'demo',
          ':principalArn': 'arn:aws:iam::111122223333:role/dev',
        },
      });
    });

    it('frees the lock only for its owner', () => {
      // Act
      const update = unlockUpdate(SUBJECT, 'owner-a');

      // Assert
      expect(update).toStrictEqual({
        Key: SUBJECT_ITEM_KEY,
        UpdateExpression: 'REMOVE #lockOwner, #lockUntil',
        ConditionExpression: '#lockOwner = :owner',
        ExpressionAttributeNames: { '#lockOwner': 'lockOwner', '#lockUntil': 'lockUntil' },
        ExpressionAttributeValues: { ':owner': 'owner-a' },
      });
    });
  });

  describe('lease records', () => {
    it('puts a new item only where there is none', () => {
      // Act
      const put = putIfAbsent(TABLE, { pk: 'R#req-1', sk: 'R' });

      // Assert
      expect(put).toStrictEqual({
        Put: {
          TableName: TABLE,
          Item: { pk: 'R#req-1', sk: 'R' },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      });
    });

    it('puts a lease over the stored one only while that is still the expected version', () => {
      // Act
      const put = putOnVersion(TABLE, { pk: SUBJECT_PK, sk: 'L#req-1', version: 4 }, 3);

      // Assert
      expect(put).toStrictEqual({
        Put: {
          TableName: TABLE,
          Item: { pk: SUBJECT_PK, sk: 'L#req-1', version: 4 },
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':expected': 3 },
        },
      });
    });

    it('reads the partition of the subject strongly consistent: its item and its leases not ended', () => {
      // Act
      const query = subjectQuery(TABLE, SUBJECT);

      // Assert
      expect(query).toStrictEqual({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk',
        FilterExpression: '#kind = :subject OR #status <> :ended',
        ExpressionAttributeNames: { '#kind': 'kind', '#status': 'status' },
        ExpressionAttributeValues: { ':pk': SUBJECT_PK, ':subject': 'subject', ':ended': 'ended' },
        ConsistentRead: true,
      });
    });

    it('saves the subject state only while the owner holds the lock, counting versions from zero', () => {
      // Arrange
      const state = {
        entryOwned: true,
        touched: { [VIEW]: { type: 'namespace' as const, namespaces: ['a'] } },
      };

      // Act
      const update = subjectStateUpdate(TABLE, SUBJECT, state, 'owner-a');

      // Assert
      expect(update).toStrictEqual({
        TableName: TABLE,
        Key: SUBJECT_ITEM_KEY,
        UpdateExpression:
          'SET #entryOwned = :entryOwned, #touched = :touched, #version = if_not_exists(#version, :zero) + :one',
        ConditionExpression: '#lockOwner = :owner',
        ExpressionAttributeNames: {
          '#entryOwned': 'entryOwned',
          '#touched': 'touched',
          '#version': 'version',
          '#lockOwner': 'lockOwner',
        },
        ExpressionAttributeValues: {
          ':entryOwned': true,
          ':touched': { [VIEW]: { type: 'namespace', namespaces: ['a'] } },
          ':zero': 0,
          ':one': 1,
          ':owner': 'owner-a',
        },
      });
    });
  });

  describe('TTL stamping', () => {
    it('sets purgeAt on one item by key', () => {
      // Act
      const update = purgeAtUpdate(TABLE, { pk: 'R#req-1', sk: 'R' }, NOW);

      // Assert
      expect(update).toStrictEqual({
        TableName: TABLE,
        Key: { pk: 'R#req-1', sk: 'R' },
        UpdateExpression: 'SET #purgeAt = :purgeAt',
        ExpressionAttributeNames: { '#purgeAt': 'purgeAt' },
        ExpressionAttributeValues: { ':purgeAt': NOW },
      });
    });

    it('reads only the keys and purgeAt of the audit events of a request', () => {
      // Act
      const query = auditPurgeQuery(TABLE, 'req-1');

      // Assert
      expect(query).toStrictEqual({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :audit)',
        ProjectionExpression: 'pk, sk, #purgeAt',
        ExpressionAttributeNames: { '#purgeAt': 'purgeAt' },
        ExpressionAttributeValues: { ':pk': 'R#req-1', ':audit': 'A#' },
        ConsistentRead: true,
      });
    });
  });

  describe('the due index', () => {
    it('reads the entries of one shard due by now', () => {
      // Act
      const query = dueQuery(TABLE, '3', NOW, undefined);

      // Assert
      expect(query).toStrictEqual({
        TableName: TABLE,
        IndexName: 'due',
        KeyConditionExpression: 'dueShard = :shard AND dueAt <= :now',
        ExpressionAttributeValues: { ':shard': '3', ':now': NOW },
      });
    });

    it('reads the entries of one shard due after `after`, up to now', () => {
      // Act
      const query = dueQuery(TABLE, '3', NOW, NOW - 60);

      // Assert
      expect(query).toStrictEqual({
        TableName: TABLE,
        IndexName: 'due',
        KeyConditionExpression: 'dueShard = :shard AND dueAt BETWEEN :after AND :now',
        ExpressionAttributeValues: { ':shard': '3', ':after': NOW - 60, ':now': NOW },
      });
    });
  });

  describe('the audit trail', () => {
    it('reads the audit events of a request strongly consistent, in key order', () => {
      // Act
      const query = historyQuery(TABLE, 'req-1');

      // Assert
      expect(query).toStrictEqual({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :audit)',
        ExpressionAttributeValues: { ':pk': 'R#req-1', ':audit': 'A#' },
        ConsistentRead: true,
      });
    });

    it('reads the audit events of a subject from its index, newest first, with the limit when there is one', () => {
      // Act
      const all = subjectHistoryQuery(TABLE, SUBJECT, undefined);
      const latest = subjectHistoryQuery(TABLE, SUBJECT, 5);

      // Assert
      const expected = {
        TableName: TABLE,
        IndexName: 'subject-audit',
        KeyConditionExpression: 'auditSubject = :subject',
        ExpressionAttributeValues: { ':subject': SUBJECT_PK },
        ScanIndexForward: false,
      };
      expect(all).toStrictEqual(expected);
      expect(latest).toStrictEqual({ ...expected, Limit: 5 });
    });
  });
});

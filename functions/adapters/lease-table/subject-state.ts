/**
 * The subject's state (SubjectState: what the broker found and changed of its EKS access), on the subject's
 * item beside its lock. Written ahead of the EKS calls it describes, and only by the lock's holder.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConcurrentModificationError } from '../../core/errors';
import type { Subject, SubjectState } from '../../core/model';
import { describeSubject } from '../../core/subject';
import { touchedItem } from './items';
import { subjectItemKey } from './schema';
import { call, type TableClient } from './table-client';

/** Saves the subject's state, only while `lockOwner` holds its lock (else ConcurrentModificationError). */
export async function saveSubjectState(
  table: TableClient,
  subject: Subject,
  state: SubjectState,
  lockOwner: string,
): Promise<void> {
  try {
    await call('saveSubjectState', () =>
      table.client.send(new UpdateCommand(subjectStateUpdate(table.tableName, subject, state, lockOwner))),
    );
  } catch (error) {
    if (!(error instanceof ConcurrentModificationError)) throw error;
    throw new ConcurrentModificationError(
      `The lock on ${describeSubject(subject)} is not held by ${lockOwner}: its state was not saved`,
      { cause: error.cause },
    );
  }
}

/** The subject's state on its item, only while `lockOwner` holds the lock; the item's version counts saves. */
export function subjectStateUpdate(
  tableName: string,
  subject: Subject,
  state: SubjectState,
  lockOwner: string,
) {
  return {
    TableName: tableName,
    Key: subjectItemKey(subject),
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
      ':entryOwned': state.entryOwned,
      ':touched': touchedItem(state.touched),
      ':zero': 0,
      ':one': 1,
      ':owner': lockOwner,
    },
  };
}

/**
 * The subject's state (SubjectState: what the broker found and changed of its EKS access), on the subject's
 * item beside its lock. Written ahead of the EKS calls it describes, and only by the lock's holder.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConcurrentModificationError } from '../../core/errors';
import { holdsNothing, type Subject, type SubjectState } from '../../core/model';
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

/**
 * The subject's state on its item, only while `lockOwner` holds the lock; the item's version counts saves. A
 * state saved is no longer the one createLease recorded ahead: `aheadBy` goes. A state that holds nothing is
 * kept as none (read back as the empty state), so the subject's next grant records its state ahead again.
 */
export function subjectStateUpdate(
  tableName: string,
  subject: Subject,
  state: SubjectState,
  lockOwner: string,
) {
  const update = {
    TableName: tableName,
    Key: subjectItemKey(subject),
    ConditionExpression: '#lockOwner = :owner',
    ExpressionAttributeNames: {
      '#entryOwned': 'entryOwned',
      '#touched': 'touched',
      '#version': 'version',
      '#lockOwner': 'lockOwner',
      '#aheadBy': 'aheadBy',
    },
  };
  const counted = '#version = if_not_exists(#version, :zero) + :one';
  const counter = { ':zero': 0, ':one': 1, ':owner': lockOwner };
  if (holdsNothing(state)) {
    return {
      ...update,
      UpdateExpression: `SET ${counted} REMOVE #entryOwned, #touched, #aheadBy`,
      ExpressionAttributeValues: counter,
    };
  }
  return {
    ...update,
    UpdateExpression: `SET #entryOwned = :entryOwned, #touched = :touched, ${counted} REMOVE #aheadBy`,
    ExpressionAttributeValues: {
      ':entryOwned': state.entryOwned,
      ':touched': touchedItem(state.touched),
      ...counter,
    },
  };
}

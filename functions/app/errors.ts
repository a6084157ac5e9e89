import { PermanentError } from '../core/errors';

/** The principal already has an access entry the broker must never change (a node entry, for one). */
export class SubjectNotManageableError extends PermanentError {
  override readonly name = 'SubjectNotManageableError';
}

/**
 * A scheduled run (the sweeper, the drift check) that did all it could but failed on some items: the run
 * errors, so its alarm fires; the items it finished stay finished. `report` says what it did.
 */
export abstract class ScheduledRunError<Report> extends Error {
  constructor(
    message: string,
    readonly report: Report,
  ) {
    super(message);
  }
}

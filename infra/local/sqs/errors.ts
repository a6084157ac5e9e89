/** The errors this emulation answers, by the name the JS SDK gives them, with what SQS puts on the wire. */
export const SQS_ERRORS = {
  QueueDoesNotExist: { queryCode: 'AWS.SimpleQueueService.NonExistentQueue', status: 400, modeled: true },
  QueueNameExists: { queryCode: 'QueueAlreadyExists', status: 400, modeled: true },
  InvalidParameterValue: { queryCode: 'InvalidParameterValue', status: 400, modeled: false },
  MissingParameter: { queryCode: 'MissingParameter', status: 400, modeled: false },
  InvalidMessageContents: { queryCode: 'InvalidMessageContents', status: 400, modeled: true },
  InvalidAttributeName: { queryCode: 'InvalidAttributeName', status: 400, modeled: true },
  EmptyBatchRequest: { queryCode: 'AWS.SimpleQueueService.EmptyBatchRequest', status: 400, modeled: true },
  TooManyEntriesInBatchRequest: {
    queryCode: 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
    status: 400,
    modeled: true,
  },
  BatchEntryIdsNotDistinct: {
    queryCode: 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
    status: 400,
    modeled: true,
  },
  InvalidBatchEntryId: {
    queryCode: 'AWS.SimpleQueueService.InvalidBatchEntryId',
    status: 400,
    modeled: true,
  },
  BatchRequestTooLong: {
    queryCode: 'AWS.SimpleQueueService.BatchRequestTooLong',
    status: 400,
    modeled: true,
  },
  ReceiptHandleIsInvalid: { queryCode: 'ReceiptHandleIsInvalid', status: 404, modeled: true },
  MessageNotInflight: { queryCode: 'AWS.SimpleQueueService.MessageNotInflight', status: 400, modeled: true },
  UnsupportedOperation: {
    queryCode: 'AWS.SimpleQueueService.UnsupportedOperation',
    status: 400,
    modeled: true,
  },
  SerializationException: { queryCode: 'SerializationException', status: 400, modeled: false },
  /*
   * A refused SendMessage: 403 AccessDenied (the query code, which SDKs name the error after; "An error occurred
   * (AccessDenied) when calling the SendMessageBatch operation: User: ... is not authorized to perform:
   * sqs:sendmessage on resource: ..." in aws/serverless-application-model#3633, "code: 'AccessDenied' ...
   * statusCode: 403" in island-is/island.is#7812).
   */
  AccessDenied: { queryCode: 'AccessDenied', status: 403, modeled: false },
} as const;

export type LocalQueueErrorCode = keyof typeof SQS_ERRORS;

/** An SQS error; `code` is the name the SDK surfaces (error.name) and the per-entry `Code` in batches. */
export class LocalQueueError extends Error {
  override readonly name = 'LocalQueueError';
  constructor(
    readonly code: LocalQueueErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const queueDoesNotExist = (): LocalQueueError =>
  new LocalQueueError('QueueDoesNotExist', 'The specified queue does not exist.');

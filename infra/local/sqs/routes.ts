import type { ServerResponse } from 'node:http';
import { accessDeniedMessage, evaluateResourcePolicy } from '../auth/resource-policy';
import { decodeSegment, type EdgeRequest, type ServiceHandler, sendAwsError, sendJson } from '../http';
import type { AuthenticatedCaller } from '../identities';
import { isRecord, JsonInput } from '../json-input';
import { LocalQueueError, queueDoesNotExist, SQS_ERRORS } from './errors';
import type { LocalQueue } from './local-queue';
import type { LocalQueues } from './local-queues';
import type { MessageAttributeValue, ReceivedMessage, SendMessageInput, SendMessageResult } from './types';
import {
  checkRange,
  MAX_BATCH_ENTRIES,
  MAX_VISIBILITY_TIMEOUT_SECONDS,
  md5OfAttributes,
  messageSize,
  validateBatchEntryId,
} from './validation';

const CONTENT_TYPE = 'application/x-amz-json-1.0';

const json = new JsonInput({
  notJson: () => new LocalQueueError('SerializationException', 'The request body is not valid JSON.'),
  notObject: () => new LocalQueueError('SerializationException', 'The request body must be a JSON object.'),
  wrongType: (message) => new LocalQueueError('SerializationException', message),
  missing: (key) => new LocalQueueError('MissingParameter', `The request must contain the parameter ${key}.`),
});

class UnknownOperationError extends Error {}

const KNOWN_QUEUE_ATTRIBUTES = new Set([
  'Policy',
  'KmsMasterKeyId',
  'KmsDataKeyReusePeriodSeconds',
  'RedriveAllowPolicy',
  'RedrivePolicy',
  'FifoQueue',
  'ContentBasedDeduplication',
  'DeduplicationScope',
  'FifoThroughputLimit',
]);

/** The JSON 1.0 binding of the local SQS (`x-amz-target: AmazonSQS.<Operation>`). */
export function createSqsHandler(queues: LocalQueues): ServiceHandler {
  return async (req: EdgeRequest, res: ServerResponse) => {
    const operation = String(req.headers['x-amz-target'] ?? '').slice('AmazonSQS.'.length);
    try {
      const input = json.parseBody(req.body);
      const result = await dispatch(queues, operation, input, req.origin, req.caller);
      sendJson(res, 200, result, CONTENT_TYPE);
    } catch (error) {
      if (error instanceof UnknownOperationError) {
        sendAwsError(res, 400, 'UnknownOperationException', error.message, {
          contentType: CONTENT_TYPE,
          extraBody: { __type: 'com.amazon.coral.service#UnknownOperationException' },
        });
        return;
      }
      if (!(error instanceof LocalQueueError)) throw error;
      const wire = SQS_ERRORS[error.code];
      const type = wire.modeled
        ? `com.amazonaws.sqs#${error.code}`
        : `com.amazon.coral.service#${error.code}Exception`;
      sendAwsError(res, wire.status, error.code, error.message, {
        contentType: CONTENT_TYPE,
        extraBody: { __type: type },
        // Clients of the JSON protocol name the error from this header (the query protocol's code) first.
        extraHeaders: { 'x-amzn-query-error': `${wire.queryCode};Sender` },
      });
    }
  };
}

async function dispatch(
  queues: LocalQueues,
  operation: string,
  input: Record<string, unknown>,
  origin: string,
  caller: AuthenticatedCaller | undefined,
): Promise<unknown> {
  switch (operation) {
    case 'GetQueueUrl':
      return getQueueUrl(queues, input, origin);
    case 'ListQueues':
      return listQueues(queues, input, origin);
    case 'GetQueueAttributes':
      return getQueueAttributes(queues, input);
    case 'SendMessage': {
      const queue = queueFromUrl(queues, input);
      await authorizeSend(queues, queue, caller);
      return queue.send(readSendInput(input), caller);
    }
    case 'SendMessageBatch':
      return sendMessageBatch(queues, input, caller);
    case 'ReceiveMessage':
      return receiveMessage(queues, input);
    case 'DeleteMessage':
      return deleteMessage(queues, input);
    case 'ChangeMessageVisibility':
      return changeMessageVisibility(queues, input);
    case 'CreateQueue':
    case 'DeleteQueue':
    case 'PurgeQueue':
    case 'SetQueueAttributes':
    case 'DeleteMessageBatch':
    case 'ChangeMessageVisibilityBatch':
    case 'TagQueue':
    case 'UntagQueue':
    case 'ListQueueTags':
    case 'AddPermission':
    case 'RemovePermission':
    case 'ListDeadLetterSourceQueues':
    case 'StartMessageMoveTask':
    case 'CancelMessageMoveTask':
    case 'ListMessageMoveTasks':
      throw new LocalQueueError('UnsupportedOperation', `The local edge does not emulate SQS ${operation}.`);
    default:
      throw new UnknownOperationError(`Unknown operation AmazonSQS.${operation}`);
  }
}

function queueUrl(queues: LocalQueues, origin: string, name: string): string {
  return `${origin}/${queues.accountId}/${name}`;
}

function queueFromUrl(queues: LocalQueues, input: Record<string, unknown>): LocalQueue {
  const url = json.requiredString(input, 'QueueUrl');
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    // SQS also takes the bare path form "/account/name".
    path = url;
  }
  const [account, name, ...rest] = path.split('/').filter((part) => part !== '');
  const decoded = name === undefined ? undefined : decodeSegment(name);
  if (account !== queues.accountId || decoded === undefined || rest.length > 0) throw queueDoesNotExist();
  return queues.queue(decoded);
}

function getQueueUrl(
  queues: LocalQueues,
  input: Record<string, unknown>,
  origin: string,
): { QueueUrl: string } {
  const name = json.requiredString(input, 'QueueName');
  const owner = json.optionalString(input, 'QueueOwnerAWSAccountId');
  if ((owner !== undefined && owner !== queues.accountId) || !queues.queueNames().includes(name))
    throw queueDoesNotExist();
  return { QueueUrl: queueUrl(queues, origin, name) };
}

function listQueues(
  queues: LocalQueues,
  input: Record<string, unknown>,
  origin: string,
): { QueueUrls?: string[]; NextToken?: string } {
  const prefix = json.optionalString(input, 'QueueNamePrefix') ?? '';
  const maxResults = json.optionalNumber(input, 'MaxResults');
  if (maxResults !== undefined) checkRange('MaxResults', maxResults, 1, 1000);
  const names = queues
    .queueNames()
    .filter((name) => name.startsWith(prefix))
    .sort();
  const start = Number(json.optionalString(input, 'NextToken') ?? '0');
  if (!Number.isInteger(start) || start < 0) {
    throw new LocalQueueError('InvalidParameterValue', 'Invalid NextToken value.');
  }
  // Without MaxResults SQS answers up to 1000 queues and no token.
  const page = names.slice(start, maxResults === undefined ? start + 1000 : start + maxResults);
  const next = start + page.length;
  return {
    ...(page.length > 0 ? { QueueUrls: page.map((name) => queueUrl(queues, origin, name)) } : {}),
    ...(maxResults !== undefined && next < names.length ? { NextToken: String(next) } : {}),
  };
}

function getQueueAttributes(
  queues: LocalQueues,
  input: Record<string, unknown>,
): { Attributes?: Record<string, string> } {
  const queue = queueFromUrl(queues, input);
  const requested = json.optionalStringList(input, 'AttributeNames') ?? [];
  const all = queue.attributes();
  const attributes: Record<string, string> = {};
  for (const name of requested) {
    if (name === 'All') {
      Object.assign(attributes, all);
    } else if (name in all) {
      attributes[name] = all[name] as string;
    } else if (!KNOWN_QUEUE_ATTRIBUTES.has(name)) {
      throw new LocalQueueError('InvalidAttributeName', `Unknown Attribute ${name}.`);
    }
  }
  return Object.keys(attributes).length > 0 ? { Attributes: attributes } : {};
}

/**
 * Whether `caller` may send to `queue`, by the queue's policy (none: yes). SendMessageBatch is authorized as
 * sqs:SendMessage, once for the whole call (aws/serverless-application-model#3633: the batch fails with AccessDenied
 * naming sqs:sendmessage), before any entry is looked at. Throws LocalQueueError (AccessDenied).
 */
async function authorizeSend(
  queues: LocalQueues,
  queue: LocalQueue,
  caller: AuthenticatedCaller | undefined,
): Promise<void> {
  const policy = queue.policy;
  if (!policy) return;
  if (!caller) throw new Error('The edge hands every AWS call its caller.');
  const request = { caller, resourceArn: queue.arn };
  const decision = await evaluateResourcePolicy(policy, {
    ...request,
    action: 'sqs:SendMessage',
    resourceAccount: queues.accountId,
  });
  if (!decision.allowed) {
    throw new LocalQueueError('AccessDenied', accessDeniedMessage(request, 'sqs:sendmessage', decision));
  }
}

async function sendMessageBatch(
  queues: LocalQueues,
  input: Record<string, unknown>,
  caller: AuthenticatedCaller | undefined,
): Promise<{
  Successful: Array<SendMessageResult & { Id: string }>;
  Failed: Array<{ Id: string; SenderFault: boolean; Code: string; Message: string }>;
}> {
  const queue = queueFromUrl(queues, input);
  await authorizeSend(queues, queue, caller);
  const entries = json.optionalRecordList(input, 'Entries') ?? [];
  if (entries.length === 0) {
    throw new LocalQueueError(
      'EmptyBatchRequest',
      'There should be at least one SendMessageBatchRequestEntry in the request.',
    );
  }
  if (entries.length > MAX_BATCH_ENTRIES) {
    throw new LocalQueueError(
      'TooManyEntriesInBatchRequest',
      `Maximum number of entries per request are 10. You have sent ${String(entries.length)}.`,
    );
  }
  const ids: string[] = [];
  for (const entry of entries) {
    const id = json.requiredString(entry, 'Id');
    validateBatchEntryId(id);
    if (ids.includes(id)) throw new LocalQueueError('BatchEntryIdsNotDistinct', `Id ${id} repeated.`);
    ids.push(id);
  }
  // A malformed entry fails alone, like any other invalid entry.
  const inputs = entries.map((entry) => {
    try {
      return readSendInput(entry);
    } catch (error) {
      if (error instanceof LocalQueueError) return error;
      throw error;
    }
  });
  const totalBytes = inputs.reduce(
    (sum, entry) => sum + (entry instanceof LocalQueueError ? 0 : messageSize(entry)),
    0,
  );
  if (totalBytes > queue.config.maximumMessageSize) {
    throw new LocalQueueError(
      'BatchRequestTooLong',
      `Batch requests cannot be longer than ${String(queue.config.maximumMessageSize)} bytes. You have sent ${String(totalBytes)} bytes.`,
    );
  }
  const successful: Array<SendMessageResult & { Id: string }> = [];
  const failed: Array<{ Id: string; SenderFault: boolean; Code: string; Message: string }> = [];
  inputs.forEach((entryInput, index) => {
    const id = ids[index] as string;
    try {
      if (entryInput instanceof LocalQueueError) throw entryInput;
      successful.push({ Id: id, ...queue.send(entryInput, caller) });
    } catch (error) {
      if (!(error instanceof LocalQueueError)) throw error;
      failed.push({ Id: id, SenderFault: true, Code: error.code, Message: error.message });
    }
  });
  return { Successful: successful, Failed: failed };
}

async function receiveMessage(
  queues: LocalQueues,
  input: Record<string, unknown>,
): Promise<{ Messages?: unknown[] }> {
  const queue = queueFromUrl(queues, input);
  const max = json.optionalNumber(input, 'MaxNumberOfMessages') ?? 1;
  if (max < 1 || max > MAX_BATCH_ENTRIES) {
    throw new LocalQueueError(
      'InvalidParameterValue',
      `Value ${String(max)} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.`,
    );
  }
  const visibility = json.optionalNumber(input, 'VisibilityTimeout') ?? queue.config.visibilityTimeoutSeconds;
  checkRange('VisibilityTimeout', visibility, 0, MAX_VISIBILITY_TIMEOUT_SECONDS);
  const waitSeconds = json.optionalNumber(input, 'WaitTimeSeconds') ?? 0;
  checkRange('WaitTimeSeconds', waitSeconds, 0, 20);
  const attributeNames = [
    ...(json.optionalStringList(input, 'AttributeNames') ?? []),
    ...(json.optionalStringList(input, 'MessageSystemAttributeNames') ?? []),
  ];
  const messageAttributeNames = json.optionalStringList(input, 'MessageAttributeNames') ?? [];

  const messages = await queue.receive({
    maxNumberOfMessages: max,
    visibilityTimeoutSeconds: visibility,
    waitTimeSeconds: waitSeconds,
  });
  if (messages.length === 0) return {};
  return {
    Messages: messages.map((message) => toWireMessage(message, attributeNames, messageAttributeNames)),
  };
}

function toWireMessage(
  message: ReceivedMessage,
  attributeNames: readonly string[],
  messageAttributeNames: readonly string[],
): Record<string, unknown> {
  const { record } = message;
  const everyAttribute: Record<string, string> = { ...record.attributes } as Record<string, string>;
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(everyAttribute)) {
    if (attributeNames.includes('All') || attributeNames.includes(name)) attributes[name] = value;
  }
  const selected: Record<string, MessageAttributeValue> = {};
  const messageAttributes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(message.messageAttributes)) {
    const wanted = messageAttributeNames.some(
      (pattern) =>
        pattern === 'All' ||
        pattern === '.*' ||
        pattern === name ||
        (pattern.endsWith('.*') && name.startsWith(pattern.slice(0, -1))),
    );
    if (!wanted) continue;
    selected[name] = value;
    messageAttributes[name] = {
      DataType: value.DataType,
      ...(value.StringValue === undefined ? {} : { StringValue: value.StringValue }),
      ...(value.BinaryValue === undefined
        ? {}
        : { BinaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
    };
  }
  const hasMessageAttributes = Object.keys(messageAttributes).length > 0;
  return {
    MessageId: record.messageId,
    ReceiptHandle: record.receiptHandle,
    MD5OfBody: record.md5OfBody,
    Body: record.body,
    ...(Object.keys(attributes).length > 0 ? { Attributes: attributes } : {}),
    // The digest covers the attributes returned, not all the message has.
    ...(hasMessageAttributes ? { MD5OfMessageAttributes: md5OfAttributes(selected) } : {}),
    ...(hasMessageAttributes ? { MessageAttributes: messageAttributes } : {}),
  };
}

function deleteMessage(queues: LocalQueues, input: Record<string, unknown>): Record<string, never> {
  const queue = queueFromUrl(queues, input);
  queue.deleteMessage(json.requiredString(input, 'ReceiptHandle'));
  return {};
}

function changeMessageVisibility(queues: LocalQueues, input: Record<string, unknown>): Record<string, never> {
  const queue = queueFromUrl(queues, input);
  queue.changeMessageVisibility(json.requiredString(input, 'ReceiptHandle'), () => {
    const timeout = json.optionalNumber(input, 'VisibilityTimeout');
    if (timeout === undefined) {
      throw new LocalQueueError(
        'MissingParameter',
        'The request must contain the parameter VisibilityTimeout.',
      );
    }
    checkRange('VisibilityTimeout', timeout, 0, MAX_VISIBILITY_TIMEOUT_SECONDS);
    return timeout;
  });
  return {};
}

function readAttributeMap(
  input: Record<string, unknown>,
  key: string,
): Record<string, MessageAttributeValue> | undefined {
  const value = json.optionalRecord(input, key, 'a map');
  if (value === undefined) return undefined;
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, raw] of Object.entries(value)) {
    if (!isRecord(raw)) throw json.errors.wrongType(`${key}.${name} must be a structure.`);
    const dataType = json.optionalString(raw, 'DataType');
    const stringValue = json.optionalString(raw, 'StringValue');
    const binaryValue = json.optionalString(raw, 'BinaryValue');
    attributes[name] = {
      DataType: dataType ?? '',
      ...(stringValue === undefined ? {} : { StringValue: stringValue }),
      ...(binaryValue === undefined ? {} : { BinaryValue: Buffer.from(binaryValue, 'base64') }),
    };
  }
  return attributes;
}

/** A SendMessage request (or batch entry) as SendMessageInput; the body is checked later, with the rest. */
function readSendInput(input: Record<string, unknown>): SendMessageInput {
  const messageAttributes = readAttributeMap(input, 'MessageAttributes');
  const messageSystemAttributes = readAttributeMap(input, 'MessageSystemAttributes');
  const delaySeconds = json.optionalNumber(input, 'DelaySeconds');
  const messageGroupId = json.optionalString(input, 'MessageGroupId');
  const messageDeduplicationId = json.optionalString(input, 'MessageDeduplicationId');
  return {
    body: json.optionalString(input, 'MessageBody') ?? '',
    ...(delaySeconds === undefined ? {} : { delaySeconds }),
    ...(messageAttributes === undefined ? {} : { messageAttributes }),
    ...(messageSystemAttributes === undefined ? {} : { messageSystemAttributes }),
    ...(messageGroupId === undefined ? {} : { messageGroupId }),
    ...(messageDeduplicationId === undefined ? {} : { messageDeduplicationId }),
  };
}

import { createHash } from 'node:crypto';
import { LocalQueueError } from './errors';
import type { MessageAttributeValue, QueueConfig, SendMessageInput } from './types';

// Validation shared by the wire and in-process paths: names, ranges, messages, attributes, and their digests.

/** The classic SQS limit; AWS raised its default to 1 MiB in 2025, createQueue can set it per queue. */
export const DEFAULT_MAXIMUM_MESSAGE_SIZE = 256 * 1024;
export const MAX_DELAY_SECONDS = 900;
export const MAX_VISIBILITY_TIMEOUT_SECONDS = 12 * 60 * 60;
export const MAX_BATCH_ENTRIES = 10;
const MAX_MESSAGE_ATTRIBUTES = 10;
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,256}$/;
const ATTRIBUTE_TYPE = /^(String|Number|Binary)(\..+)?$/;

export function validateQueueName(name: string, fifo: boolean): void {
  const base = fifo ? name.replace(/\.fifo$/, '') : name;
  if ((fifo && !name.endsWith('.fifo')) || !QUEUE_NAME.test(base) || name.length > 80) {
    throw new LocalQueueError(
      'InvalidParameterValue',
      fifo
        ? 'The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.'
        : 'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length',
    );
  }
}

export function checkRange(parameter: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new LocalQueueError(
      'InvalidParameterValue',
      `Value ${String(value)} for parameter ${parameter} is invalid. Reason: Must be >= ${String(min)} and <= ${String(max)}.`,
    );
  }
}

export function validateBatchEntryId(id: string): void {
  if (!BATCH_ENTRY_ID.test(id)) {
    throw new LocalQueueError(
      'InvalidBatchEntryId',
      'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
    );
  }
}

/** Checks a message the way SQS does, in its order; answers the attribute digests SQS returns. */
export function validateMessage(
  config: QueueConfig,
  input: SendMessageInput,
): { md5OfMessageAttributes: string | undefined; md5OfMessageSystemAttributes: string | undefined } {
  if (input.body === '') {
    throw new LocalQueueError('MissingParameter', 'The request must contain the parameter MessageBody.');
  }
  const invalid = firstInvalidCharacter(input.body);
  if (invalid !== undefined) {
    throw new LocalQueueError(
      'InvalidMessageContents',
      `Invalid binary character '#x${invalid.toString(16).toUpperCase()}' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF`,
    );
  }
  if (input.delaySeconds !== undefined) {
    // FIFO queues only have a queue-level delay; an explicit 0 is accepted.
    if (config.fifo && input.delaySeconds !== 0) {
      throw new LocalQueueError(
        'InvalidParameterValue',
        `Value ${String(input.delaySeconds)} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.`,
      );
    }
    if (
      !Number.isInteger(input.delaySeconds) ||
      input.delaySeconds < 0 ||
      input.delaySeconds > MAX_DELAY_SECONDS
    ) {
      throw new LocalQueueError(
        'InvalidParameterValue',
        `Value ${String(input.delaySeconds)} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.`,
      );
    }
  }
  const attributes = input.messageAttributes ?? {};
  validateAttributes(attributes);
  const system = input.messageSystemAttributes ?? {};
  for (const name of Object.keys(system)) {
    if (name !== 'AWSTraceHeader') {
      throw new LocalQueueError(
        'InvalidParameterValue',
        `Message system attribute name '${name}' is invalid.`,
      );
    }
  }
  validateAttributes(system);
  if (messageSize(input) > config.maximumMessageSize) {
    throw new LocalQueueError(
      'InvalidParameterValue',
      `One or more parameters are invalid. Reason: Message must be shorter than ${String(config.maximumMessageSize)} bytes.`,
    );
  }
  if (config.fifo) {
    if (!input.messageGroupId) {
      throw new LocalQueueError('MissingParameter', 'The request must contain the parameter MessageGroupId.');
    }
    if (!input.messageDeduplicationId && !config.contentBasedDeduplication) {
      throw new LocalQueueError(
        'InvalidParameterValue',
        'The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly',
      );
    }
  } else if (input.messageDeduplicationId !== undefined) {
    throw new LocalQueueError(
      'InvalidParameterValue',
      `Value ${input.messageDeduplicationId} for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.`,
    );
  }
  return {
    md5OfMessageAttributes: Object.keys(attributes).length > 0 ? md5OfAttributes(attributes) : undefined,
    md5OfMessageSystemAttributes: Object.keys(system).length > 0 ? md5OfAttributes(system) : undefined,
  };
}

function validateAttributes(attributes: Readonly<Record<string, MessageAttributeValue>>): void {
  const names = Object.keys(attributes);
  if (names.length > MAX_MESSAGE_ATTRIBUTES) {
    throw new LocalQueueError(
      'InvalidParameterValue',
      `Number of message attributes [${String(names.length)}] exceeds the allowed maximum [${String(MAX_MESSAGE_ATTRIBUTES)}].`,
    );
  }
  for (const name of names) {
    const value = attributes[name] as MessageAttributeValue;
    if (
      !ATTRIBUTE_NAME.test(name) ||
      /^(aws\.|amazon\.)/i.test(name) ||
      name.includes('..') ||
      name.startsWith('.') ||
      name.endsWith('.')
    ) {
      throw new LocalQueueError(
        'InvalidParameterValue',
        `Message (user) attribute name '${name}' is invalid.`,
      );
    }
    const type = ATTRIBUTE_TYPE.exec(value.DataType);
    if (!type) {
      throw new LocalQueueError(
        'InvalidParameterValue',
        `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`,
      );
    }
    const kind = type[1] as 'String' | 'Number' | 'Binary';
    if (kind === 'Binary') {
      if (value.BinaryValue === undefined || value.BinaryValue.length === 0) {
        throw new LocalQueueError(
          'InvalidParameterValue',
          `Message (user) attribute '${name}' must contain a non-empty value of type 'Binary'.`,
        );
      }
    } else {
      if (value.StringValue === undefined || value.StringValue === '') {
        throw new LocalQueueError(
          'InvalidParameterValue',
          `Message (user) attribute '${name}' must contain a non-empty value of type '${kind}'.`,
        );
      }
      if (kind === 'Number' && !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value.StringValue)) {
        throw new LocalQueueError(
          'InvalidParameterValue',
          `Can't cast the value of message (user) attribute '${name}' to a number.`,
        );
      }
      const invalid = firstInvalidCharacter(value.StringValue);
      if (invalid !== undefined) {
        throw new LocalQueueError(
          'InvalidParameterValue',
          `Message (user) attribute '${name}' value contains invalid binary character '#x${invalid.toString(16).toUpperCase()}'.`,
        );
      }
    }
  }
}

/** The code point of the first character SQS refuses, if any; a lone surrogate counts as invalid. */
function firstInvalidCharacter(text: string): number | undefined {
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    const allowed =
      code === 0x9 ||
      code === 0xa ||
      code === 0xd ||
      (code >= 0x20 && code <= 0xd7ff) ||
      (code >= 0xe000 && code <= 0xfffd) ||
      (code >= 0x10000 && code <= 0x10ffff);
    if (!allowed) return code;
  }
  return undefined;
}

/** What counts against MaximumMessageSize: the body plus each attribute's name, type and value. */
export function messageSize(input: SendMessageInput): number {
  let size = Buffer.byteLength(input.body, 'utf8');
  for (const [name, value] of Object.entries(input.messageAttributes ?? {})) {
    size += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value.DataType, 'utf8');
    size += value.BinaryValue?.length ?? Buffer.byteLength(value.StringValue ?? '', 'utf8');
  }
  return size;
}

export function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * MD5OfMessageAttributes as SQS documents it: attributes sorted by name; for each, the name, the data type
 * and the value, each prefixed with its 4-byte big-endian length, and a transport byte (1 string, 2 binary)
 * before the value.
 */
export function md5OfAttributes(attributes: Readonly<Record<string, MessageAttributeValue>>): string {
  const hash = createHash('md5');
  const lengthPrefixed = (bytes: Uint8Array) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length);
    hash.update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const value = attributes[name] as MessageAttributeValue;
    lengthPrefixed(Buffer.from(name, 'utf8'));
    lengthPrefixed(Buffer.from(value.DataType, 'utf8'));
    if (value.BinaryValue !== undefined && value.DataType.startsWith('Binary')) {
      hash.update(Buffer.from([2]));
      lengthPrefixed(value.BinaryValue);
    } else {
      hash.update(Buffer.from([1]));
      lengthPrefixed(Buffer.from(value.StringValue ?? '', 'utf8'));
    }
  }
  return hash.digest('hex');
}

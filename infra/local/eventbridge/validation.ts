import { EventBusValidationError } from './errors';
import type { PutEventsEntry, PutEventsResultEntry } from './types';

const MAX_ENTRIES = 10;
/** PutEvents counts Time, Source, DetailType, Detail and Resources against this, summed over the request. */
const MAX_PUT_EVENTS_BYTES = 256 * 1024;
/** The Time field counts as a fixed 14 bytes in AWS's documented entry-size formula. */
const TIME_FIELD_BYTES = 14;
const MAX_RENDERED_CHARS = 2048;
const EVENT_BUS_NAME =
  /^(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[/.\-_A-Za-z0-9]+$/;

/** Per-entry checks, in the order EventBridge applies them, with its codes and messages. */
export function validateEntry(entry: PutEventsEntry): PutEventsResultEntry | undefined {
  for (const field of ['Source', 'DetailType', 'Detail'] as const) {
    if (!entry[field]) {
      return {
        ErrorCode: 'InvalidArgument',
        ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.`,
      };
    }
  }
  if (entry.Source?.toLowerCase().startsWith('aws.')) {
    return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' };
  }
  if (!isJsonObject(entry.Detail as string)) {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  return undefined;
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/**
 * What PutEvents checks of the request as a whole before looking at any entry: the model's constraints,
 * then the total size. Throws EventBusValidationError.
 */
export function validateRequest(entries: readonly PutEventsEntry[]): void {
  const errors = constraintViolations(entries);
  if (errors.length > 0) throw new EventBusValidationError(validationMessage(errors));
  if (entries.reduce((sum, entry) => sum + entrySize(entry), 0) > MAX_PUT_EVENTS_BYTES) {
    throw new EventBusValidationError('Total size of the entries in the request is over the limit.');
  }
}

/** Model constraints the service checks before looking at any entry (a ValidationException for the request). */
function constraintViolations(entries: readonly PutEventsEntry[]): string[] {
  if (entries.length < 1 || entries.length > MAX_ENTRIES) {
    const bound =
      entries.length < 1 ? 'greater than or equal to 1' : `less than or equal to ${String(MAX_ENTRIES)}`;
    return [
      `Value '${renderEntries(entries)}' at 'entries' failed to satisfy constraint: Member must have length ${bound}`,
    ];
  }
  const errors: string[] = [];
  entries.forEach((entry, index) => {
    const at = (member: string) => `at 'entries.${String(index + 1)}.member.${member}'`;
    const tooLong = (member: string, value: string | undefined, max: number) => {
      if (value !== undefined && value.length > max) {
        errors.push(
          `Value '${value}' ${at(member)} failed to satisfy constraint: Member must have length less than or equal to ${String(max)}`,
        );
      }
    };
    tooLong('source', entry.Source, 256);
    tooLong('detailType', entry.DetailType, 128);
    tooLong('eventBusName', entry.EventBusName, 1600);
    if (entry.EventBusName && !EVENT_BUS_NAME.test(entry.EventBusName)) {
      errors.push(
        `Value '${entry.EventBusName}' ${at('eventBusName')} failed to satisfy constraint: Member must satisfy regular expression pattern: ${EVENT_BUS_NAME.source.slice(1, -1)}`,
      );
    }
  });
  return errors;
}

function validationMessage(errors: readonly string[]): string {
  const count = errors.length === 1 ? '1 validation error' : `${String(errors.length)} validation errors`;
  return `${count} detected: ${errors.join('; ')}`;
}

/** The Java toString AWS echoes in its constraint messages, close enough to recognise the request. */
function renderEntries(entries: readonly PutEventsEntry[]): string {
  const field = (value: string | undefined) => (value === undefined ? 'null' : value);
  const items = entries.map(
    (entry) =>
      `PutEventsRequestEntry(time=${entry.Time ? entry.Time.toISOString() : 'null'}, source=${field(entry.Source)}, ` +
      `resources=[${(entry.Resources ?? []).join(', ')}], detailType=${field(entry.DetailType)}, ` +
      `detail=${field(entry.Detail)}, eventBusName=${field(entry.EventBusName)}, traceHeader=${field(entry.TraceHeader)})`,
  );
  const rendered = `[${items.join(', ')}]`;
  // Ten entries can carry 256 KiB of detail; the message only needs to show which request it was.
  return rendered.length > MAX_RENDERED_CHARS ? `${rendered.slice(0, MAX_RENDERED_CHARS)}...` : rendered;
}

function entrySize(entry: PutEventsEntry): number {
  const bytes = (value: string | undefined) => (value === undefined ? 0 : Buffer.byteLength(value, 'utf8'));
  return (
    (entry.Time ? TIME_FIELD_BYTES : 0) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((sum, resource) => sum + bytes(resource), 0)
  );
}

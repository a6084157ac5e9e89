import type { ServerResponse } from 'node:http';
import { accessDeniedMessage } from '../auth/resource-policy';
import { type EdgeRequest, type ServiceHandler, sendAwsError, sendJson } from '../http';
import { isRecord, JsonInput } from '../json-input';
import { EventBusValidationError } from './errors';
import type { LocalEventBus } from './local-event-bus';
import type { PutEventsEntry, PutEventsResult } from './types';

const CONTENT_TYPE = 'application/x-amz-json-1.1';

/** A request whose JSON does not fit the model, answered as SerializationException. */
class SerializationError extends Error {}

const json = new JsonInput({
  notJson: () => new SerializationError('The request body is not a JSON object.'),
  notObject: () => new SerializationError('The request body is not a JSON object.'),
  wrongType: (message) => new SerializationError(message),
  missing: (key) => new SerializationError(`${key} is required.`),
});

/** The JSON 1.1 binding of the local EventBridge: PutEvents only (`x-amz-target: AWSEvents.PutEvents`). */
export function createEventBridgeHandler(bus: LocalEventBus): ServiceHandler {
  return async (req: EdgeRequest, res: ServerResponse) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target !== 'AWSEvents.PutEvents') {
      const operation = target.slice('AWSEvents.'.length);
      sendError(
        res,
        400,
        'UnknownOperationException',
        `The local edge does not emulate EventBridge ${operation}.`,
      );
      return;
    }
    let result: PutEventsResult;
    try {
      const entries = readWireEntries(json.parseBody(req.body));
      const caller = req.caller;
      if (!caller) throw new Error('The edge hands every AWS call its caller.');
      const denial = await bus.authorize(entries, caller);
      if (denial) {
        // As EventBridge answers a refused call: 400 AccessDeniedException (its Common Errors; the status and the
        // IAM sentence as in ministryofjustice/modernisation-platform#1253, "AccessDeniedException: User: ... is
        // not authorized to perform: events:PutRule on resource: ... because no identity-based policy allows the
        // events:PutRule action ... status code: 400"), the policy type here being resource-based.
        sendError(
          res,
          400,
          'AccessDeniedException',
          accessDeniedMessage({ caller, resourceArn: denial.busArn }, 'events:PutEvents', denial),
        );
        return;
      }
      result = bus.put(entries, caller);
    } catch (error) {
      if (error instanceof SerializationError) {
        sendError(res, 400, 'SerializationException', error.message);
        return;
      }
      if (error instanceof EventBusValidationError) {
        sendError(res, 400, 'ValidationException', error.message);
        return;
      }
      throw error;
    }
    sendJson(res, 200, result, CONTENT_TYPE);
  };
}

/** Wire entries to PutEventsEntry. Throws SerializationError when the JSON does not fit the model. */
function readWireEntries(body: Record<string, unknown>): PutEventsEntry[] {
  return (json.optionalList(body, 'Entries') ?? []).map((item) => {
    if (!isRecord(item)) throw json.errors.wrongType('Each entry must be a structure.');
    const strings: Record<string, string> = {};
    for (const key of ['Source', 'DetailType', 'Detail', 'EventBusName', 'TraceHeader'] as const) {
      const field = json.optionalString(item, key);
      if (field !== undefined) strings[key] = field;
    }
    const resources = json.optionalStringList(item, 'Resources');
    const time = readTimestamp(item.Time);
    if (time === null) throw json.errors.wrongType('Time must be a timestamp.');
    return {
      ...strings,
      ...(resources === undefined ? {} : { Resources: resources }),
      ...(time ? { Time: time } : {}),
    };
  });
}

/** JSON protocols send timestamps as epoch seconds; some clients send ISO strings. null means unreadable. */
function readTimestamp(value: unknown): Date | undefined | null {
  if (value === undefined || value === null) return undefined;
  const date =
    typeof value === 'number'
      ? new Date(value * 1000)
      : typeof value === 'string'
        ? new Date(value)
        : undefined;
  return date && !Number.isNaN(date.getTime()) ? date : null;
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  sendAwsError(res, status, type, message, { contentType: CONTENT_TYPE, extraBody: { __type: type } });
}

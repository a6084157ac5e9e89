import type { ServerResponse } from 'node:http';
import { type EdgeRequest, type ServiceHandler, sendJson } from '../http';
import { JsonInput } from '../json-input';
import {
  type LocalParameterStore,
  PARAMETER_TYPES,
  type ParameterType,
  SsmError,
  type SsmErrorCode,
} from './parameter-store';

const CONTENT_TYPE = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'AmazonSSM.';
/** GetParameters takes at most this many names (SSM API reference, GetParameters: Names, 1 to 10 items). */
const MAX_NAMES = 10;

/** A body that does not fit the model, answered as SerializationException. */
class SerializationError extends Error {}

const json = new JsonInput({
  notJson: () => new SerializationError('The request body is not valid JSON.'),
  notObject: () => new SerializationError('The request body must be a JSON object.'),
  wrongType: (message) => new SerializationError(message),
  // The model's member names start lower-case in SSM's validation sentences ('name', 'value', 'names').
  missing: (key) =>
    new SsmError(
      'ValidationException',
      `1 validation error detected: Value null at '${lowerFirst(key)}' failed to satisfy constraint: Member must not be null`,
    ),
});

/**
 * The JSON 1.1 binding of the local SSM Parameter Store (`x-amz-target: AmazonSSM.<Operation>`): GetParameter,
 * GetParameters, PutParameter, DeleteParameter. Shapes from the SSM API reference; errors in ./parameter-store.ts.
 */
export function createSsmHandler(store: LocalParameterStore): ServiceHandler {
  return async (req: EdgeRequest, res: ServerResponse) => {
    const operation = String(req.headers['x-amz-target'] ?? '').slice(TARGET_PREFIX.length);
    try {
      const input = json.parseBody(req.body);
      sendJson(res, 200, dispatch(store, operation, input), CONTENT_TYPE);
    } catch (error) {
      if (error instanceof SsmError) {
        sendError(res, error.code, error.wireMessage);
        return;
      }
      if (error instanceof SerializationError) {
        sendError(res, 'SerializationException', error.message);
        return;
      }
      if (error instanceof UnknownOperationError) {
        sendError(res, 'UnknownOperationException', error.message);
        return;
      }
      throw error;
    }
  };
}

class UnknownOperationError extends Error {}

function dispatch(store: LocalParameterStore, operation: string, input: Record<string, unknown>): unknown {
  switch (operation) {
    case 'GetParameter':
      return {
        Parameter: store.get(json.requiredString(input, 'Name'), optionalBoolean(input, 'WithDecryption')),
      };
    case 'GetParameters': {
      const names = json.optionalStringList(input, 'Names');
      if (names === undefined) throw json.errors.missing('Names');
      if (names.length === 0 || names.length > MAX_NAMES) {
        throw new SsmError(
          'ValidationException',
          `1 validation error detected: Value '[${names.join(', ')}]' at 'names' failed to satisfy constraint: Member must have length ${names.length === 0 ? 'greater than or equal to 1' : `less than or equal to ${MAX_NAMES}`}`,
        );
      }
      return store.getMany(names, optionalBoolean(input, 'WithDecryption'));
    }
    case 'PutParameter': {
      const type = readType(input);
      const { version } = store.put({
        name: json.requiredString(input, 'Name'),
        value: json.requiredString(input, 'Value'),
        ...(type === undefined ? {} : { type }),
        overwrite: optionalBoolean(input, 'Overwrite'),
        ...optionalDataType(input),
      });
      return { Version: version, Tier: 'Standard' };
    }
    case 'DeleteParameter':
      store.delete(json.requiredString(input, 'Name'));
      return {};
    default:
      throw new UnknownOperationError(`The local edge does not emulate SSM ${operation}.`);
  }
}

function readType(input: Record<string, unknown>): ParameterType | undefined {
  const type = json.optionalString(input, 'Type');
  if (type === undefined) return undefined;
  if (!(PARAMETER_TYPES as readonly string[]).includes(type)) {
    throw new SsmError(
      'ValidationException',
      `1 validation error detected: Value '${type}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [${PARAMETER_TYPES.join(', ')}]`,
    );
  }
  return type as ParameterType;
}

function optionalDataType(input: Record<string, unknown>): { dataType?: string } {
  const dataType = json.optionalString(input, 'DataType');
  return dataType === undefined ? {} : { dataType };
}

function optionalBoolean(input: Record<string, unknown>, key: string): boolean {
  const value = input[key];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw json.errors.wrongType(`${key} must be a boolean.`);
  return value;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** SSM's error body: `__type` and, except for ParameterNotFound, which SSM answers without one, `message`. */
function sendError(
  res: ServerResponse,
  type: SsmErrorCode | 'SerializationException' | 'UnknownOperationException',
  message: string | undefined,
): void {
  sendJson(res, 400, message === undefined ? { __type: type } : { __type: type, message }, CONTENT_TYPE, {
    'x-amzn-errortype': type,
  });
}

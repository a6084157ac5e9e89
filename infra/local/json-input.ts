/** How one emulated service answers a request body it cannot read; each service keeps its own codes and words. */
export interface JsonInputErrors {
  /** The body is not JSON. */
  readonly notJson: () => Error;
  /** The body is JSON but not an object. */
  readonly notObject: () => Error;
  /** A member has the wrong type; `message` reads "<member> must be <a type>." */
  readonly wrongType: (message: string) => Error;
  /** A required member is absent or null. */
  readonly missing: (key: string) => Error;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Typed readers of the JSON request bodies the emulators take, raising the errors of the service they serve.
 * A member that is absent or null reads as undefined, as AWS's JSON protocols treat it.
 */
export class JsonInput {
  constructor(readonly errors: JsonInputErrors) {}

  /** The request body as an object; an empty body is an empty object. */
  parseBody(body: Buffer): Record<string, unknown> {
    if (body.length === 0) return {};
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch {
      throw this.errors.notJson();
    }
    if (!isRecord(value)) throw this.errors.notObject();
    return value;
  }

  optionalString(input: Record<string, unknown>, key: string): string | undefined {
    const value = input[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw this.errors.wrongType(`${key} must be a string.`);
    return value;
  }

  requiredString(input: Record<string, unknown>, key: string): string {
    const value = this.optionalString(input, key);
    if (value === undefined) throw this.errors.missing(key);
    return value;
  }

  optionalNumber(input: Record<string, unknown>, key: string): number | undefined {
    const value = input[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number') throw this.errors.wrongType(`${key} must be a number.`);
    return value;
  }

  optionalStringList(input: Record<string, unknown>, key: string): string[] | undefined {
    const value = input[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      throw this.errors.wrongType(`${key} must be a list of strings.`);
    }
    return value as string[];
  }

  /** A list whose items the caller reads one by one. */
  optionalList(input: Record<string, unknown>, key: string): unknown[] | undefined {
    const value = input[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) throw this.errors.wrongType(`${key} must be a list.`);
    return value;
  }

  optionalRecordList(input: Record<string, unknown>, key: string): Record<string, unknown>[] | undefined {
    const value = input[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || !value.every(isRecord)) {
      throw this.errors.wrongType(`${key} must be a list of structures.`);
    }
    return value;
  }

  /** A JSON object member; `kind` is what the service calls it in its message ("a map", "an object"). */
  optionalRecord(
    input: Record<string, unknown>,
    key: string,
    kind: string,
  ): Record<string, unknown> | undefined {
    const value = input[key];
    if (value === undefined || value === null) return undefined;
    if (!isRecord(value)) throw this.errors.wrongType(`${key} must be ${kind}.`);
    return value;
  }

  optionalStringMap(input: Record<string, unknown>, key: string): Record<string, string> | undefined {
    const value = input[key];
    if (value === undefined || value === null) return undefined;
    if (!isRecord(value) || !Object.values(value).every((item) => typeof item === 'string')) {
      throw this.errors.wrongType(`${key} must be a map of strings to strings.`);
    }
    return value as Record<string, string>;
  }
}

import type { Secrets } from '../../../functions/app/ports';
import { PermanentError } from '../../../functions/core/errors';

/**
 * Secrets by ref in memory, behind the Secrets port: a missing one is the PermanentError the adapter throws,
 * and `failNext` makes the store fail once (an outage of SSM or Secrets Manager).
 */
export class StoredSecrets implements Secrets {
  /** Refs read, in order. */
  readonly reads: string[] = [];
  private readonly values: Map<string, string>;
  private failure: Error | undefined;

  constructor(values: Readonly<Record<string, string>> = {}) {
    this.values = new Map(Object.entries(values));
  }

  set(ref: string, value: string): void {
    this.values.set(ref, value);
  }

  failNext(error: Error): void {
    this.failure = error;
  }

  async get(ref: string): Promise<string> {
    this.reads.push(ref);
    const failure = this.failure;
    this.failure = undefined;
    if (failure) throw failure;
    const value = this.values.get(ref);
    if (value === undefined) throw new PermanentError(`The secret ${ref} does not exist`);
    return value;
  }
}

import { isRecord } from './validation';

/** The body of a timer message: which lease, and which expiry it was armed for (a later one makes it stale). */
export interface TimerMessage {
  readonly requestId: string;
  readonly expiresAt: number;
}

/** Reads a timer message from a queue body; anything else on the queue is not ours to act on. */
export function parseTimerMessage(body: string): TimerMessage | undefined {
  try {
    return readTimerMessage(JSON.parse(body));
  } catch {
    return undefined;
  }
}

/**
 * A timer message as already parsed JSON. A request envelope carries `detail`: it is never read as a timer,
 * even with a `requestId` and an `expiresAt` at its top level.
 */
export function readTimerMessage(value: unknown): TimerMessage | undefined {
  if (!isRecord(value) || 'detail' in value) return undefined;
  const { requestId, expiresAt } = value;
  if (typeof requestId !== 'string' || typeof expiresAt !== 'number') return undefined;
  return { requestId, expiresAt };
}

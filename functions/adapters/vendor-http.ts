/**
 * JSON over HTTPS to a vendor's REST API (Jira Cloud, PagerDuty), with the broker's error types: what waiting
 * can mend (the network, a timeout, 429, 5xx) is a RetryableError, so the message comes back later; what it
 * cannot (400, 401, 403, any other 4xx) is a PermanentError naming the vendor's own message. A 404 is an
 * answer, not an error: the caller decides what a missing ticket means.
 */
import { PermanentError, RetryableError } from '../core/errors';

export interface VendorRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** The full URL. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  readonly body?: unknown;
}

export type VendorAnswer =
  | { readonly status: 404 }
  /** Any 2xx: the parsed JSON body (undefined for an empty one, such as 204). */
  | { readonly status: 200; readonly body: unknown };

/** How long one call may take before it counts as lost (and is retried with the message). */
export const VENDOR_TIMEOUT_MS = 10_000;

/** Sends one request. `vendor` names the service in errors ("Jira", "PagerDuty"). */
export async function callVendor(
  vendor: string,
  request: VendorRequest,
  fetcher: typeof fetch = fetch,
): Promise<VendorAnswer> {
  const what = `${vendor} ${request.method} ${new URL(request.url).pathname}`;
  let response: Response;
  try {
    response = await fetcher(request.url, {
      method: request.method,
      headers: {
        accept: 'application/json',
        ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...request.headers,
      },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      signal: AbortSignal.timeout(VENDOR_TIMEOUT_MS),
    });
  } catch (error) {
    throw new RetryableError(`${what} did not answer: ${(error as Error).message}`, { cause: error });
  }
  const text = await response.text().catch(() => '');
  if (response.status === 404) return { status: 404 };
  if (response.ok) {
    if (text.trim() === '') return { status: 200, body: undefined };
    try {
      return { status: 200, body: JSON.parse(text) as unknown };
    } catch (error) {
      throw new RetryableError(`${what} answered ${response.status} with a body that is not JSON`, {
        cause: error,
      });
    }
  }
  const message = `${what} answered ${response.status}: ${vendorMessage(text) || response.statusText}`;
  if (response.status === 429 || response.status >= 500) throw new RetryableError(message);
  throw new PermanentError(message);
}

/** The vendor's own words from an error body: Jira's errorMessages/errors, PagerDuty's error.message/errors. */
export function vendorMessage(text: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return text.slice(0, 300);
  }
  if (typeof body !== 'object' || body === null) return text.slice(0, 300);
  const parts: string[] = [];
  const record = body as Record<string, unknown>;
  if (Array.isArray(record.errorMessages)) parts.push(...record.errorMessages.map(String));
  if (typeof record.errors === 'object' && record.errors !== null && !Array.isArray(record.errors)) {
    for (const [field, message] of Object.entries(record.errors)) parts.push(`${field}: ${String(message)}`);
  }
  const error = record.error;
  if (typeof error === 'object' && error !== null) {
    const { message, errors } = error as Record<string, unknown>;
    if (typeof message === 'string') parts.push(message);
    if (Array.isArray(errors)) parts.push(...errors.map(String));
  }
  return parts.join('; ').slice(0, 300);
}

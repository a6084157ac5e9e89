import { EKSClient } from '@aws-sdk/client-eks';

/** The local edge's `test` identity (infra/local/identities.json: the ticketing role); never real credentials. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

export function eksClient(endpoint: string, options: { maxAttempts?: number } = {}): EKSClient {
  return new EKSClient({
    endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: options.maxAttempts ?? 3,
  });
}

/** Runs `fn` and returns what it threw, failing the test if it did not throw. */
export async function caught(
  fn: () => Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await fn();
  } catch (error) {
    return error as Error & { $metadata?: { httpStatusCode?: number } };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

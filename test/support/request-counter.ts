import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** What a client has sent since countRequests: read before and after an operation, and subtract. */
export interface RequestCounts {
  /** Every request sent, answered or not (the SDK's retries of one request count once). */
  readonly requests: number;
  /**
   * Items DynamoDB read for us: the ScannedCount of a Query (index or table, filtered out or not), an item
   * found by GetItem, the items of a BatchGetItem. The sweeper's reads must grow with the due leases, not
   * with the table.
   */
  readonly itemsRead: number;
}

/**
 * Counts the requests of a document client, and the items they read, as SDK middleware (as eks-pacing.ts
 * paces EKS calls): the adapter needs no counters of its own. A document client shares its middleware with
 * the client it wraps, so requests sent through either are counted. Counts only grow.
 */
export function countRequests(client: DynamoDBDocumentClient): RequestCounts {
  const counts = { requests: 0, itemsRead: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      counts.requests += 1;
      const result = await next(args);
      counts.itemsRead += itemsRead(result.output);
      return result;
    },
    // Initialize: once per request, outside the SDK's retries (which run in a later step).
    { step: 'initialize', name: 'requestCounter', override: true },
  );
  return counts;
}

function itemsRead(output: unknown): number {
  if (typeof output !== 'object' || output === null) return 0;
  if ('Responses' in output) {
    const responses: unknown = output.Responses;
    if (typeof responses !== 'object' || responses === null || Array.isArray(responses)) return 0;
    return Object.values(responses).reduce<number>(
      (sum, items) => sum + (Array.isArray(items) ? items.length : 0),
      0,
    );
  }
  if ('Item' in output) return output.Item === undefined ? 0 : 1;
  if ('ScannedCount' in output && typeof output.ScannedCount === 'number') return output.ScannedCount;
  if ('Items' in output && Array.isArray(output.Items)) return output.Items.length;
  return 0;
}

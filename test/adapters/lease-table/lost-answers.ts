import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Makes the next request of `client` lose its answer once DynamoDB has done it: as SDK middleware outside the
 * SDK's retries (the initialize step), it throws what a dropped connection throws after the request went
 * through. So the contract holds DynamoDB Local and the memory fake to the same meaning of a lost answer.
 * The client's middleware is shared by every store built on it: one switch for the suite.
 */
export function losingAnswers(client: DynamoDBDocumentClient): { loseNext(): void } {
  let lose = false;
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      if (lose) {
        lose = false;
        throw Object.assign(new Error('socket hang up (the answer was lost)'), {
          name: 'TimeoutError',
          code: 'ECONNRESET',
        });
      }
      return result;
    },
    { step: 'initialize', name: 'losingAnswers', override: true },
  );
  return {
    loseNext: () => {
      lose = true;
    },
  };
}

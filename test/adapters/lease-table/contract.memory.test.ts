import { RetryableError } from '../../../functions/core/errors';
import { MemoryLeaseTable } from '../../support/fakes/memory-lease-table';
import { leaseTableContract } from '../../support/lease-table-contract';

// The fake the use-case tests (test/app) stand on, held to the same contract as DynamoDB Local.
leaseTableContract('MemoryLeaseTable', async () => {
  const table = new MemoryLeaseTable();
  // Seen through requests that can lose an answer, as the simulator's invocations see it.
  let lose = false;
  const repository = table.through({
    send: async () => undefined,
    answer: async () => {
      if (!lose) return;
      lose = false;
      throw new RetryableError('DynamoDB is throttling or unavailable (the answer was lost)');
    },
  });
  return {
    repository,
    deliveries: table.deliveries,
    history: async (requestId) => table.history(requestId),
    loseNextAnswer: () => {
      lose = true;
    },
  };
});

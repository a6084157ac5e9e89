import { MemoryLeaseTable } from '../../support/fakes/memory-lease-table';
import { leaseTableContract } from '../../support/lease-table-contract';

// The fake the use-case tests (test/app) stand on, held to the same contract as DynamoDB Local.
leaseTableContract('MemoryLeaseTable', async () => {
  const table = new MemoryLeaseTable();
  return { repository: table, history: async (requestId) => table.history(requestId) };
});

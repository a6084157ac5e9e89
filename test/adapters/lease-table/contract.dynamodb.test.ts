import { leaseTableContract } from '../../support/lease-table-contract';
import { useDynamoDbLocal } from './local-table';

// The truth the memory fake is held to: where they disagree, the fake is wrong.
const local = useDynamoDbLocal();

leaseTableContract('LeaseStore on DynamoDB Local', async () => {
  const { store } = await local.freshStore();
  return { repository: store, history: (requestId) => store.history(requestId) };
});

import { leaseTableContract } from '../../support/lease-table-contract';
import { useDynamoDbLocal } from './local-table';
import { losingAnswers } from './lost-answers';

// The truth the memory fake is held to: where they disagree, the fake is wrong.
const local = useDynamoDbLocal();

let answers: ReturnType<typeof losingAnswers> | undefined;

leaseTableContract('LeaseStore on DynamoDB Local', async () => {
  const { store } = await local.freshStore();
  answers ??= losingAnswers(local.documentClient);
  const lost = answers;
  return {
    repository: store,
    deliveries: store.deliveries,
    history: (requestId) => store.history(requestId),
    loseNextAnswer: () => lost.loseNext(),
  };
});

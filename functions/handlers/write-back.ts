import { type OutcomeEvent, writeBack } from '../app/write-back';
import { writeBackDeps } from '../runtime';
import { sqsBatchHandler } from './sqs-batch';

/**
 * Consumer of the write-back queue, which an EventBridge rule fills with the outcomes of the webhook
 * integrations' requests: each is posted to its ticket. A vendor outage reports the record as a batch item
 * failure (it comes back; after the last try the write-back DLQ keeps it and alarms); nothing here changes
 * access.
 */
export const handler = sqsBatchHandler(async (record) => {
  const event = JSON.parse(record.body) as OutcomeEvent;
  const result = await writeBack(writeBackDeps(), event);
  return result.status;
});

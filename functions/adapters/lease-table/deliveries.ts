/**
 * The webhook deliveries already queued (see schema.ts): one item per integration and vendor delivery id, so a
 * webhook the vendor sends again is answered without queueing it twice. TTL removes an item after
 * `keepUntil`, long after the vendor stopped retrying.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { WebhookDeliveries } from '../../app/ports';
import { LEASE_TABLE_TTL_ATTRIBUTE } from './schema';
import { call, getItem, type TableClient } from './table-client';

/** The sort key of a delivery's item, under the delivery's own partition. */
const DELIVERY_SK = 'D';

/** The partition of a delivery's item. Integration ids have no '#', so the key names one delivery. */
function deliveryPk(integration: string, deliveryId: string): string {
  return `D#${integration}#${deliveryId}`;
}

/** The lease table as the webhook function's memory of delivery ids. */
export class TableWebhookDeliveries implements WebhookDeliveries {
  constructor(private readonly table: TableClient) {}

  async seen(integration: string, deliveryId: string): Promise<boolean> {
    const item = await getItem(this.table, 'seen delivery', {
      pk: deliveryPk(integration, deliveryId),
      sk: DELIVERY_SK,
    });
    return item !== undefined;
  }

  /** Unconditional: remembering a delivery again only moves its TTL. */
  async remember(integration: string, deliveryId: string, keepUntil: number): Promise<void> {
    await call('remember delivery', () =>
      this.table.client.send(
        new PutCommand({
          TableName: this.table.tableName,
          Item: {
            pk: deliveryPk(integration, deliveryId),
            sk: DELIVERY_SK,
            kind: 'delivery',
            [LEASE_TABLE_TTL_ATTRIBUTE]: keepUntil,
          },
        }),
      ),
    );
  }
}

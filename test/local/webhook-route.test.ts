import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Edge, type EdgeWebhookRequest, startEdge } from '../../infra/local/edge';

describe('the local edge: /webhooks/<integration id>', () => {
  describe('with a webhook function', () => {
    let edge: Edge;
    const received: EdgeWebhookRequest[] = [];

    beforeAll(async () => {
      edge = await startEdge({
        port: 0,
        dynamodb: false,
        webhooks: async (request) => {
          received.push(request);
          return {
            status: 202,
            headers: { 'x-answered-by': 'webhook-function' },
            body: JSON.stringify({ queued: true }),
          };
        },
      });
    });

    afterAll(async () => {
      await edge.close();
    });

    it('hands an unsigned POST to the webhook function with its raw bytes and headers, and sends its answer back', async () => {
      // Arrange
      received.length = 0;
      const body = Buffer.from('{"webhookEvent":"jira:issue_updated","note":"caf\u00e9"}');

      // Act
      const response = await fetch(`${edge.url}/webhooks/jira?user_id=abc`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'X-Hub-Signature': 'sha256=0123',
          'X-Atlassian-Webhook-Identifier': 'delivery-1',
        },
        body,
      });

      // Assert
      expect(response.status).toBe(202);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.headers.get('x-answered-by')).toBe('webhook-function');
      await expect(response.json()).resolves.toEqual({ queued: true });
      expect(received).toHaveLength(1);
      const [request] = received;
      expect(request?.method).toBe('POST');
      expect(request?.path).toBe('/webhooks/jira');
      expect(request?.body.equals(body)).toBe(true);
      expect(request?.headers).toMatchObject({
        'content-type': 'application/json; charset=utf-8',
        'x-hub-signature': 'sha256=0123',
        'x-atlassian-webhook-identifier': 'delivery-1',
      });
    });

    it('hands any method to the webhook function, which decides (a GET is its to refuse)', async () => {
      // Arrange
      received.length = 0;

      // Act
      const response = await fetch(`${edge.url}/webhooks/pagerduty`);

      // Assert
      expect(response.status).toBe(202);
      expect(received.map((request) => [request.method, request.path, request.body.length])).toEqual([
        ['GET', '/webhooks/pagerduty', 0],
      ]);
    });
  });

  describe('without a webhook function', () => {
    let edge: Edge;

    beforeAll(async () => {
      edge = await startEdge({ port: 0, dynamodb: false });
    });

    afterAll(async () => {
      await edge.close();
    });

    it('answers 404 with a JSON body, asking for no signature', async () => {
      // Act
      const response = await fetch(`${edge.url}/webhooks/jira`, { method: 'POST', body: '{}' });

      // Assert
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/json');
      await expect(response.json()).resolves.toEqual({ error: 'no webhook function is served on this edge' });
    });
  });
});

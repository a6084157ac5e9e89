/**
 * The webhook function's handler as a function URL invokes it (payload format 2.0), on its own runtime wiring
 * (webhookDeps: the rules file, SSM through Powertools Parameters, SQS, the lease table), with the SDK clients
 * mocked so that every call is seen.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { compileRules } from '../../functions/config/access-rules-yaml';
import { handler } from '../../functions/handlers/webhook';
import { functionUrlAnswer, functionUrlEvent } from '../../infra/local/function-url';
import { lambdaContext } from '../../infra/local/lambda-context';
import { JIRA_SAMPLE_FILE, jiraSignature } from '../support/webhooks';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/111122223333/eks-access-broker-test-requests';
const TABLE = 'eks-access-broker-test-leases';
const SECRET = 'jira-webhook-secret';
const DELIVERY = 'b7e0c2a4-5d1f-4e8a-9c3b-2f6d8a0e1c45';
const BODY = readFileSync(JIRA_SAMPLE_FILE);

const ssm = mockClient(SSMClient);
const sqs = mockClient(SQSClient);
const dynamodb = mockClient(DynamoDBDocumentClient);
let rulesDir = '';

beforeAll(() => {
  rulesDir = mkdtempSync(join(tmpdir(), 'eks-access-broker-webhook-'));
  const accessRulesFile = join(rulesDir, 'access-rules.json');
  compileRules('infra/access-rules.yaml', accessRulesFile);
  Object.assign(process.env, {
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    LEASE_TABLE_NAME: TABLE,
    ACCESS_RULES_FILE: accessRulesFile,
    REQUESTS_QUEUE_URL: QUEUE_URL,
    BROKER_STAGE: 'test',
  });
});

beforeEach(() => {
  ssm.reset();
  sqs.reset();
  dynamodb.reset();
  ssm.on(GetParameterCommand).resolves({
    Parameter: { Name: '/eks-access-broker/jira/webhook-secret', Type: 'SecureString', Value: SECRET },
  });
  sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
  dynamodb.on(GetCommand).resolves({});
  dynamodb.on(PutCommand).resolves({});
});

afterAll(() => {
  rmSync(rulesDir, { recursive: true, force: true });
  ssm.restore();
  sqs.restore();
  dynamodb.restore();
});

function jiraEvent(
  options: { path?: string; method?: string; contentType?: string; delivery?: string } = {},
): LambdaFunctionURLEvent {
  return functionUrlEvent({
    method: options.method ?? 'POST',
    path: options.path ?? '/webhooks/jira',
    headers: {
      'content-type': options.contentType ?? 'application/json; charset=utf-8',
      'user-agent': 'Atlassian Webhook HTTP Client',
      'x-atlassian-webhook-identifier': options.delivery ?? DELIVERY,
      'x-hub-signature': jiraSignature(SECRET, BODY),
    },
    body: BODY,
  });
}

async function invoke(event: LambdaFunctionURLEvent) {
  return functionUrlAnswer(await handler(event, lambdaContext('eks-access-broker-test-webhook')));
}

describe('the webhook handler', () => {
  it('queues a signed Jira webhook on the requests queue in the ticket event envelope, and remembers its delivery', async () => {
    // Act
    const answer = await invoke(jiraEvent());

    // Assert
    expect(answer).toEqual({
      status: 202,
      headers: { 'content-type': 'application/json' },
      body: '{"queued":true}',
    });
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, {
      Name: '/eks-access-broker/jira/webhook-secret',
      WithDecryption: true,
    });
    expect(sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
    const sent = sqs.commandCalls(SendMessageCommand)[0]?.args[0].input;
    expect(sent?.QueueUrl).toBe(QUEUE_URL);
    expect(JSON.parse(sent?.MessageBody ?? '')).toEqual({
      source: 'eks-access-broker.webhooks',
      'detail-type': 'Ticket Event Received',
      detail: {
        integration: 'jira',
        vendor: 'jira',
        deliveryId: DELIVERY,
        ticket: 'ACCESS-12',
        event: 'jira:issue_updated',
        claims: { status: 'Approved', user: '712020:4f1e6c55-0a57-4d7c-9c0a-ca4010000003' },
        receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      },
    });
    expect(dynamodb).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE,
      Key: { pk: `D#jira#${DELIVERY}`, sk: 'D' },
      ConsistentRead: true,
    });
    expect(dynamodb).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      Item: { pk: `D#jira#${DELIVERY}`, sk: 'D', kind: 'delivery', purgeAt: expect.any(Number) },
    });
  });

  it('reads the raw bytes of a body the function URL base64-encoded (a content type it does not take as text)', async () => {
    // Arrange
    const event = jiraEvent({ contentType: 'application/octet-stream', delivery: 'base64-delivery' });

    // Act
    const answer = await invoke(event);

    // Assert
    expect(event.isBase64Encoded).toBe(true);
    expect(answer.status).toBe(202);
    expect(sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
  });

  it('answers 200 duplicate to a delivery the table has seen, sending nothing', async () => {
    // Arrange
    dynamodb.on(GetCommand).resolves({ Item: { pk: `D#jira#${DELIVERY}`, sk: 'D', kind: 'delivery' } });

    // Act
    const answer = await invoke(jiraEvent());

    // Assert
    expect(answer).toEqual({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: '{"duplicate":true}',
    });
    expect(sqs).not.toHaveReceivedCommand(SendMessageCommand);
    expect(dynamodb).not.toHaveReceivedCommand(PutCommand);
  });

  it.each(['/webhooks/jira/extra', '/webhooks/', '/jira', '/webhooks/self-service'])(
    'answers 404 at %s, calling nothing',
    async (path) => {
      // Act
      const answer = await invoke(jiraEvent({ path }));

      // Assert
      expect(answer).toEqual({
        status: 404,
        headers: { 'content-type': 'application/json' },
        body: '{"error":"no webhook integration at this path"}',
      });
      expect(ssm.calls()).toHaveLength(0);
      expect(sqs.calls()).toHaveLength(0);
      expect(dynamodb.calls()).toHaveLength(0);
    },
  );

  it('answers 405 with Allow: POST to a GET', async () => {
    // Act
    const answer = await invoke(jiraEvent({ method: 'GET' }));

    // Assert
    expect(answer).toEqual({
      status: 405,
      headers: { 'content-type': 'application/json', allow: 'POST' },
      body: '{"error":"only POST is accepted"}',
    });
  });

  it('answers 503 when SQS is down, remembering nothing, so that Jira sends the webhook again', async () => {
    // Arrange
    sqs.on(SendMessageCommand).rejects(
      Object.assign(new Error('Service unavailable'), {
        name: 'ServiceUnavailable',
        $metadata: { httpStatusCode: 503 },
      }),
    );

    // Act
    const answer = await invoke(jiraEvent({ delivery: 'sqs-down-delivery' }));

    // Assert
    expect(answer.status).toBe(503);
    expect(dynamodb).not.toHaveReceivedCommand(PutCommand);
  });
});

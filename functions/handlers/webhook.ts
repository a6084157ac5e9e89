import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { acceptWebhook } from '../app/accept-webhook';
import { logger, metrics, webhookDeps } from '../runtime';
import { flushMetrics } from './flush-metrics';

/** `/webhooks/<integration id>`, one path segment; a trailing slash is the same path. */
const WEBHOOK_PATH = /^\/webhooks\/([^/]+)\/?$/;

/**
 * The webhook function's function URL (payload format 2.0, no IAM auth: the vendors sign their bodies). The
 * integration is the path's last segment; any other path is answered as an unknown integration (404).
 */
export const handler = middy(async (event: LambdaFunctionURLEvent): Promise<LambdaFunctionURLResult> => {
  const answer = await acceptWebhook(webhookDeps(), {
    integrationId: WEBHOOK_PATH.exec(event.rawPath)?.[1] ?? '',
    method: event.requestContext.http.method,
    headers: event.headers ?? {},
    // The bytes the vendor signed: the function URL base64-encodes a body it does not take as text.
    body: Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8'),
  });
  return {
    statusCode: answer.status,
    headers: { 'content-type': 'application/json', ...answer.headers },
    body: JSON.stringify(answer.body),
  };
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(flushMetrics(metrics));

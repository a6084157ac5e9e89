import { randomUUID } from 'node:crypto';
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import type { EdgeWebhookAnswer, EdgeWebhookRequest } from './edge';

/** Content types a function URL hands over as text; any other body arrives base64-encoded. */
const TEXT_TYPES =
  /^\s*(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)\b|[^;]*\+(json|xml)\b)/i;

/**
 * A request the edge received at `/webhooks/…`, as a Lambda function URL hands it to its function (payload
 * format 2.0, no IAM auth): lowercase headers, the body as text for text content types and base64 otherwise.
 */
export function functionUrlEvent(
  request: EdgeWebhookRequest,
  options: { readonly now?: number } = {},
): LambdaFunctionURLEvent {
  const now = options.now ?? Date.now();
  const text = TEXT_TYPES.test(request.headers['content-type'] ?? '');
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: request.path,
    rawQueryString: '',
    headers: { ...request.headers },
    requestContext: {
      // What AWS names the caller of a function URL without IAM auth.
      accountId: 'anonymous',
      apiId: 'local-webhook',
      domainName: request.headers.host ?? '127.0.0.1',
      domainPrefix: 'local-webhook',
      http: {
        method: request.method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: request.headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    ...(request.body.length === 0
      ? {}
      : { body: text ? request.body.toString('utf8') : request.body.toString('base64') }),
    isBase64Encoded: request.body.length > 0 && !text,
  };
}

/** The function's answer as the function URL sends it: a structured result, or a bare string as a JSON 200. */
export function functionUrlAnswer(result: LambdaFunctionURLResult): EdgeWebhookAnswer {
  if (typeof result === 'string')
    return { status: 200, headers: { 'content-type': 'application/json' }, body: result };
  const headers = Object.fromEntries(
    Object.entries(result.headers ?? {}).map(([name, value]) => [name.toLowerCase(), String(value)]),
  );
  const body = result.body ?? '';
  return {
    status: result.statusCode ?? 200,
    headers,
    body: result.isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body,
  };
}

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { EdgeRequest } from './http';

/** The AWS query-protocol services the edge serves, with the XML namespace of their API version. */
export const QUERY_SERVICES = {
  sts: { version: '2011-06-15', namespace: 'https://sts.amazonaws.com/doc/2011-06-15/' },
  iam: { version: '2010-05-08', namespace: 'https://iam.amazonaws.com/doc/2010-05-08/' },
} as const;

export type QueryService = keyof typeof QUERY_SERVICES;

/**
 * A query-protocol request's parameters: the form body of a POST, or the query string of a GET (how a
 * presigned request travels). Both together when a client sends both, the body winning.
 */
export function queryParameters(req: EdgeRequest): URLSearchParams {
  const params = new URLSearchParams(req.query);
  const contentType = String(req.headers['content-type'] ?? '');
  if (req.method === 'POST' && contentType.startsWith('application/x-www-form-urlencoded')) {
    for (const [key, value] of new URLSearchParams(req.body.toString('utf8'))) params.set(key, value);
  }
  return params;
}

/** The query service a request names by its Version parameter, when it is not signed for one. */
export function queryServiceOf(params: URLSearchParams): QueryService | undefined {
  if (!params.has('Action')) return undefined;
  const version = params.get('Version');
  return (Object.keys(QUERY_SERVICES) as QueryService[]).find(
    (name) => QUERY_SERVICES[name].version === version,
  );
}

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** `<{action}Response><{action}Result>{result}</…Result><ResponseMetadata>…` as every query API answers. */
export function sendQueryResult(
  res: ServerResponse,
  service: QueryService,
  action: string,
  result: string,
): void {
  const requestId = randomUUID();
  send(
    res,
    200,
    requestId,
    `<${action}Response xmlns="${QUERY_SERVICES[service].namespace}">\n` +
      `  <${action}Result>\n${result}  </${action}Result>\n` +
      `  <ResponseMetadata>\n    <RequestId>${requestId}</RequestId>\n  </ResponseMetadata>\n` +
      `</${action}Response>\n`,
  );
}

/** `<ErrorResponse><Error><Type>Sender</Type><Code>…` as STS and IAM answer a refused request. */
export function sendQueryError(
  res: ServerResponse,
  service: QueryService,
  status: number,
  code: string,
  message: string,
): void {
  const requestId = randomUUID();
  send(
    res,
    status,
    requestId,
    `<ErrorResponse xmlns="${QUERY_SERVICES[service].namespace}">\n` +
      `  <Error>\n    <Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type>\n` +
      `    <Code>${escapeXml(code)}</Code>\n    <Message>${escapeXml(message)}</Message>\n  </Error>\n` +
      `  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`,
  );
}

function send(res: ServerResponse, status: number, requestId: string, xml: string): void {
  const payload = Buffer.from(xml);
  res.writeHead(status, {
    'content-type': 'text/xml',
    'content-length': String(payload.length),
    'x-amzn-requestid': requestId,
  });
  res.end(payload);
}

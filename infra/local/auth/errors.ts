import type { ServerResponse } from 'node:http';
import { sendAwsError } from '../http';
import { type QueryService, sendQueryError } from '../query-xml';
import type { AuthFailureKind } from './sigv4';

/** The wire protocol of the service a refused request was for: each names and shapes the same failure its way. */
export type AuthProtocol =
  | { readonly kind: 'json'; readonly contentType: string }
  | { readonly kind: 'sqs-json' }
  | { readonly kind: 'rest-json' }
  | { readonly kind: 'query'; readonly service: QueryService };

/*
 * What AWS answers for each refusal, by protocol. Sources (searched, 2024-2026 threads and the API references):
 * - Common Errors of every AWS API reference (e.g. docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html):
 *   InvalidClientTokenId 403, MissingAuthenticationToken 403, IncompleteSignature 400, and for the query
 *   protocol SignatureDoesNotMatch 403.
 * - Query XML (STS, IAM): `<ErrorResponse xmlns=...><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>
 *   <Message>The security token included in the request is invalid.</Message></Error><RequestId>` with 403
 *   (jrl84/amazon-sp-api#218 for STS, terraform-aws-modules/terraform-aws-eks#2890 for IAM); an out-of-window
 *   signature is SignatureDoesNotMatch "Signature expired: <date> is now earlier than <date> (<now> - 15 min.)"
 *   (aws/aws-cli#6676, on GetCallerIdentity).
 * - AWS JSON 1.0/1.1 (DynamoDB, EventBridge): 400 with `__type` com.amazon.coral.service#UnrecognizedClientException
 *   "The security token included in the request is invalid." (boto/boto3#3577, yegor256/s3auth#237 for DynamoDB),
 *   InvalidSignatureException with the same mismatch sentence (DynamoDB's error handling guide; the expired form
 *   in aws/aws-sdk-js#254, status 400), MissingAuthenticationTokenException "Request is missing Authentication
 *   Token" (architect/dynalite#105, awslabs/aws-sdk-ios-samples#111, status 400).
 * - SQS over JSON (query-compatible): 403 and the query code in x-amzn-query-error, which is what SDKs name the
 *   error after (argoproj/notifications-engine#382: "StatusCode: 403 ... api error InvalidClientTokenId").
 * - REST-JSON (EKS, behind the same front door as Lambda): 403 with x-amzn-ErrorType (iann0036/iamlive#58:
 *   "StatusCode: 403 ... UnrecognizedClientException"); an unsigned call is 403 MissingAuthenticationTokenException
 *   "Missing Authentication Token" (common-voice/common-voice#1599).
 */
const JSON_NAMES: Record<AuthFailureKind, string> = {
  missing: 'MissingAuthenticationTokenException',
  incomplete: 'IncompleteSignatureException',
  'unknown-key': 'UnrecognizedClientException',
  signature: 'InvalidSignatureException',
  expired: 'InvalidSignatureException',
};

const QUERY_CODES: Record<AuthFailureKind, string> = {
  missing: 'MissingAuthenticationToken',
  incomplete: 'IncompleteSignature',
  'unknown-key': 'InvalidClientTokenId',
  signature: 'SignatureDoesNotMatch',
  expired: 'SignatureDoesNotMatch',
};

export function sendAuthError(
  res: ServerResponse,
  protocol: AuthProtocol,
  kind: AuthFailureKind,
  message: string,
): void {
  const jsonName = JSON_NAMES[kind];
  const queryCode = QUERY_CODES[kind];
  switch (protocol.kind) {
    case 'json':
      sendAwsError(res, 400, jsonName, message, {
        contentType: protocol.contentType,
        extraBody: { __type: `com.amazon.coral.service#${jsonName}` },
      });
      return;
    case 'sqs-json':
      sendAwsError(res, kind === 'incomplete' ? 400 : 403, jsonName, message, {
        contentType: 'application/x-amz-json-1.0',
        extraBody: { __type: `com.amazon.coral.service#${jsonName}` },
        extraHeaders: { 'x-amzn-query-error': `${queryCode};Sender` },
      });
      return;
    case 'rest-json':
      sendAwsError(res, 403, jsonName, kind === 'missing' ? 'Missing Authentication Token' : message);
      return;
    case 'query':
      sendQueryError(res, protocol.service, kind === 'incomplete' ? 400 : 403, queryCode, message);
      return;
  }
}

/**
 * The size budget of one function's bundle (minified ESM, SDK and Powertools bundled), by handler file. Every
 * function stays under 600 KiB, except the SQS intake: it alone resolves the SQS senders of the integrations
 * with iam:GetRole at cold start (issue 12's trusted intake), and the IAM client costs it about 27 KiB.
 */
export function bundleBudgetKiB(handlerFile: string): number {
  return handlerFile === 'sqs-intake' ? 620 : 600;
}

/**
 * The size budget of one function's bundle (minified ESM, SDK and Powertools bundled), by handler file: 600 KiB,
 * except where a client the function cannot do without costs more, each measured with `npm run package`:
 * - sqs-intake (738 KiB measured): resolves the SQS senders with iam:GetRole (the IAM client, about 27 KiB) and
 *   reads tickets back from Jira and PagerDuty with API tokens kept in SSM or Secrets Manager (Powertools
 *   Parameters: the SSM client alone is about 78 KiB, even with GetParameter its only command; Secrets Manager
 *   about 13 KiB).
 * - dead-letter (605 KiB measured): identifies senders as the intake does (the IAM client).
 * - write-back (671 KiB measured): the SSM and Secrets Manager clients for the API tokens, and EKS to read back
 *   the access it states.
 * - webhook (523 KiB measured) stays within the default.
 */
const BUDGETS_KIB: Readonly<Record<string, number>> = {
  'sqs-intake': 760,
  'dead-letter': 640,
  'write-back': 700,
};

export function bundleBudgetKiB(handlerFile: string): number {
  return BUDGETS_KIB[handlerFile] ?? 600;
}

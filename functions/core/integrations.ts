/**
 * Integrations, the trust boundary of the access rules (rules.ts validates them): which integration a
 * channel's message belongs to, which accounts may send for it, and whether the requester STS vouched for is
 * the beneficiary of a request. A webhook integration is no channel's: nobody sends for it (webhookIntegration
 * finds it by the path its webhooks arrive on).
 */
import { globMatch } from './glob';
import type { AccessRules, Integration } from './rules';
import type { WebhookConfig } from './tickets/config';

/** An integration whose requests come from its vendor's webhooks, read back before the broker acts. */
export type WebhookIntegration = Integration & { readonly webhook: WebhookConfig };

/**
 * The webhook integration `id` (the path `/webhooks/<id>`), if there is one: an unknown id and an integration
 * that is not a webhook are the same answer, nothing to serve.
 */
export function webhookIntegration(rules: AccessRules, id: string): WebhookIntegration | undefined {
  return rules.integrations.find(
    (integration): integration is WebhookIntegration => integration.id === id && isWebhook(integration),
  );
}

function isWebhook(integration: Integration): integration is WebhookIntegration {
  return integration.webhook !== undefined;
}

/**
 * The integration that owns an EventBridge source (each source has one owner), if any. Never a webhook
 * integration: it owns no source (the rules' validation sees to that, this says it again).
 */
export function integrationOfSource(rules: AccessRules, source: string): Integration | undefined {
  return rules.integrations.find(
    (integration) => !isWebhook(integration) && integration.sources.includes(source),
  );
}

/**
 * The integration that may send on the requests queue as `principalArn`, resolved by the exact role or user
 * ARN: the only thing the broker learns from an SQS message's SenderId. Queue integrations list no globs.
 */
export function queueIntegrationOf(rules: AccessRules, principalArn: string): Integration | undefined {
  return rules.integrations.find(
    (integration) =>
      !isWebhook(integration) && integration.queue && integration.principals.includes(principalArn),
  );
}

/** The accounts of an integration's principals, each once, in file order: an event's `account` is one of them. */
export function accountsOf(integration: Integration): string[] {
  return [...new Set(integration.principals.map((principal) => principal.split(':')[4] ?? ''))];
}

/**
 * Whether the requester STS vouched for (`provenArn`, from GetCallerIdentity) is the beneficiary of a request
 * (`beneficiaryArn`, an IAM role or user ARN). An assumed-role session `arn:aws:sts::<account>:assumed-role/
 * <name>/<session>` is its role `arn:aws:iam::<account>:role/<path>/<name>`: partition, account and role name
 * must be equal, since the session ARN has no path (IAM role names are unique within an account, whatever the
 * path). An IAM user compares whole. Anything else (a federated user, the account root) is nobody's role.
 */
export function sameRole(beneficiaryArn: string, provenArn: string): boolean {
  const proven = arnParts(provenArn);
  if (proven?.service === 'iam' && proven.resource.startsWith('user/')) return provenArn === beneficiaryArn;
  if (proven?.service !== 'sts') return false;
  const session = proven.resource.split('/');
  if (session.length !== 3 || session[0] !== 'assumed-role' || !session[1] || !session[2]) return false;
  const beneficiary = arnParts(beneficiaryArn);
  if (beneficiary?.service !== 'iam' || !beneficiary.resource.startsWith('role/')) return false;
  return (
    beneficiary.partition === proven.partition &&
    beneficiary.account === proven.account &&
    beneficiary.region === '' &&
    proven.region === '' &&
    beneficiary.resource.split('/').at(-1) === session[1]
  );
}

interface ArnParts {
  readonly partition: string;
  readonly service: string;
  readonly region: string;
  readonly account: string;
  readonly resource: string;
}

function arnParts(arn: string): ArnParts | undefined {
  const parts = /^arn:([^:]+):([^:]+):([^:]*):(\d{12}):(.+)$/s.exec(arn);
  if (!parts) return undefined;
  const [, partition = '', service = '', region = '', account = '', resource = ''] = parts;
  return { partition, service, region, account, resource };
}

/**
 * Whether `callerArn` (as STS names a caller: an assumed-role session, or an IAM user) is one of the
 * integration's principals. A session is its role, whose path the session ARN does not carry: the account and
 * the role name decide, each matched against the principal glob's own.
 */
export function listsCaller(integration: Integration, callerArn: string): boolean {
  // Nobody sends for a webhook integration: its requests are what the broker read back from the vendor.
  if (isWebhook(integration)) return false;
  const session = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(callerArn);
  return integration.principals.some((glob) => {
    if (!session) return globMatch(glob, callerArn);
    const [, partition = '', , , account = '', resource = ''] = glob.split(':');
    const name = resource.slice(resource.lastIndexOf('/') + 1);
    return (
      partition === session[1] &&
      resource.startsWith('role/') &&
      globMatch(account, session[2] ?? '') &&
      globMatch(name, session[3] ?? '')
    );
  });
}

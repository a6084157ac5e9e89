/**
 * The ticketing vendors of the access rules' webhook integrations, faked for `npm start` and the tests: a fake
 * Jira Cloud site or PagerDuty account per webhook integration, sending signed webhooks to the edge's
 * `/webhooks/<integration id>`, and the secrets the rules name (the webhook secret, the broker's API token) put
 * in the edge's SSM or Secrets Manager, where the broker's functions read them as they would in AWS.
 */

import type { AccessRules } from '../../functions/core/rules';
import type { SecretRef } from '../../functions/core/tickets/config';
import type { Edge } from './edge';
import { type FakeJira, startFakeJira } from './jira/server';
import { type FakePagerDuty, startFakePagerDuty } from './pagerduty/server';

/** The webhook secret the fake Jira signs with locally (the PagerDuty fake's is in its account file). */
export const LOCAL_JIRA_WEBHOOK_SECRET = 'local-jira-webhook-secret';
/** The broker's own accounts of the fakes (infra/local/jira/site.json, infra/local/pagerduty/account.json). */
const JIRA_BROKER_EMAIL = 'eks-access-broker@example.com';
const PAGERDUTY_BROKER_KEY = 'pd-local-broker-key';

export interface LocalVendorsOptions {
  /** Where the fake Jira listens: 4580 in `npm start`, 0 (a free port) by default. */
  readonly jiraPort?: number;
  /** Where the fake PagerDuty listens: 4581 in `npm start`, 0 by default. */
  readonly pagerDutyPort?: number;
}

export interface LocalVendors {
  /** By integration id. */
  readonly jira: ReadonlyMap<string, FakeJira>;
  readonly pagerDuty: ReadonlyMap<string, FakePagerDuty>;
  /** The fakes' base URLs by integration id: TICKET_API_URLS. */
  readonly urls: Readonly<Record<string, string>>;
  /** Resolves once every webhook the fakes queued is delivered or given up. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Starts one fake per webhook integration (none without one) and stores their secrets on the edge. */
export async function startLocalVendors(
  rules: AccessRules,
  edge: Edge,
  options: LocalVendorsOptions = {},
): Promise<LocalVendors> {
  const jira = new Map<string, FakeJira>();
  const pagerDuty = new Map<string, FakePagerDuty>();
  const urls: Record<string, string> = {};
  const close = async () => {
    await Promise.allSettled([...jira.values(), ...pagerDuty.values()].map((fake) => fake.close()));
  };
  try {
    for (const integration of rules.integrations) {
      const webhook = integration.webhook;
      if (webhook === undefined) continue;
      const url = `${edge.url}/webhooks/${integration.id}`;
      if (webhook.vendor === 'jira') {
        const fake = await startFakeJira({
          port: options.jiraPort ?? 0,
          webhooks: [{ url, secret: LOCAL_JIRA_WEBHOOK_SECRET }],
        });
        jira.set(integration.id, fake);
        urls[integration.id] = fake.url;
        storeSecret(edge, webhook.secret, LOCAL_JIRA_WEBHOOK_SECRET);
        storeSecret(edge, webhook.token, fake.user(JIRA_BROKER_EMAIL).apiToken);
      } else {
        const fake = await startFakePagerDuty({ port: options.pagerDutyPort ?? 0 });
        const secret = fake.account.webhook.secret;
        fake.setWebhooks([{ url, secrets: [secret] }]);
        pagerDuty.set(integration.id, fake);
        urls[integration.id] = fake.url;
        storeSecret(edge, webhook.secret, secret);
        storeSecret(edge, webhook.token, PAGERDUTY_BROKER_KEY);
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  return {
    jira,
    pagerDuty,
    urls,
    async idle() {
      await Promise.all([...jira.values(), ...pagerDuty.values()].map((fake) => fake.idle()));
    },
    close,
  };
}

/** Puts a secret where the rules say it is kept: an SSM SecureString, or a Secrets Manager secret. */
function storeSecret(edge: Edge, ref: SecretRef, value: string): void {
  if (ref.startsWith('secretsmanager:')) {
    const name = ref.slice('secretsmanager:'.length);
    edge.secrets.create({ name, value: { secretString: value } });
  } else {
    edge.ssm.put({ name: ref, value, type: 'SecureString', overwrite: true });
  }
}

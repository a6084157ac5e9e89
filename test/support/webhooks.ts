/**
 * The vendors' webhooks as the tests send them: the sample bodies of events/webhooks, edited at a path, signed
 * as Jira and PagerDuty sign them, and the webhook integrations they are sent to.
 */
import { readFileSync } from 'node:fs';
import type { AccessRules } from '../../functions/core/rules';
import type { JiraWebhook, PagerDutyWebhook } from '../../functions/core/tickets/config';
import { signatureOf } from '../../functions/core/tickets/signatures';

export const JIRA_SAMPLE_FILE = 'events/webhooks/jira-issue-updated.json';
export const PAGERDUTY_SAMPLE_FILE = 'events/webhooks/pagerduty-incident-acknowledged.json';

export type Json = Record<string, unknown>;

export const JIRA_WEBHOOK: JiraWebhook = {
  vendor: 'jira',
  secret: '/eks-access-broker/jira/webhook-secret',
  url: 'https://example.atlassian.net',
  user: 'eks-access-broker@example.com',
  token: '/eks-access-broker/jira/api-token',
  projects: ['ACCESS'],
  statuses: { approved: ['Approved'], closed: ['Done'] },
  fields: {
    cluster: 'customfield_10100',
    principal: 'customfield_10101',
    policy: 'customfield_10102',
    durationHours: 'customfield_10104',
  },
  owners: [],
};

export const PAGERDUTY_WEBHOOK: PagerDutyWebhook = {
  vendor: 'pagerduty',
  secret: '/eks-access-broker/pagerduty/webhook-secret',
  url: 'https://api.pagerduty.com',
  token: '/eks-access-broker/pagerduty/api-key',
  from: 'eks-access-broker@example.com',
  services: [{ id: 'PSVC001', cluster: 'demo' }],
  users: [{ id: 'PUSR0AL', principal: 'arn:aws:iam::111122223333:role/oncall-alice' }],
  policy: 'AmazonEKSClusterAdminPolicy',
  durationSeconds: 3600,
};

/**
 * Access rules with the two webhook integrations (`jira`, `pagerduty`) and one that is not a webhook's
 * (`ticketing`, which sends on the bus): all the webhook intake reads of the rules.
 */
export const WEBHOOK_RULES: AccessRules = {
  version: 2,
  origin: 'test/support/webhooks.ts',
  sources: ['com.example.ticketing'],
  clusters: [],
  integrations: [
    {
      id: 'ticketing',
      principals: ['arn:aws:iam::111122223333:role/ticketing'],
      sources: ['com.example.ticketing'],
      queue: false,
      rules: [],
      breakGlass: false,
      requestedBy: 'asserted',
    },
    {
      id: 'jira',
      principals: [],
      sources: [],
      queue: false,
      rules: [],
      breakGlass: false,
      requestedBy: 'read-back',
      webhook: JIRA_WEBHOOK,
    },
    {
      id: 'pagerduty',
      principals: [],
      sources: [],
      queue: false,
      rules: [],
      breakGlass: true,
      requestedBy: 'read-back',
      webhook: PAGERDUTY_WEBHOOK,
    },
  ],
  rules: [],
};

/** A fresh copy of a sample body, parsed. */
export function sample(file: string): Json {
  return JSON.parse(readFileSync(file, 'utf8')) as Json;
}

/** A copy of `body` with the value at `path` replaced (`undefined`: removed); missing objects on the way are made. */
export function withPath(body: Json, path: readonly string[], value: unknown): Json {
  const copy = structuredClone(body);
  let at: Json = copy;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) at[key] = {};
    at = at[key] as Json;
  }
  const last = path.at(-1) ?? '';
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

/** Jira's X-Hub-Signature of `body` with `secret`. */
export function jiraSignature(secret: string, body: Uint8Array | string): string {
  return `sha256=${signatureOf(secret, body)}`;
}

/** PagerDuty's X-PagerDuty-Signature of `body`, one v1 entry per secret (several while PagerDuty rotates). */
export function pagerDutySignature(secrets: readonly string[], body: Uint8Array | string): string {
  return secrets.map((secret) => `v1=${signatureOf(secret, body)}`).join(',');
}

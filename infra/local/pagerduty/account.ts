import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';

/** The account the fake PagerDuty serves unless told otherwise (FakePagerDutyOptions.accountFile). */
export const DEFAULT_PAGERDUTY_ACCOUNT_FILE = fileURLToPath(new URL('./account.json', import.meta.url));

export class PagerDutyAccountFileError extends Error {
  override readonly name = 'PagerDutyAccountFileError';
}

/** PagerDuty object ids: a capital P then six capitals or digits (PXPGF42). */
const OBJECT_ID = /^P[0-9A-Z]{6}$/;
const id = z.string().regex(OBJECT_ID, 'a PagerDuty id: P and six capitals or digits');

const fileSchema = z.strictObject({
  description: z.string().optional(),
  /** Browser links point at https://<subdomain>.pagerduty.com, as the real account's do. */
  subdomain: z.string().regex(/^[a-z0-9-]+$/),
  users: z
    .array(
      z.strictObject({
        id,
        name: z.string().min(1),
        email: z.string().regex(/^[^@\s]+@[^@\s]+$/, 'an email address'),
        description: z.string().optional(),
      }),
    )
    .min(1),
  apiKeys: z
    .array(
      z.strictObject({
        token: z.string().min(8),
        access: z.enum(['full', 'read-only']),
        description: z.string().optional(),
      }),
    )
    .min(1),
  escalationPolicies: z.array(
    z.strictObject({
      id,
      name: z.string().min(1),
      /** User ids per level; a new incident is assigned to every user of the first level. */
      levels: z.array(z.array(id).min(1)).min(1),
    }),
  ),
  services: z.array(
    z.strictObject({
      id,
      name: z.string().min(1),
      escalationPolicy: id,
      description: z.string().optional(),
    }),
  ),
  webhook: z.strictObject({
    /** The secret `npm start` subscribes its webhook endpoint with (tests pass their own). */
    secret: z.string().min(1),
    description: z.string().optional(),
  }),
});

export type PagerDutyAccount = z.infer<typeof fileSchema>;
export type PagerDutyUser = PagerDutyAccount['users'][number];
export type PagerDutyService = PagerDutyAccount['services'][number];

/** Reads and checks the seed file: every reference must resolve, ids and emails must be unique. */
export function loadPagerDutyAccount(file: string): PagerDutyAccount {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new PagerDutyAccountFileError(`PagerDuty account file ${file}: ${(error as Error).message}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`,
    );
    throw new PagerDutyAccountFileError(`PagerDuty account file ${file}:\n  ${problems.join('\n  ')}`);
  }
  const account = parsed.data;
  const problems = referenceProblems(account);
  if (problems.length > 0) {
    throw new PagerDutyAccountFileError(`PagerDuty account file ${file}:\n  ${problems.join('\n  ')}`);
  }
  return account;
}

function referenceProblems(account: PagerDutyAccount): string[] {
  const problems: string[] = [];
  const userIds = new Set(account.users.map((user) => user.id));
  const policyIds = new Set(account.escalationPolicies.map((policy) => policy.id));
  for (const [what, values] of [
    ['object id', [...account.users, ...account.services, ...account.escalationPolicies].map((o) => o.id)],
    ['user email', account.users.map((user) => user.email.toLowerCase())],
    ['API key', account.apiKeys.map((key) => key.token)],
  ] as const) {
    const seen = new Set<string>();
    for (const value of values) {
      if (seen.has(value)) problems.push(`${what} ${value} appears twice`);
      seen.add(value);
    }
  }
  for (const policy of account.escalationPolicies) {
    for (const userId of policy.levels.flat()) {
      if (!userIds.has(userId)) problems.push(`escalation policy ${policy.id} names unknown user ${userId}`);
    }
  }
  for (const service of account.services) {
    if (!policyIds.has(service.escalationPolicy)) {
      problems.push(`service ${service.id} names unknown escalation policy ${service.escalationPolicy}`);
    }
  }
  return problems;
}

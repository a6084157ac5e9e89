import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';

/** The site the fake Jira serves unless told otherwise: users, projects, custom fields and the workflow. */
export const DEFAULT_JIRA_SITE_FILE = fileURLToPath(new URL('./site.json', import.meta.url));

export interface JiraUser {
  readonly accountId: string;
  readonly displayName: string;
  readonly emailAddress: string;
  /** The user's API token: HTTP Basic auth is `<emailAddress>:<apiToken>`. */
  readonly apiToken: string;
  readonly groups: readonly string[];
  readonly description?: string | undefined;
}

export interface JiraField {
  readonly id: string;
  readonly name: string;
  readonly type: 'string' | 'number';
}

export interface JiraProject {
  readonly id: string;
  readonly key: string;
  readonly name: string;
  readonly issueTypes: readonly { readonly id: string; readonly name: string }[];
  /** The custom field ids issues of this project have. */
  readonly fields: readonly string[];
}

export interface JiraStatus {
  readonly id: string;
  readonly name: string;
  readonly category: 'new' | 'indeterminate' | 'done';
  /** The resolution an issue gets on entering this status (a done status); none otherwise. */
  readonly resolution?: string | undefined;
}

export interface JiraTransition {
  readonly id: string;
  readonly name: string;
  /** The statuses (names) the transition is available from. */
  readonly from: readonly string[];
  readonly to: string;
}

export interface JiraSite {
  readonly origin: string;
  readonly users: readonly JiraUser[];
  readonly fields: readonly JiraField[];
  readonly projects: readonly JiraProject[];
  readonly statuses: readonly JiraStatus[];
  readonly initialStatus: string;
  readonly transitions: readonly JiraTransition[];
}

export class JiraSiteFileError extends Error {
  override readonly name = 'JiraSiteFileError';
}

const siteSchema = z.strictObject({
  description: z.string().optional(),
  users: z
    .array(
      z.strictObject({
        accountId: z.string().min(1),
        displayName: z.string().min(1),
        emailAddress: z
          .string()
          .regex(/^[^@\s:]+@[^@\s:]+$/, 'an email address (no colon: it is the Basic auth user)'),
        apiToken: z.string().min(1),
        groups: z.array(z.string().min(1)),
        description: z.string().optional(),
      }),
    )
    .min(1),
  fields: z.array(
    z.strictObject({
      id: z.string().regex(/^customfield_\d+$/, 'customfield_<digits>'),
      name: z.string().min(1),
      type: z.enum(['string', 'number']),
    }),
  ),
  projects: z
    .array(
      z.strictObject({
        id: z.string().regex(/^\d+$/),
        key: z.string().regex(/^[A-Z][A-Z0-9]+$/, 'upper-case letters and digits'),
        name: z.string().min(1),
        issueTypes: z
          .array(z.strictObject({ id: z.string().regex(/^\d+$/), name: z.string().min(1) }))
          .min(1),
        fields: z.array(z.string()),
      }),
    )
    .min(1),
  statuses: z
    .array(
      z.strictObject({
        id: z.string().regex(/^\d+$/),
        name: z.string().min(1),
        category: z.enum(['new', 'indeterminate', 'done']),
        resolution: z.string().min(1).optional(),
      }),
    )
    .min(1),
  initialStatus: z.string().min(1),
  transitions: z.array(
    z.strictObject({
      id: z.string().regex(/^\d+$/),
      name: z.string().min(1),
      from: z.array(z.string().min(1)).min(1),
      to: z.string().min(1),
    }),
  ),
});

/** Reads and checks a site file; a bad file stops the fake with a message naming the problem. */
export function loadJiraSite(file: string = DEFAULT_JIRA_SITE_FILE): JiraSite {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new JiraSiteFileError(`Jira site file ${file}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = siteSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new JiraSiteFileError(`Jira site file ${file} is invalid: ${problems.join('; ')}`);
  }
  const site = parsed.data;
  const problems = [
    ...duplicates(
      site.users.map((u) => u.accountId),
      'accountId',
    ),
    ...duplicates(
      site.users.map((u) => u.emailAddress.toLowerCase()),
      'emailAddress',
    ),
    ...duplicates(
      site.users.map((u) => u.apiToken),
      'apiToken',
    ),
    ...duplicates(
      site.fields.map((f) => f.id),
      'field id',
    ),
    ...duplicates(
      site.projects.map((p) => p.key),
      'project key',
    ),
    ...duplicates(
      site.statuses.map((s) => s.name),
      'status name',
    ),
    ...duplicates(
      site.transitions.map((t) => t.id),
      'transition id',
    ),
  ];
  const statusNames = new Set(site.statuses.map((s) => s.name));
  const fieldIds = new Set(site.fields.map((f) => f.id));
  if (!statusNames.has(site.initialStatus)) problems.push(`initialStatus ${site.initialStatus} is no status`);
  for (const t of site.transitions) {
    for (const name of [...t.from, t.to]) {
      if (!statusNames.has(name))
        problems.push(`transition ${t.id} names status ${name}, which is not declared`);
    }
  }
  for (const p of site.projects) {
    for (const id of p.fields)
      if (!fieldIds.has(id)) problems.push(`project ${p.key} names unknown field ${id}`);
  }
  if (problems.length > 0)
    throw new JiraSiteFileError(`Jira site file ${file} is invalid: ${problems.join('; ')}`);
  return { origin: file, ...site };
}

function duplicates(values: readonly string[], what: string): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const value of values) {
    if (seen.has(value)) problems.push(`${what} ${value} appears twice`);
    seen.add(value);
  }
  return problems;
}

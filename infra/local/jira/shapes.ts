/**
 * The JSON the fake answers, in Jira Cloud REST v3's documented shapes (the subset of properties the broker
 * and a curious person read; Jira sends more).
 */
import type { JiraSite, JiraStatus, JiraUser } from './site';
import { type CommentRecord, type HistoryRecord, type IssueRecord, resolutionId } from './state';

/** Jira's timestamps: milliseconds and a numeric offset without a colon, `2024-05-02T10:11:12.345+0000`. */
export function jiraTime(date: Date): string {
  return date.toISOString().replace('Z', '+0000');
}

export function userJson(base: string, user: JiraUser, withEmail = true): Record<string, unknown> {
  return {
    self: `${base}/rest/api/3/user?accountId=${encodeURIComponent(user.accountId)}`,
    accountId: user.accountId,
    accountType: 'atlassian',
    ...(withEmail ? { emailAddress: user.emailAddress } : {}),
    avatarUrls: { '48x48': `${base}/avatars/${encodeURIComponent(user.accountId)}.png` },
    displayName: user.displayName,
    active: true,
    timeZone: 'Etc/UTC',
  };
}

export function myselfJson(base: string, user: JiraUser): Record<string, unknown> {
  return {
    ...userJson(base, user),
    locale: 'en_US',
    groups: { size: user.groups.length, items: [] },
    applicationRoles: { size: 1, items: [] },
    expand: 'groups,applicationRoles',
  };
}

const CATEGORIES = {
  new: { id: 2, key: 'new', colorName: 'blue-gray', name: 'To Do' },
  indeterminate: { id: 4, key: 'indeterminate', colorName: 'yellow', name: 'In Progress' },
  done: { id: 3, key: 'done', colorName: 'green', name: 'Done' },
} as const;

export function statusJson(base: string, status: JiraStatus): Record<string, unknown> {
  const category = CATEGORIES[status.category];
  return {
    self: `${base}/rest/api/3/status/${status.id}`,
    description: '',
    iconUrl: `${base}/images/icons/statuses/generic.png`,
    name: status.name,
    id: status.id,
    statusCategory: { self: `${base}/rest/api/3/statuscategory/${category.id}`, ...category },
  };
}

/** GET /rest/api/3/issue/{key}; `only` limits the fields as the `fields` query parameter does. */
export function issueJson(
  base: string,
  site: JiraSite,
  issue: IssueRecord,
  only?: readonly string[],
): Record<string, unknown> {
  const resolution = issue.status.resolution;
  const all: Record<string, unknown> = {
    summary: issue.summary,
    description: issue.description,
    status: statusJson(base, issue.status),
    project: {
      self: `${base}/rest/api/3/project/${issue.project.id}`,
      id: issue.project.id,
      key: issue.project.key,
      name: issue.project.name,
      projectTypeKey: 'service_desk',
      simplified: false,
    },
    issuetype: {
      self: `${base}/rest/api/3/issuetype/${issue.issueType.id}`,
      id: issue.issueType.id,
      name: issue.issueType.name,
      subtask: false,
    },
    reporter: userJson(base, issue.reporter),
    creator: userJson(base, issue.creator),
    assignee: null,
    created: jiraTime(issue.created),
    updated: jiraTime(issue.updated),
    resolution: resolution
      ? {
          self: `${base}/rest/api/3/resolution/${resolutionId(site, issue.status)}`,
          id: resolutionId(site, issue.status),
          name: resolution,
        }
      : null,
    resolutiondate: issue.resolutionDate ? jiraTime(issue.resolutionDate) : null,
    labels: [],
    ...Object.fromEntries(issue.custom),
  };
  const wanted = only?.filter((f) => f !== '*all' && f !== '*navigable');
  const fields =
    wanted && wanted.length > 0
      ? Object.fromEntries(Object.entries(all).filter(([id]) => wanted.includes(id)))
      : all;
  return {
    expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations',
    id: issue.id,
    self: `${base}/rest/api/3/issue/${issue.id}`,
    key: issue.key,
    fields,
  };
}

export function historyJson(base: string, entry: HistoryRecord): Record<string, unknown> {
  return {
    id: entry.id,
    author: userJson(base, entry.author),
    created: jiraTime(entry.created),
    items: entry.items,
  };
}

export function commentJson(
  base: string,
  issue: IssueRecord,
  comment: CommentRecord,
): Record<string, unknown> {
  return {
    self: `${base}/rest/api/3/issue/${issue.id}/comment/${comment.id}`,
    id: comment.id,
    author: userJson(base, comment.author),
    body: comment.body,
    updateAuthor: userJson(base, comment.author),
    created: jiraTime(comment.created),
    updated: jiraTime(comment.created),
    jsdPublic: true,
  };
}

/** A page of a list as Jira's paged endpoints answer it (`values` for the changelog). */
export function page<T>(
  self: string,
  items: readonly T[],
  startAt: number,
  maxResults: number,
): { self: string; maxResults: number; startAt: number; total: number; isLast: boolean; values: T[] } {
  const values = items.slice(startAt, startAt + maxResults);
  return {
    self,
    maxResults,
    startAt,
    total: items.length,
    isLast: startAt + values.length >= items.length,
    values,
  };
}

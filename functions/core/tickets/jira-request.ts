/**
 * The grant a Jira issue asks for, from the fields the integration maps, built through the contract's parser:
 * a field the contract refuses is refused with the contract's own reason, naming the Jira field it came from.
 */
import type { GrantRequest, Rejection } from '../model';
import { show } from '../validation';
import type { JiraWebhook } from './config';
import { fieldTexts } from './fields';
import type { JiraIssue } from './read-back';
import { parseTicketRequest, ticketFor } from './ticket-request';

type FieldName = keyof JiraWebhook['fields'];

/** Which mapped field each of the contract's fields comes from, to name it in a refusal. */
const SOURCE_OF: Readonly<Record<string, FieldName>> = {
  'detail.clusterName': 'cluster',
  'detail.principalArn': 'principal',
  'detail.policyArn': 'policy',
  'detail.accessScope': 'namespaces',
  'detail.durationSeconds': 'durationHours',
};

type Built<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly rejection: Rejection };

/** What the issue asks for. Who approved it is not part of the request: the app keeps it on the lease's origin. */
export function jiraGrantRequest(
  integrationId: string,
  config: JiraWebhook,
  issue: JiraIssue,
): Built<GrantRequest> {
  const cluster = single(config, issue, 'cluster', 'detail.clusterName');
  if (!cluster.ok) return cluster;
  const principal = single(config, issue, 'principal', 'detail.principalArn');
  if (!principal.ok) return principal;
  const policy = single(config, issue, 'policy', 'detail.policyArn');
  if (!policy.ok) return policy;
  const namespaces = namespacesOf(config, issue);
  if (!namespaces.ok) return namespaces;
  const duration = hoursField(config, issue, 'durationHours', 'detail.durationSeconds');
  if (!duration.ok) return duration;
  const parsed = parseTicketRequest('grant', {
    requestId: `${integrationId}:${issue.key}`,
    clusterName: cluster.value,
    principalArn: principal.value,
    policyArn: policy.value,
    accessScope:
      namespaces.value.length === 0
        ? { type: 'cluster' }
        : { type: 'namespace', namespaces: namespaces.value },
    durationSeconds: duration.value,
    requestedBy: `jira:${issue.reporter ?? 'unknown'}`,
    reason: grantReason(issue),
    ticket: ticketFor('jira', issue.key, issue.url),
    breakGlass: false,
  });
  if (parsed.ok) return { ok: true, value: parsed.request };
  return { ok: false, rejection: namingJiraField(config, parsed.rejection) };
}

/** The seconds an extension transition adds, from the `extensionHours` field. */
export function extensionOf(config: JiraWebhook, issue: JiraIssue): Built<number> {
  const field = 'detail.durationSeconds';
  if (config.fields.extensionHours === undefined) {
    return invalid(field, 'the integration maps no extensionHours field, so an extension cannot be read');
  }
  const extension = hoursField(config, issue, 'extensionHours', field);
  if (!extension.ok) return extension;
  if (extension.value === undefined) {
    return invalid(field, `${describe(config, 'extensionHours')} is empty: it must hold the hours to add`);
  }
  return { ok: true, value: extension.value };
}

/**
 * The grant's reason names the issue only: it is part of the lease's fingerprint, and a reason that followed the
 * summary or the approver's name would turn every later read-back of an edited issue into a conflict. Who
 * approved is on the lease's origin (`approvedBy`), the rest is in the issue.
 */
function grantReason(issue: JiraIssue): string {
  return `${issue.key} approved in Jira`;
}

/** A field that holds one value (cluster, principal, policy); empty: undefined, which the contract requires. */
function single(
  config: JiraWebhook,
  issue: JiraIssue,
  name: FieldName,
  field: string,
): Built<string | undefined> {
  const texts = readField(config, issue, name, field);
  if (!texts.ok) return texts;
  if (texts.value.length > 1) {
    return invalid(field, `${describe(config, name)} holds ${texts.value.length} values; expected one`);
  }
  return { ok: true, value: texts.value[0] };
}

/** Namespaces, comma or space separated, in one or several values; none: cluster scope. */
function namespacesOf(config: JiraWebhook, issue: JiraIssue): Built<readonly string[]> {
  if (config.fields.namespaces === undefined) return { ok: true, value: [] };
  const texts = readField(config, issue, 'namespaces', 'detail.accessScope');
  if (!texts.ok) return texts;
  return { ok: true, value: texts.value.flatMap((text) => text.split(/[\s,]+/)).filter((ns) => ns !== '') };
}

const HOURS = /^[0-9]{1,7}(?:\.[0-9]{1,6})?$/;

/** A number of hours as whole seconds; empty: undefined. */
function hoursField(
  config: JiraWebhook,
  issue: JiraIssue,
  name: 'durationHours' | 'extensionHours',
  field: string,
): Built<number | undefined> {
  const text = single(config, issue, name, field);
  if (!text.ok) return text;
  if (text.value === undefined) return { ok: true, value: undefined };
  if (!HOURS.test(text.value)) {
    return invalid(field, `${describe(config, name)} must be a number of hours, got ${show(text.value)}`);
  }
  return { ok: true, value: Math.round(Number(text.value) * 3600) };
}

function readField(
  config: JiraWebhook,
  issue: JiraIssue,
  name: FieldName,
  field: string,
): Built<readonly string[]> {
  const id = config.fields[name];
  const texts = fieldTexts(id === undefined ? undefined : issue.fields[id]);
  if (!texts.ok) return invalid(field, `${describe(config, name)} holds ${texts.holds}, not text`);
  return { ok: true, value: texts.values };
}

/** `Jira field customfield_10100 (cluster)`. */
function describe(config: JiraWebhook, name: FieldName): string {
  return `Jira field ${config.fields[name] ?? '(none)'} (${name})`;
}

function invalid(field: string, reason: string): { readonly ok: false; readonly rejection: Rejection } {
  return { ok: false, rejection: { code: 'INVALID_FIELD', field, reason } };
}

/** The contract's rejection, saying which Jira field held the value it refused. */
function namingJiraField(config: JiraWebhook, rejection: Rejection): Rejection {
  const field = rejection.field ?? '';
  const key = Object.keys(SOURCE_OF).find(
    (k) => field === k || field.startsWith(`${k}.`) || field.startsWith(`${k}[`),
  );
  const name = key === undefined ? undefined : SOURCE_OF[key];
  if (name === undefined) return rejection;
  return { ...rejection, reason: `${rejection.reason} [${describe(config, name)}]` };
}

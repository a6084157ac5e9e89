/**
 * The checks across entries of a webhook integration in the access rules (rules.ts validates the rest of the
 * document; functions/core/tickets/config.ts documents each field of a webhook).
 */
import { CLUSTER_NAME } from './contract';
import { own, reportDuplicates } from './rules-fields';
import { type FieldProblem, formatPath, isRecord } from './validation';

/** What a webhook is checked against: the other parts of the file, and where problems go. */
interface WebhookContext {
  /** The names of the declared clusters (valid ones). */
  readonly clusters: ReadonlySet<string>;
  readonly breakGlass: { readonly maxDurationSeconds: number } | undefined;
  readonly problems: FieldProblem[];
}

/**
 * What the schema of a webhook integration cannot see: a status means one thing, an extension says how long,
 * each project, service and user is listed once, a service's cluster is declared, and PagerDuty's grants
 * (break-glass) can pass the break-glass cap. `item` is the integration, `webhook` its webhook field.
 */
export function checkWebhook(item: unknown, index: number, webhook: unknown, context: WebhookContext): void {
  const { problems } = context;
  const path = (...rest: PropertyKey[]) => ['integrations', index, 'webhook', ...rest];
  const at = (...rest: PropertyKey[]) => formatPath(path(...rest));
  const listAt = (...keys: string[]): readonly unknown[] => {
    const found = keys.reduce<unknown>((parent, key) => own(parent, key), webhook);
    return Array.isArray(found) ? found : [];
  };

  const statuses = own(webhook, 'statuses');
  checkStatuses(statuses, path('statuses'), problems);
  if (listAt('statuses', 'extend').length > 0 && isRecord(own(webhook, 'fields'))) {
    if (own(own(webhook, 'fields'), 'extensionHours') === undefined) {
      problems.push({
        field: at('fields', 'extensionHours'),
        message: 'is required with statuses.extend: the hours an extension transition adds',
      });
    }
  }
  reportDuplicates(
    listAt('projects').map((key, i) => ({ key, path: path('projects', i) })),
    'project',
    problems,
  );
  reportDuplicates(
    listAt('services').map((service, i) => ({ key: own(service, 'id'), path: path('services', i, 'id') })),
    'service',
    problems,
  );
  reportDuplicates(
    listAt('users').map((user, i) => ({ key: own(user, 'id'), path: path('users', i, 'id') })),
    'user',
    problems,
  );
  listAt('services').forEach((service, i) => {
    const cluster = own(service, 'cluster');
    if (typeof cluster === 'string' && CLUSTER_NAME.test(cluster) && !context.clusters.has(cluster)) {
      problems.push({
        field: at('services', i, 'cluster'),
        message: `cluster ${JSON.stringify(cluster)} is not declared under clusters`,
      });
    }
  });
  if (own(webhook, 'vendor') === 'pagerduty') {
    if (own(item, 'breakGlass') !== true) {
      problems.push({
        field: formatPath(['integrations', index, 'breakGlass']),
        message:
          'must be true for a pagerduty integration: its grants are break-glass (to freeze it, set rules: [])',
      });
    }
    const duration = own(webhook, 'durationSeconds');
    const cap = context.breakGlass?.maxDurationSeconds;
    if (typeof duration === 'number' && cap !== undefined && duration > cap) {
      problems.push({
        field: at('durationSeconds'),
        message: `${duration} is above breakGlass.maxDurationSeconds (${cap}): every grant of this break-glass integration would be refused`,
      });
    }
  }
}

/**
 * Each Jira status in one list at most: a status that both granted and revoked (or extended) would make what
 * an issue's status means depend on the order the broker checks them.
 */
function checkStatuses(statuses: unknown, path: readonly PropertyKey[], problems: FieldProblem[]): void {
  const first = new Map<string, { readonly list: string; readonly path: readonly PropertyKey[] }>();
  for (const list of ['approved', 'closed', 'extend']) {
    const names = own(statuses, list);
    (Array.isArray(names) ? names : []).forEach((name: unknown, i) => {
      if (typeof name !== 'string') return;
      const here = [...path, list, i];
      const seen = first.get(name);
      if (seen === undefined) first.set(name, { list, path: here });
      else if (seen.list === list) {
        problems.push({
          field: formatPath(here),
          message: `duplicate status ${JSON.stringify(name)} (also at ${formatPath(seen.path)})`,
        });
      } else {
        problems.push({
          field: formatPath(here),
          message: `status ${JSON.stringify(name)} is also under statuses.${seen.list}: a status either grants, revokes or extends`,
        });
      }
    });
  }
}

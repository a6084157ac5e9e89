import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { OutcomePublisher } from '../adapters/outcome-publisher';
import type { Log } from '../app/deps';
import { forgetLease } from '../app/forget';
import { readRulesYaml } from '../config/access-rules-yaml';
import { DETAIL_TYPES, parseRequest } from '../core/contract';
import { listsCaller } from '../core/integrations';
import type { AccessRules } from '../core/rules';
import { type CliOptions, missing, need, parseDuration, parseTicket } from './args';
import type { AwsTarget } from './aws';
import { CliError, EXIT_CODES, type ExitCode } from './errors';
import { auditTable, leaseHeadline, leaseTable } from './format';
import { signProof } from './proof';
import { putRequest, watchOutcome } from './send';

/** What a command works with: the options it was given, where it prints, and the AWS it talks to. */
export interface Invocation {
  readonly options: CliOptions;
  readonly print: (line: string) => void;
  readonly target: AwsTarget;
  /** The CLI's environment (who runs it: USER). */
  readonly env: NodeJS.ProcessEnv;
}

/** The repository's access rules, wherever the CLI is run from; a stage deployed with others: --rules. */
const DEFAULT_RULES_FILE = fileURLToPath(new URL('../../infra/access-rules.yaml', import.meta.url));

/** The operator sees the command's result and its errors; the use case's logs would only clutter the terminal. */
const QUIET_LOG: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

export async function grant(cli: Invocation, breakGlass: boolean): Promise<ExitCode> {
  const o = cli.options;
  const policy = o.policy ?? (breakGlass ? 'AmazonEKSClusterAdminPolicy' : undefined);
  const namespaces = (o.namespace ?? []).flatMap((n) => n.split(',')).filter(Boolean);
  if (namespaces.length > 0 && o['cluster-wide'])
    throw new CliError('Give --namespace or --cluster-wide, not both.');
  const accessScope =
    namespaces.length > 0
      ? { type: 'namespace', namespaces }
      : o['cluster-wide'] || breakGlass
        ? { type: 'cluster' }
        : undefined;
  return request(cli, DETAIL_TYPES.grant, {
    requestId: o['request-id'] ?? `cli-${randomUUID()}`,
    clusterName: need(o.cluster, '--cluster'),
    principalArn: need(o.principal, '--principal'),
    policyArn: need(policy, '--policy (e.g. AmazonEKSViewPolicy)'),
    accessScope: accessScope ?? missing('--namespace NS or --cluster-wide'),
    durationSeconds: parseDuration(need(o.duration, '--duration (e.g. 30m)'), '--duration'),
    requestedBy: requestedBy(cli),
    reason: need(o.reason, '--reason'),
    ...(o.ticket ? { ticket: parseTicket(o.ticket) } : {}),
    ...(breakGlass ? { breakGlass: true } : {}),
  });
}

export async function revoke(cli: Invocation, requestId: string): Promise<ExitCode> {
  return request(cli, DETAIL_TYPES.revoke, {
    requestId,
    requestedBy: requestedBy(cli),
    reason: need(cli.options.reason, '--reason'),
  });
}

export async function extend(cli: Invocation, requestId: string): Promise<ExitCode> {
  return request(cli, DETAIL_TYPES.extend, {
    requestId,
    durationSeconds: parseDuration(need(cli.options.by, '--by (e.g. 30m)'), '--by'),
    requestedBy: requestedBy(cli),
    reason: need(cli.options.reason, '--reason'),
  });
}

export async function leases(cli: Invocation): Promise<void> {
  const { options, target } = cli;
  const live = await target.call(() => target.leaseStore().listLiveLeases(1000));
  const shown = live
    .filter((l) => !options.cluster || l.clusterName === options.cluster)
    .filter((l) => !options.principal || l.principalArn === options.principal)
    .sort((a, b) => a.expiresAt - b.expiresAt);
  if (shown.length === 0) {
    cli.print('No active leases.');
    return;
  }
  cli.print(leaseTable(shown, Math.floor(Date.now() / 1000)));
}

export async function history(cli: Invocation, requestId: string): Promise<void> {
  const { target } = cli;
  const store = target.leaseStore();
  const [lease, events] = await target.call(() =>
    Promise.all([store.findLease(requestId), store.history(requestId)]),
  );
  if (!lease) throw new CliError(`No lease with requestId ${requestId} in table ${target.tableName}.`);
  cli.print(leaseHeadline(lease));
  cli.print(auditTable(events, { withRequestId: false }));
}

export async function subjectHistory(
  cli: Invocation,
  clusterName: string,
  principalArn: string,
): Promise<void> {
  const { target } = cli;
  const store = target.leaseStore();
  const events = await target.call(() => store.subjectHistory({ clusterName, principalArn }, 200));
  if (events.length === 0)
    throw new CliError(`No history for ${principalArn} on ${clusterName} in table ${target.tableName}.`);
  cli.print(auditTable(events, { withRequestId: true }));
}

export async function forget(cli: Invocation, requestId: string): Promise<void> {
  const { target } = cli;
  const store = target.leaseStore();
  const lease = await target.call(() => store.findLease(requestId));
  if (!lease) throw new CliError(`No lease with requestId ${requestId} in table ${target.tableName}.`);
  if (lease.status === 'ended')
    throw new CliError(`Lease ${requestId} has already ended (${lease.endReason}).`);
  if (lease.status !== 'irrevocable') {
    throw new CliError(
      `Lease ${requestId} is ${lease.status}, not irrevocable: end it with \`npx eks-access-broker revoke ${requestId} --reason ...\` instead.`,
    );
  }
  const publisher = new OutcomePublisher({ client: target.eventBridge(), eventBusName: target.busName });
  await target.call(() =>
    forgetLease(
      { store, publisher, log: QUIET_LOG, clock: Date.now },
      requestId,
      requestedBy(cli),
      need(cli.options.reason, '--reason'),
    ),
  );
  cli.print(
    `Forgotten: ${requestId}. Its access may remain on ${lease.clusterName}; last error: ${lease.lastError ?? 'none'}`,
  );
}

/**
 * Puts a request on the bus and, with --wait, prints what became of it; answers the exit code that says so
 * (EXIT_CODES).
 */
async function request(
  cli: Invocation,
  detailType: string,
  detail: Record<string, unknown>,
): Promise<ExitCode> {
  const { options, target } = cli;
  const source =
    options.source ??
    sourceFor(
      readRulesYaml(options.rules ?? DEFAULT_RULES_FILE),
      await target.call(() => target.callerArn()),
      detail.breakGlass === true,
    );
  // The broker would reject a bad request anyway; checking here says so before anything is sent.
  const checked = parseRequest({ source, 'detail-type': detailType, detail }, { allowedSources: [source] });
  if (!checked.ok) throw new CliError(checked.rejection.reason);
  // Proves who asks: signed with your own credentials for the stage's broker, unless the integration asserts.
  const sent = options['no-proof']
    ? detail
    : {
        ...detail,
        proof: await target.call(async () =>
          signProof(detail, { ...(await target.proofSigning()), audience: target.audience }),
        ),
      };
  const requestId = String(detail.requestId);
  const timeoutSeconds = parseDuration(options.timeout ?? '30s', '--timeout');
  // Watching starts before sending: an answer faster than the first look is still this request's.
  const watch = options.wait ? await watchOutcome(target, requestId, detailType) : undefined;
  const eventId = await putRequest(target, { source, detailType, detail: sent });
  cli.print(`${detailType}: ${requestId} (event ${eventId})`);
  if (!watch) return EXIT_CODES.done;
  const fate = await watch.wait(timeoutSeconds * 1000);
  cli.print(fate.line);
  return fate.exitCode;
}

/**
 * The source of the integration your credentials send for: the first that lists you (one allowed break-glass
 * for a break-glass request). An assumed-role session is its role, whose path the session ARN does not carry:
 * the account and the role name decide. None lists you: the rules' first source, and the broker says why not.
 */
export function sourceFor(rules: AccessRules, callerArn: string, breakGlass: boolean): string {
  const mine = rules.integrations.filter((integration) => listsCaller(integration, callerArn));
  const chosen = (breakGlass ? mine.find((integration) => integration.breakGlass) : undefined) ?? mine[0];
  return chosen?.sources[0] ?? rules.sources[0] ?? 'com.example.ticketing';
}

function requestedBy(cli: Invocation): string {
  return cli.options['requested-by'] ?? cli.env.USER ?? userInfo().username;
}

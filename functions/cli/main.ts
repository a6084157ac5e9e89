import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { LeaseStore, leaseDocumentClient } from '../adapters/lease-store';
import { OutcomePublisher } from '../adapters/outcome-publisher';
import { forgetLease } from '../app/forget';
import { readRulesYaml } from '../config/access-rules-yaml';
import { DETAIL_TYPES, parseRequest } from '../core/contract';
import type { Lease } from '../core/model';
import { OUTCOME_SOURCE } from '../core/names';
import { describeOutcomeDetail } from '../core/outcomes';

const USAGE = `Usage: npx eks-access-broker <command> [options]

Requests (put contract events on the bus, as a ticketing system would):
  grant        --cluster C --principal ARN --policy NAME (--namespace NS ... | --cluster-wide)
               --duration 30m --reason TEXT [--ticket system:key] [--request-id ID] [--wait]
  break-glass  --cluster C --principal ARN --duration 30m --reason TEXT
               [--policy NAME (default AmazonEKSClusterAdminPolicy)] [--namespace NS ...] [--wait]
  revoke       <requestId> --reason TEXT [--wait]
  extend       <requestId> --by 30m --reason TEXT [--wait]

Operations (read and change the lease table directly, with your own AWS credentials):
  leases       [--cluster C] [--principal ARN]   active leases with the time they have left
  history      <requestId>                       the lease's audit trail
  history      --cluster C --principal ARN       the principal's audit trail on the cluster, all leases
  forget       <requestId> --reason TEXT         stop retrying an irrevocable lease (its access may remain)

Common options:
  --stage S          deployed stage (default dev; "local" when AWS_ENDPOINT_URL is set)
  --table NAME       lease table (default LEASE_TABLE_NAME, else eks-access-broker-<stage>-leases)
  --bus NAME         event bus (default EVENT_BUS_NAME, else default)
  --source S         event source (default: the first source allowed by the rules file)
  --rules FILE       access rules, for defaults and early checks (default infra/access-rules.yaml)
  --requested-by WHO who asks (default: your user name)
  -h, --help         this help

Targets AWS with your usual credentials and region; set AWS_ENDPOINT_URL=http://127.0.0.1:4566 to talk to
the local broker started by \`npm start\`.`;

const OPTIONS = {
  cluster: { type: 'string' },
  principal: { type: 'string' },
  policy: { type: 'string' },
  namespace: { type: 'string', multiple: true },
  'cluster-wide': { type: 'boolean' },
  duration: { type: 'string' },
  by: { type: 'string' },
  reason: { type: 'string' },
  ticket: { type: 'string' },
  'request-id': { type: 'string' },
  wait: { type: 'boolean' },
  stage: { type: 'string' },
  table: { type: 'string' },
  bus: { type: 'string' },
  source: { type: 'string' },
  rules: { type: 'string' },
  'requested-by': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** A mistake of the person at the terminal: one line that says what to do, no stack. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

export async function main(
  argv: readonly string[],
  print: (line: string) => void = console.log,
): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    print(USAGE);
    return;
  }
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError(`${(error as Error).message}. See npx eks-access-broker --help`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    print(USAGE);
    return;
  }
  const cli = new Cli(values, print);
  switch (command) {
    case 'grant':
      return cli.grant(false);
    case 'break-glass':
      return cli.grant(true);
    case 'revoke':
      return cli.revoke(requireId(positionals, 'revoke'));
    case 'extend':
      return cli.extend(requireId(positionals, 'extend'));
    case 'leases':
      return cli.leases();
    case 'history':
      return positionals.length === 0 && values.cluster && values.principal
        ? cli.subjectHistory(values.cluster, values.principal)
        : cli.history(requireId(positionals, 'history'));
    case 'forget':
      return cli.forget(requireId(positionals, 'forget'));
    default:
      throw new CliError(
        `Unknown command "${command}". Commands: grant, break-glass, revoke, extend, leases, history, forget.`,
      );
  }
}

class Cli {
  private readonly local = Boolean(process.env.AWS_ENDPOINT_URL);
  private readonly stage: string;

  constructor(
    private readonly values: Values,
    private readonly print: (line: string) => void,
  ) {
    this.stage = values.stage ?? (this.local ? 'local' : 'dev');
  }

  async grant(breakGlass: boolean): Promise<void> {
    const v = this.values;
    const policy = v.policy ?? (breakGlass ? 'AmazonEKSClusterAdminPolicy' : undefined);
    const namespaces = (v.namespace ?? []).flatMap((n) => n.split(',')).filter(Boolean);
    if (namespaces.length > 0 && v['cluster-wide'])
      throw new CliError('Give --namespace or --cluster-wide, not both.');
    const accessScope =
      namespaces.length > 0
        ? { type: 'namespace', namespaces }
        : v['cluster-wide'] || breakGlass
          ? { type: 'cluster' }
          : undefined;
    const detail = {
      requestId: v['request-id'] ?? `cli-${randomUUID()}`,
      clusterName: need(v.cluster, '--cluster'),
      principalArn: need(v.principal, '--principal'),
      policyArn: need(policy, '--policy (e.g. AmazonEKSViewPolicy)'),
      accessScope: accessScope ?? missing('--namespace NS or --cluster-wide'),
      durationSeconds: parseDuration(need(v.duration, '--duration (e.g. 30m)'), '--duration'),
      requestedBy: this.requestedBy(),
      reason: need(v.reason, '--reason'),
      ...(v.ticket ? { ticket: parseTicket(v.ticket) } : {}),
      ...(breakGlass ? { breakGlass: true } : {}),
    };
    await this.put(DETAIL_TYPES.grant, detail);
  }

  async revoke(requestId: string): Promise<void> {
    await this.put(DETAIL_TYPES.revoke, {
      requestId,
      requestedBy: this.requestedBy(),
      reason: need(this.values.reason, '--reason'),
    });
  }

  async extend(requestId: string): Promise<void> {
    await this.put(DETAIL_TYPES.extend, {
      requestId,
      durationSeconds: parseDuration(need(this.values.by, '--by (e.g. 30m)'), '--by'),
      requestedBy: this.requestedBy(),
      reason: need(this.values.reason, '--reason'),
    });
  }

  async leases(): Promise<void> {
    const leases = await this.call(() => this.store().dueLeases(Number.MAX_SAFE_INTEGER, 1000));
    const shown = leases
      .filter((l) => !this.values.cluster || l.clusterName === this.values.cluster)
      .filter((l) => !this.values.principal || l.principalArn === this.values.principal)
      .sort((a, b) => a.expiresAt - b.expiresAt);
    if (shown.length === 0) {
      this.print('No active leases.');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    this.print(
      table(
        ['REQUEST', 'CLUSTER', 'PRINCIPAL', 'POLICY', 'SCOPE', 'STATUS', 'LEFT'],
        shown.map((l) => leaseRow(l, now)),
      ),
    );
  }

  async subjectHistory(clusterName: string, principalArn: string): Promise<void> {
    const store = this.store();
    const events = await this.call(() => store.subjectHistory({ clusterName, principalArn }, 200));
    if (events.length === 0)
      throw new CliError(`No history for ${principalArn} on ${clusterName} in table ${this.tableName()}.`);
    this.print(
      table(
        ['TIME', 'REQUEST', 'EVENT', 'BY', 'DETAIL'],
        events.map((e) => [
          new Date(e.at).toISOString(),
          e.requestId,
          e.type,
          e.actor,
          e.detail ? JSON.stringify(e.detail) : '',
        ]),
      ),
    );
  }

  async history(requestId: string): Promise<void> {
    const store = this.store();
    const [lease, events] = await this.call(() =>
      Promise.all([store.findLease(requestId), store.history(requestId)]),
    );
    if (!lease) throw new CliError(`No lease with requestId ${requestId} in table ${this.tableName()}.`);
    this.print(
      `${lease.requestId}: ${policyName(lease.policyArn)} for ${lease.principalArn} on ${lease.clusterName}, ${lease.status}`,
    );
    this.print(
      table(
        ['TIME', 'EVENT', 'BY', 'DETAIL'],
        events.map((e) => [
          new Date(e.at).toISOString(),
          e.type,
          e.actor,
          e.detail ? JSON.stringify(e.detail) : '',
        ]),
      ),
    );
  }

  async forget(requestId: string): Promise<void> {
    const store = this.store();
    const lease = await this.call(() => store.findLease(requestId));
    if (!lease) throw new CliError(`No lease with requestId ${requestId} in table ${this.tableName()}.`);
    if (lease.status === 'ended')
      throw new CliError(`Lease ${requestId} has already ended (${lease.endReason}).`);
    if (lease.status !== 'irrevocable') {
      throw new CliError(
        `Lease ${requestId} is ${lease.status}, not irrevocable: end it with \`npx eks-access-broker revoke ${requestId} --reason ...\` instead.`,
      );
    }
    const publisher = new OutcomePublisher({
      client: new EventBridgeClient(this.clientConfig()),
      eventBusName: this.bus(),
    });
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    await this.call(() =>
      forgetLease(
        { store, publisher, log, clock: Date.now },
        requestId,
        this.requestedBy(),
        need(this.values.reason, '--reason'),
      ),
    );
    this.print(
      `Forgotten: ${requestId}. Its access may remain on ${lease.clusterName}; last error: ${lease.lastError ?? 'none'}`,
    );
  }

  private async put(detailType: string, detail: Record<string, unknown>): Promise<void> {
    const source = this.values.source ?? this.rules().sources[0] ?? 'com.example.ticketing';
    // The broker would reject a bad request anyway; checking here says so before anything is sent.
    const checked = parseRequest({ source, 'detail-type': detailType, detail }, { allowedSources: [source] });
    if (!checked.ok) throw new CliError(checked.rejection.reason);
    const events = new EventBridgeClient(this.clientConfig());
    const result = await this.call(() =>
      events.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: this.bus(),
              Source: source,
              DetailType: detailType,
              Detail: JSON.stringify(detail),
            },
          ],
        }),
      ),
    );
    const failed = result.Entries?.find((e) => e.ErrorCode);
    if (failed)
      throw new CliError(`EventBridge refused the request: ${failed.ErrorCode}: ${failed.ErrorMessage}`);
    const requestId = String(detail.requestId);
    this.print(`${detailType}: ${requestId} (event ${result.Entries?.[0]?.EventId})`);
    if (this.values.wait) await this.waitFor(requestId, detailType);
  }

  /** Waits for the lease to reach the state the request asks for, or for the broker's rejection (local edge). */
  private async waitFor(requestId: string, detailType: string): Promise<void> {
    const store = this.store();
    const deadline = Date.now() + 30_000;
    const before = await this.call(() => store.findLease(requestId));
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const outcome = await this.localOutcome(requestId, detailType);
      if (outcome) {
        this.print(outcome);
        return;
      }
      const lease = await this.call(() => store.findLease(requestId));
      if (lease && lease.version !== before?.version && lease.status !== 'pending') {
        this.print(
          `${lease.status === 'ended' ? `ended (${lease.endReason})` : lease.status}: ${describeLease(lease)}`,
        );
        return;
      }
    }
    throw new CliError(
      `No outcome for ${requestId} within 30 s: look for an "Access Grant Rejected" event, or run \`npx eks-access-broker history ${requestId}\`.`,
    );
  }

  /** On the local edge the outcome events can be read back; in AWS they go to the ticketing system. */
  private async localOutcome(requestId: string, detailType: string): Promise<string | undefined> {
    const endpoint = process.env.AWS_ENDPOINT_URL;
    if (!endpoint) return undefined;
    const response = await fetch(`${endpoint}/_edge/events`).catch(() => undefined);
    if (!response?.ok) return undefined;
    const { events } = (await response.json()) as {
      events: {
        event: { source: string; 'detail-type': string; time: string; detail: Record<string, unknown> };
      }[];
    };
    const requestType = detailType;
    const match = events
      .map((e) => e.event)
      .filter((e) => e.source === OUTCOME_SOURCE && e.detail.requestId === requestId)
      .filter((e) => e['detail-type'] !== 'Access Grant Rejected' || e.detail.requestType === requestType)
      .at(-1);
    if (!match) return undefined;
    return describeOutcomeDetail(match['detail-type'], match.detail);
  }

  private requestedBy(): string {
    return this.values['requested-by'] ?? process.env.USER ?? userInfo().username;
  }

  private bus(): string {
    return this.values.bus ?? process.env.EVENT_BUS_NAME ?? 'default';
  }

  private tableName(): string {
    return this.values.table ?? process.env.LEASE_TABLE_NAME ?? `eks-access-broker-${this.stage}-leases`;
  }

  private rules() {
    return readRulesYaml(this.values.rules ?? 'infra/access-rules.yaml');
  }

  private store(): LeaseStore {
    return new LeaseStore({
      client: leaseDocumentClient(new DynamoDBClient(this.clientConfig())),
      tableName: this.tableName(),
    });
  }

  /** The SDK reads AWS_REGION; the aws CLI's AWS_DEFAULT_REGION is honoured too, and the local edge needs none. */
  private clientConfig(): { region: string } {
    const region =
      process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (this.local ? 'us-east-1' : undefined);
    if (!region) throw new CliError('No AWS region: set AWS_REGION (or AWS_DEFAULT_REGION).');
    return { region };
  }

  /** Turns the errors people meet at a terminal into a sentence that says what to do. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      const e = error as Error & { code?: string; cause?: unknown };
      const cause = (e.cause ?? e) as Error & { code?: string; name: string };
      const text = `${cause.name} ${cause.message} ${cause.code ?? ''}`;
      if (/ECONNREFUSED|ENOTFOUND/.test(text)) {
        throw new CliError(
          `Nothing answers at ${process.env.AWS_ENDPOINT_URL ?? 'the AWS endpoint'}: for the local broker run \`npm start\` first.`,
        );
      }
      if (/CredentialsProviderError|Could not load credentials/.test(text)) {
        throw new CliError(
          'No AWS credentials: set AWS_PROFILE (or keys), or AWS_ENDPOINT_URL=http://127.0.0.1:4566 for `npm start`.',
        );
      }
      if (/ResourceNotFoundException/.test(text) && /table/i.test(text)) {
        throw new CliError(`Lease table ${this.tableName()} not found: pass --table NAME or --stage STAGE.`);
      }
      throw error;
    }
  }
}

function requireId(positionals: readonly string[], command: string): string {
  const [id, ...extra] = positionals;
  if (!id || extra.length > 0) throw new CliError(`Usage: npx eks-access-broker ${command} <requestId> ...`);
  return id;
}

function need<T>(value: T | undefined, what: string): T {
  return value ?? missing(what);
}

function missing(what: string): never {
  throw new CliError(`Missing ${what}. See npx eks-access-broker --help`);
}

/** `90`, `90s`, `30m`, `2h`, `1h30m`. */
export function parseDuration(text: string, option: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$/.exec(text.trim());
  const total = match
    ? Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0)
    : Number.NaN;
  if (!match || !text.trim() || !(total > 0)) {
    throw new CliError(
      `${option} ${JSON.stringify(text)} is not a duration: use e.g. 90s, 30m, 2h or 1h30m.`,
    );
  }
  return total;
}

function parseTicket(text: string): { system: string; key: string } {
  const [system, ...key] = text.split(':');
  if (!system || key.length === 0 || !key.join(':'))
    throw new CliError(`--ticket ${JSON.stringify(text)}: use system:key, e.g. jira:OPS-123.`);
  return { system, key: key.join(':') };
}

function policyName(arn: string): string {
  return arn.replace(/^.*\//, '');
}

function describeLease(lease: Lease): string {
  const scope =
    lease.accessScope.type === 'cluster'
      ? 'cluster-wide'
      : `namespaces ${lease.accessScope.namespaces.join(',')}`;
  return `${policyName(lease.policyArn)} ${scope} for ${lease.principalArn} on ${lease.clusterName} until ${new Date(lease.expiresAt * 1000).toISOString()}`;
}

function leaseRow(lease: Lease, now: number): string[] {
  const left = lease.expiresAt - now;
  const scope = lease.accessScope.type === 'cluster' ? 'cluster' : lease.accessScope.namespaces.join(',');
  const status =
    lease.status === 'irrevocable'
      ? `IRREVOCABLE: ${lease.lastError ?? ''}`
      : lease.endReason
        ? `${lease.status} (ending: ${lease.endReason})`
        : lease.status;
  return [
    lease.requestId,
    lease.clusterName,
    lease.principalArn,
    policyName(lease.policyArn),
    scope,
    status,
    left > 0 ? formatSeconds(left) : 'due',
  ];
}

function formatSeconds(total: number): string {
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(s).padStart(2, '0')}s`
      : `${s}s`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The `bin` entry: runs a command, prints a CliError as one line, and sets the exit code. */
export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await main(argv);
  } catch (error) {
    if (error instanceof CliError) console.error(`error: ${error.message}`);
    else console.error(error);
    process.exitCode = 1;
  }
}

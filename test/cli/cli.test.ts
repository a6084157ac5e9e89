import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CliError } from '../../functions/cli/errors';
import { main } from '../../functions/cli/main';
import { runtime } from '../../functions/runtime';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { freshPrincipal, freshRequestId } from '../support/fixtures';

let broker: LocalBroker;

beforeAll(async () => {
  broker = await startLocalBroker({ port: 0, sweepIntervalMs: 0 });
});

afterAll(async () => {
  await broker.close();
});

/**
 * Runs one CLI command in-process against the local broker, as the local identity `accessKeyId` (its secret is
 * its id) would from their own shell, and returns what it printed. The default, `test`, is the ticketing
 * integration's role: the bus policy lets only it put the ticketing source.
 */
async function cliAs(accessKeyId: string, ...argv: string[]): Promise<string> {
  return (await runAs(accessKeyId, argv)).text;
}

/** The same, with the exit code it answers, in the environment `changes` make of the test's. */
async function runAs(
  accessKeyId: string,
  argv: readonly string[],
  changes: NodeJS.ProcessEnv = {},
): Promise<{ text: string; exitCode: number }> {
  const lines: string[] = [];
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: accessKeyId,
    ...changes,
  };
  const exitCode = await main(argv, (line) => lines.push(line), env);
  return { text: lines.join('\n'), exitCode };
}

function cli(...argv: string[]): Promise<string> {
  return cliAs('test', ...argv);
}

async function cliError(...argv: string[]): Promise<string> {
  return (await failure('test', argv)).message;
}

/** The CliError a command fails with, run as `accessKeyId` in the environment `changes` make. */
async function failure(
  accessKeyId: string,
  argv: readonly string[],
  changes: NodeJS.ProcessEnv = {},
): Promise<CliError> {
  try {
    await runAs(accessKeyId, argv, changes);
  } catch (error) {
    if (error instanceof CliError) return error;
    throw error;
  }
  throw new Error('expected the command to fail');
}

/** A grant of view access to `principal` on demo in namespace team-a, as `npx eks-access-broker` takes it. */
function viewGrant(principal: string, ...extra: string[]): string[] {
  return [
    'grant',
    '--cluster',
    'demo',
    '--principal',
    principal,
    '--policy',
    'AmazonEKSViewPolicy',
    '--namespace',
    'team-a',
    '--duration',
    '1h',
    '--reason',
    'exit codes',
    ...extra,
  ];
}

/** The subject history reads an index, which lags a little behind the writes. */
async function waitFor(read: () => Promise<string>, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 5_000;
  let text = '';
  while (Date.now() < deadline) {
    text = await read().catch((error: unknown) => String(error));
    if (pattern.test(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return text;
}

function entryOf(principalArn: string) {
  return broker.edge.eks
    .snapshot()
    .find((c) => c.clusterName === 'demo')
    ?.entries.find((e) => e.principalArn === principalArn);
}

describe('npx eks-access-broker against the local broker', () => {
  it('grants, lists, extends, shows the history of and revokes a lease', async () => {
    const principal = freshPrincipal('cli');
    const requestId = freshRequestId('CLI');

    const granted = await cli(
      'grant',
      '--cluster',
      'demo',
      '--principal',
      principal,
      '--policy',
      'AmazonEKSViewPolicy',
      '--namespace',
      'team-a,team-b',
      '--duration',
      '1h',
      '--reason',
      'investigating OPS-9',
      '--ticket',
      'jira:OPS-9',
      '--request-id',
      requestId,
      '--wait',
    );
    const leases = await cli('leases', '--principal', principal);
    const extended = await cli('extend', requestId, '--by', '30m', '--reason', 'still on it', '--wait');
    const revoked = await cli('revoke', requestId, '--reason', 'done', '--wait');
    // The outcome event can come a moment before the lease's last audit record is written.
    const history = await waitFor(() => cli('history', requestId), /\srevoked\s/);
    const subjectHistory = await waitFor(
      () => cli('history', '--cluster', 'demo', '--principal', principal),
      /revoked/,
    );

    expect(granted).toContain(`Access Grant Requested: ${requestId}`);
    expect(granted).toMatch(/Access Granted {2}.*AmazonEKSViewPolicy {2}namespaces team-a,team-b/);
    expect(leases).toMatch(
      new RegExp(
        `${requestId}\\s+demo\\s+\\S+\\s+AmazonEKSViewPolicy\\s+team-a,team-b\\s+active\\s+(59m|1h00m)`,
      ),
    );
    expect(extended).toContain('Access Extended');
    expect(revoked).toContain('Access Revoked');
    expect(entryOf(principal)).toBeUndefined();
    expect(
      history
        .split('\n')
        .slice(2)
        .map((line) => line.split(/\s{2,}/)[1]),
    ).toEqual(['requested', 'granted', 'extended', 'revoking', 'revoked']);
    // The subject's own history names the lease that ended it.
    expect(subjectHistory).toContain(requestId);
    expect(subjectHistory).toMatch(/revoked/);
    // Both name the ticket the grant came from.
    expect(history.split('\n')[0]).toContain('; ticket jira:OPS-9');
    expect(subjectHistory).toContain('"ticket":{"key":"OPS-9","system":"jira"}');
  });

  it('sends a break-glass grant with cluster admin by default, proven as its on-call engineer, and reports a rule refusal', async () => {
    // alice, on call, for herself: break-glass rules need the requester's proof, and the requester as beneficiary.
    const oncall = 'arn:aws:iam::111122223333:role/oncall-alice';
    const developer = freshPrincipal('dev');

    const breakGlass = await cliAs(
      'oncallalice',
      'break-glass',
      '--cluster',
      'demo',
      '--principal',
      oncall,
      '--duration',
      '15m',
      '--reason',
      'INC-1: API server down, need to inspect webhooks',
      '--wait',
    );
    const refused = await cliAs(
      'oncallalice',
      'break-glass',
      '--cluster',
      'demo',
      '--principal',
      developer,
      '--duration',
      '15m',
      '--reason',
      'INC-1: API server down, need to inspect webhooks',
      '--wait',
    );

    expect(breakGlass).toContain('Access Granted');
    expect(entryOf(oncall)?.policies.map((p) => p.policyArn)).toEqual([
      'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy',
    ]);
    expect(refused).toContain('Access Grant Rejected');
    expect(refused).toContain(
      'NOT_ALLOWED: no rule of integration oncall allows AmazonEKSClusterAdminPolicy',
    );
  });

  it('forgets only irrevocable leases, and says what to do instead', async () => {
    const requestId = freshRequestId('CLI');
    await cli(
      'grant',
      '--cluster',
      'demo',
      '--principal',
      freshPrincipal('cli'),
      '--policy',
      'AmazonEKSViewPolicy',
      '--cluster-wide',
      '--duration',
      '10m',
      '--reason',
      'r',
      '--request-id',
      requestId,
      '--wait',
    );
    const store = runtime().store;
    const lease = await store.findLease(requestId);
    if (!lease) throw new Error('lease missing');

    const refused = await cliError('forget', requestId, '--reason', 'stuck');
    await store.saveLease({ ...lease, status: 'irrevocable', lastError: 'AccessDenied' }, lease.version, {
      type: 'irrevocable',
      at: Date.now(),
      actor: 'test',
      requestId,
    });
    // An operator's outcome event: locally only the broker's own role may publish them (the bus policy).
    const forgotten = await cliAs('brokerlocal', 'forget', requestId, '--reason', 'cluster deleted');

    expect(refused).toContain(`npx eks-access-broker revoke ${requestId}`);
    expect(forgotten).toContain(`Forgotten: ${requestId}`);
    expect(await store.findLease(requestId)).toMatchObject({ status: 'ended', endReason: 'forgotten' });
  });
});

describe('--wait: an exit code for each fate of the request (README, Operations runbook)', () => {
  it('exits 0 when the grant, the extension and the revocation are done', async () => {
    const requestId = freshRequestId('CLI');
    const principal = freshPrincipal('cli');

    const granted = await runAs('test', viewGrant(principal, '--request-id', requestId, '--wait'));
    const extended = await runAs('test', ['extend', requestId, '--by', '10m', '--reason', 'r', '--wait']);
    const revoked = await runAs('test', ['revoke', requestId, '--reason', 'done', '--wait']);
    // The broker answers a second revocation with nothing: the lease has ended, which is what it asks.
    const again = await runAs('test', ['revoke', requestId, '--reason', 'done', '--wait']);

    expect([granted.exitCode, extended.exitCode, revoked.exitCode, again.exitCode]).toEqual([0, 0, 0, 0]);
    expect(again.text).toContain('already ended (requested)');
    expect(granted.text).toContain('Access Granted');
    expect(extended.text).toContain('Access Extended');
    expect(revoked.text).toContain('Access Revoked');
  });

  it('exits 2 when the broker rejects the request, and prints its code and reason', async () => {
    const rejected = await runAs('test', [
      'grant',
      '--cluster',
      'demo',
      '--principal',
      freshPrincipal('cli'),
      '--policy',
      'AmazonEKSClusterAdminPolicy',
      '--cluster-wide',
      '--duration',
      '1h',
      '--reason',
      'more than the rules allow',
      '--wait',
    ]);

    expect(rejected.exitCode).toBe(2);
    expect(rejected.text).toContain('Access Grant Rejected');
    expect(rejected.text).toContain('NOT_ALLOWED');
  });

  it('exits 3 when the broker takes the request but cannot carry it out', async () => {
    // An EC2 node's entry: the broker never changes it, so the grant fails (and changes nothing).
    const node = freshPrincipal('node');
    broker.edge.eks.createAccessEntry({ clusterName: 'demo', principalArn: node, type: 'EC2_LINUX' });

    const failed = await runAs('test', viewGrant(node, '--wait'));

    expect(failed.exitCode).toBe(3);
    expect(failed.text).toContain('Access Grant Failed');
  });

  it('exits 4 when no answer comes within --timeout: a repeated request is answered with nothing', async () => {
    const requestId = freshRequestId('CLI');
    const principal = freshPrincipal('cli');
    await runAs('test', viewGrant(principal, '--request-id', requestId, '--wait'));

    const repeated = await failure(
      'test',
      viewGrant(principal, '--request-id', requestId, '--wait', '--timeout', '1s'),
    );

    expect(repeated.exitCode).toBe(4);
    expect(repeated.message).toContain(`No outcome for ${requestId} within 1 s`);
  });

  it('exits 0 without --wait once the request is on the bus', async () => {
    const sent = await runAs('test', viewGrant(freshPrincipal('cli')));

    expect(sent.exitCode).toBe(0);
    expect(sent.text).toMatch(/^Access Grant Requested: cli-\S+ \(event \S+\)$/);
  });
});

describe('the installed command, as a shell runs it', () => {
  /** Runs `npx eks-access-broker` (its bin) against the local broker as `accessKeyId`: exit code and output. */
  async function shell(accessKeyId: string, ...argv: string[]) {
    const env = { ...process.env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: accessKeyId };
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['functions/cli/bin.mjs', ...argv], { env }, (error, stdout, stderr) => {
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      });
    });
  }

  it('exits with the code of the outcome, and prints a refusal of credentials as one line, no stack', async () => {
    const rejected = await shell(
      'test',
      'grant',
      '--cluster',
      'demo',
      '--principal',
      freshPrincipal('cli'),
      '--policy',
      'AmazonEKSClusterAdminPolicy',
      '--cluster-wide',
      '--duration',
      '1h',
      '--reason',
      'more than the rules allow',
      '--wait',
    );
    const refused = await shell('nobody', 'leases');

    expect(rejected.code).toBe(2);
    expect(rejected.stdout).toContain('Access Grant Rejected');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'error: The local broker does not know these credentials (UnrecognizedClientException): use a key `npm start` lists under Identities (its secret is the key id), e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test.\n',
    );
  });
});

describe('errors that say what to do', () => {
  it.each([
    [['frobnicate'], 'Unknown command "frobnicate"'],
    [['grant', '--cluster', 'demo'], 'Missing --principal'],
    [['grant', '--bogus'], "Unknown option '--bogus'"],
    [['revoke'], 'Usage: npx eks-access-broker revoke <requestId>'],
    [
      [
        'grant',
        '--cluster',
        'demo',
        '--principal',
        'arn:aws:sts::111122223333:assumed-role/dev/me',
        '--policy',
        'AmazonEKSViewPolicy',
        '--cluster-wide',
        '--duration',
        '1h',
        '--reason',
        'r',
      ],
      'principalArn',
    ],
    [['history', 'no-such-request'], 'No lease with requestId no-such-request'],
  ])('%j fails with %j', async (argv, message) => {
    expect(await cliError(...argv)).toContain(message);
  });

  it('says what to do, in one line, about credentials, endpoints, tables, buses and regions', async () => {
    const refused = await failure('nobody', ['leases']);
    const unreachable = await failure('test', ['leases'], { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' });
    const noTable = await failure('test', ['leases', '--table', 'no-such-table']);
    const noBus = await failure('test', viewGrant(freshPrincipal('cli'), '--bus', 'no-such-bus'));
    const denied = await failure('intruder', viewGrant(freshPrincipal('cli')));

    expect(refused.message).toBe(
      'The local broker does not know these credentials (UnrecognizedClientException): use a key `npm start` lists under Identities (its secret is the key id), e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test.',
    );
    expect(unreachable.message).toBe(
      'Nothing answers at http://127.0.0.1:1 (ECONNREFUSED): start the local broker with `npm start`, or fix AWS_ENDPOINT_URL.',
    );
    expect(noTable.message).toBe(
      `Lease table no-such-table not found in the local broker at ${broker.edge.url}: pass --stage STAGE or --table NAME.`,
    );
    expect(noBus.message).toBe(
      `Event bus no-such-bus not found in the local broker at ${broker.edge.url}: pass --stage STAGE or --bus NAME.`,
    );
    expect(denied.message).toMatch(
      /^User: arn:aws:sts::111122223333:assumed-role\/intruder\/intruder is not authorized to perform: events:PutEvents .*\. Use credentials allowed to do this/,
    );
    for (const error of [refused, unreachable, noTable, noBus, denied]) {
      expect(error.message).not.toContain('\n');
      expect(error.exitCode).toBe(1);
    }
  });

  it('says so when no region is set, nor in a profile', async () => {
    // The SDK reads the profile through the process's environment, as it would in the user's shell.
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/aws-config');
    vi.stubEnv('AWS_PROFILE', undefined);
    vi.stubEnv('AWS_REGION', undefined);
    vi.stubEnv('AWS_DEFAULT_REGION', undefined);
    try {
      const noRegion = await failure('test', ['leases', '--stage', 'prod'], {
        AWS_ENDPOINT_URL: '',
        AWS_REGION: '',
        AWS_DEFAULT_REGION: '',
      });

      expect(noRegion.message).toBe(
        'No AWS region: export AWS_REGION and AWS_DEFAULT_REGION (e.g. us-east-1), or set a region in your AWS profile.',
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('prints the help for --help', async () => {
    expect(await cli('--help')).toContain('Usage: npx eks-access-broker <command> [options]');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  const lines: string[] = [];
  const env = { ...process.env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: accessKeyId };
  await main(argv, (line) => lines.push(line), env);
  return lines.join('\n');
}

function cli(...argv: string[]): Promise<string> {
  return cliAs('test', ...argv);
}

async function cliError(...argv: string[]): Promise<string> {
  try {
    await cli(...argv);
  } catch (error) {
    if (error instanceof CliError) return error.message;
    throw error;
  }
  throw new Error('expected the command to fail');
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
    const history = await cli('history', requestId);
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

  it('prints the help for --help', async () => {
    expect(await cli('--help')).toContain('Usage: npx eks-access-broker <command> [options]');
  });
});

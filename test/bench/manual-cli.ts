import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type BenchContext, CLUSTER, EKS_LATENCY_MS, principalArn, round, row, VIEW_POLICY } from './support';
import { EKS_RATE } from './throughput';

const run = promisify(execFile);
const BENCH = '4 vs manual procedure';
/** Each aws CLI call spawns Python and costs ~0.5-1 s here, so fewer grants than benchmark 3. */
const CLI_GRANTS = 20;

/**
 * The seed's procedure (seed/eks-access-entry-cli-guide.txt): `aws eks create-access-entry` then
 * `aws eks associate-access-policy`, one grant after the other as an engineer or a script runs them, against
 * the same emulator with the same latency and rate limit as benchmark 3, in the same run.
 */
export async function manualProcedure(
  ctx: BenchContext,
  brokerGrantsPerSecond: number | undefined,
): Promise<void> {
  const eks = ctx.local.edge.eks;
  try {
    await run('aws', ['--version'], { timeout: 30_000 });
  } catch {
    row(ctx.rows, BENCH, 'skipped: the aws CLI is not on PATH', 0);
    return;
  }
  eks.faults.configure({ latency: { fixedMs: EKS_LATENCY_MS }, rateLimit: { ratePerSecond: EKS_RATE } });
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
  const aws = (...args: string[]) =>
    run('aws', ['eks', ...args, '--endpoint-url', ctx.local.edge.url, '--output', 'json'], {
      env,
      timeout: 60_000,
    });
  let granted = 0;
  const t0 = performance.now();
  for (let i = 0; i < CLI_GRANTS; i++) {
    const principal = principalArn(ctx.runId, `cli-${i}`);
    await aws(
      'create-access-entry',
      '--cluster-name',
      CLUSTER,
      '--principal-arn',
      principal,
      '--type',
      'STANDARD',
    );
    await aws(
      'associate-access-policy',
      '--cluster-name',
      CLUSTER,
      '--principal-arn',
      principal,
      '--policy-arn',
      VIEW_POLICY,
      '--access-scope',
      'type=namespace,namespaces=ns-0',
    );
    granted++;
  }
  const seconds = (performance.now() - t0) / 1000;
  eks.faults.configure({});
  const cliPerSecond = granted / seconds;
  row(ctx.rows, BENCH, `aws CLI grants (2 commands each, sequential; N=${CLI_GRANTS})`, granted);
  row(ctx.rows, BENCH, 'aws CLI grants / s', round(cliPerSecond, 2));
  if (brokerGrantsPerSecond !== undefined) {
    row(ctx.rows, BENCH, 'broker grants / s (benchmark 3, N=2000)', round(brokerGrantsPerSecond, 1));
    row(
      ctx.rows,
      BENCH,
      'broker / aws CLI grants per second',
      round(brokerGrantsPerSecond / cliPerSecond, 1),
    );
  }
}

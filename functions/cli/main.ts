import { stageResourceNames } from '../config/names';
import { parseOptions, requireId } from './args';
import { AwsTarget } from './aws';
import { extend, forget, grant, history, type Invocation, leases, revoke, subjectHistory } from './commands';
import { CliError, EXIT_CODES, type ExitCode, firstLine } from './errors';

const USAGE = `Usage: npx eks-access-broker <command> [options]

Requests (put contract events on the bus, as a ticketing system would):
  grant        --cluster C --principal ARN --policy NAME (--namespace NS ... | --cluster-wide)
               --duration 30m --reason TEXT [--ticket system:key] [--request-id ID] [--wait [--timeout 30s]]
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
  --table NAME       lease table (default LEASE_TABLE_NAME, else ${stageResourceNames('<stage>').leaseTable})
  --bus NAME         event bus (default EVENT_BUS_NAME, else the stage's, default locally)
  --source S         event source (default: that of the integration your credentials send for)
  --rules FILE       access rules, for defaults and early checks (default: this repository's infra/access-rules.yaml)
  --requested-by WHO who asks (default: your user name)
  --no-proof         send grant, break-glass, revoke and extend without the proof of who you are (signed
                     by default with your credentials: a presigned sts:GetCallerIdentity bound to the request,
                     the stage's broker and a nonce); for integrations whose requestedBy is asserted
  -h, --help         this help

--wait waits for the broker's answer (--timeout, default 30s) and prints it. Exit codes, for scripts:
  0  done: granted, revoked or extended (without --wait: the request is on the bus; other commands: done)
  1  the command could not run (a bad option, AWS refused or unreachable): one line on stderr says why
  2  rejected by the broker (Access Grant Rejected: its code and reason are printed)
  3  failed: the broker took the request but could not carry it out (Access Grant Failed, ...)
  4  timed out: no answer within --timeout; the broker may still act on the request. In AWS a rejection
     leaves no lease and its event goes to the integration: only the local broker tells it from silence.
EKS_ACCESS_BROKER_DEBUG=1 prints the whole error, with its stack, where one line would not do.

Targets AWS with your usual credentials and region (AWS_REGION, else AWS_DEFAULT_REGION, else your profile's);
set AWS_ENDPOINT_URL=http://127.0.0.1:4566 to talk to the local broker started by \`npm start\`.`;

/**
 * Runs one command; `print` receives each line it prints (tests pass their own). Answers the exit code
 * (EXIT_CODES); an error that a person can act on is thrown as a CliError with its own.
 */
export async function main(
  argv: readonly string[],
  print: (line: string) => void = console.log,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ExitCode> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    print(USAGE);
    return EXIT_CODES.done;
  }
  const { options, positionals } = parseOptions(rest);
  if (options.help) {
    print(USAGE);
    return EXIT_CODES.done;
  }
  const target = new AwsTarget(options, env);
  const cli: Invocation = { options, print, target, env };
  try {
    return await run(cli, command, positionals);
  } catch (error) {
    throw target.explain(error);
  }
}

async function run(cli: Invocation, command: string, positionals: readonly string[]): Promise<ExitCode> {
  const { options } = cli;
  switch (command) {
    case 'grant':
      return grant(cli, false);
    case 'break-glass':
      return grant(cli, true);
    case 'revoke':
      return revoke(cli, requireId(positionals, 'revoke'));
    case 'extend':
      return extend(cli, requireId(positionals, 'extend'));
    case 'leases':
      await leases(cli);
      return EXIT_CODES.done;
    case 'history':
      await (positionals.length === 0 && options.cluster && options.principal
        ? subjectHistory(cli, options.cluster, options.principal)
        : history(cli, requireId(positionals, 'history')));
      return EXIT_CODES.done;
    case 'forget':
      await forget(cli, requireId(positionals, 'forget'));
      return EXIT_CODES.done;
    default:
      throw new CliError(
        `Unknown command "${command}". Commands: grant, break-glass, revoke, extend, leases, history, forget.`,
      );
  }
}

/**
 * The `bin` entry: runs a command and sets the exit code. Every error is one line on stderr: a CliError says
 * what to do; anything else says what it was, and EKS_ACCESS_BROKER_DEBUG=1 prints it whole, with its stack.
 */
export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    if (process.env.EKS_ACCESS_BROKER_DEBUG) console.error(error);
    console.error(`error: ${errorLine(error)}`);
    process.exitCode = error instanceof CliError ? error.exitCode : EXIT_CODES.error;
  }
}

/** One line for an error: a CliError's sentence, or what an unexpected error was and how to see more. */
export function errorLine(error: unknown): string {
  if (error instanceof CliError) return error.message;
  const what = error instanceof Error ? `${error.name}: ${firstLine(error.message)}` : String(error);
  return `${what} (unexpected: EKS_ACCESS_BROKER_DEBUG=1 prints the whole error; please report it)`;
}

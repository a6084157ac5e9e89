import { stageResourceNames } from '../config/names';
import { parseOptions, requireId } from './args';
import { AwsTarget } from './aws';
import { extend, forget, grant, history, type Invocation, leases, revoke, subjectHistory } from './commands';
import { CliError } from './errors';

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
  --table NAME       lease table (default LEASE_TABLE_NAME, else ${stageResourceNames('<stage>').leaseTable})
  --bus NAME         event bus (default EVENT_BUS_NAME, else the stage's, default locally)
  --source S         event source (default: that of the integration your credentials send for)
  --rules FILE       access rules, for defaults and early checks (default infra/access-rules.yaml)
  --requested-by WHO who asks (default: your user name)
  --no-proof         send grant, break-glass, revoke and extend without the proof of who you are (signed
                     by default with your credentials: a presigned sts:GetCallerIdentity bound to the request,
                     the stage's broker and a nonce); for integrations whose requestedBy is asserted
  -h, --help         this help

Targets AWS with your usual credentials and region; set AWS_ENDPOINT_URL=http://127.0.0.1:4566 to talk to
the local broker started by \`npm start\`.`;

/** Runs one command; `print` receives each line it prints (tests pass their own). */
export async function main(
  argv: readonly string[],
  print: (line: string) => void = console.log,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    print(USAGE);
    return;
  }
  const { options, positionals } = parseOptions(rest);
  if (options.help) {
    print(USAGE);
    return;
  }
  const cli: Invocation = { options, print, target: new AwsTarget(options, env), env };
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
      return leases(cli);
    case 'history':
      return positionals.length === 0 && options.cluster && options.principal
        ? subjectHistory(cli, options.cluster, options.principal)
        : history(cli, requireId(positionals, 'history'));
    case 'forget':
      return forget(cli, requireId(positionals, 'forget'));
    default:
      throw new CliError(
        `Unknown command "${command}". Commands: grant, break-glass, revoke, extend, leases, history, forget.`,
      );
  }
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

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigurationError } from '../../functions/core/errors';
import { DEFAULT_RULES_FILE, startLocalBroker } from './broker';
import { DynamoDbLocalError } from './dynamodb-local';
import { DEFAULT_EDGE_PORT } from './edge';
import { AUTHENTICATION_MODES, type ClusterSeed } from './eks/model';
import { PortInUseError } from './http';
import { DEFAULT_IDENTITIES_FILE, IdentitiesFileError } from './identities';
import { DEFAULT_JIRA_PORT } from './jira/server';
import { DEFAULT_PAGERDUTY_PORT } from './pagerduty/server';

const USAGE = `Usage: npm start -- [options]

Runs the broker locally: its Lambda handlers on the local AWS edge (the EKS access-entry API, EventBridge
PutEvents, SQS and DynamoDB Local behind one endpoint). Point any AWS SDK or the aws CLI at it with
AWS_ENDPOINT_URL=http://127.0.0.1:<port> and a region: AWS_REGION, and AWS_DEFAULT_REGION for the aws CLI v1
(the export line printed at start sets both). Grant requests put on the bus or sent to the queue are handled
as Lambda would, and outcome events are printed here.

Options:
  --port <n>          port to listen on (default ${DEFAULT_EDGE_PORT}, or PORT); the fake Jira and PagerDuty
                      listen ${DEFAULT_JIRA_PORT - DEFAULT_EDGE_PORT} and ${DEFAULT_PAGERDUTY_PORT - DEFAULT_EDGE_PORT} ports above it (${DEFAULT_JIRA_PORT}, ${DEFAULT_PAGERDUTY_PORT}); 0 picks free ports
  --db-path <dir>     keep DynamoDB Local's data on disk in <dir> (default: in memory)
  --sweep-interval <s> seconds between sweeper and drift-check runs (default 60, like the schedule in AWS)
  --rules <file>      access rules (default ${DEFAULT_RULES_FILE}); the EKS emulator serves their clusters
  --clusters <file>   instead, a JSON list of clusters for the emulator: [{"name","region","accountId",
                      "authenticationMode"}]
  --identities <file> the access keys the edge accepts (every AWS call must be SigV4-signed by one) and
                      the IAM principal each stands for (default infra/local/identities.json)
  -h, --help          show this help`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'db-path': { type: 'string' },
      clusters: { type: 'string' },
      rules: { type: 'string' },
      identities: { type: 'string' },
      'sweep-interval': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = parsePort(values.port ?? process.env.PORT ?? String(DEFAULT_EDGE_PORT));
  const dbPath = values['db-path'];

  const broker = await startLocalBroker({
    port,
    rulesFile: values.rules ?? DEFAULT_RULES_FILE,
    ...(values.clusters ? { eks: { clusters: readClusters(values.clusters) } } : {}),
    dynamodb: dbPath ? { dbPath } : {},
    identitiesFile: values.identities ?? DEFAULT_IDENTITIES_FILE,
    print: (line) => console.log(line),
    sweepIntervalMs: parseSeconds(values['sweep-interval'] ?? '60') * 1000,
    vendors: vendorPorts(port),
  });
  const { edge } = broker;
  const clusters = edge.eks.listClusters().clusters;
  console.log(`eks-access-broker running locally; edge listening on ${edge.url}`);
  console.log(`  EKS clusters: ${clusters.join(', ')}`);
  console.log(
    `  Access rules: ${broker.rules.origin} (accepted sources: ${broker.rules.sources.join(', ')})`,
  );
  console.log(
    `  DynamoDB Local: ${dbPath ? `on disk in ${dbPath}` : 'in memory'} (pid ${edge.dynamodb?.pid})`,
  );
  console.log("  Bus and queue policies: enforced (the template's documents, rendered from these rules)");
  console.log(`    PutEvents to bus ${broker.policies.buses.join(', ')}`);
  console.log(`    SendMessage to queue ${broker.policies.queues.join(', ')}`);
  for (const [id, jira] of broker.vendors.jira) {
    console.log(
      `  Fake Jira Cloud for integration ${id}: ${jira.url} (users and API tokens: infra/local/jira/site.json); webhooks to ${edge.url}/webhooks/${id}`,
    );
  }
  for (const [id, pagerDuty] of broker.vendors.pagerDuty) {
    console.log(
      `  Fake PagerDuty for integration ${id}: ${pagerDuty.url} (users and API keys: infra/local/pagerduty/account.json); webhooks to ${edge.url}/webhooks/${id}`,
    );
  }
  console.log(`  Identities (${edge.identities.origin}): access key / secret, principal (unique id)`);
  for (const line of edge.identities.describe()) console.log(`    ${line}`);
  console.log('  Try:');
  console.log(
    `    export AWS_ENDPOINT_URL=${edge.url} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1`,
  );
  console.log('    aws events put-events --entries file://events/put-events/grant-namespaced.json');
  console.log(
    `    aws eks list-associated-access-policies --cluster-name ${clusters[0] ?? 'demo'} --principal-arn <principal>`,
  );
  console.log('Press Ctrl-C to stop.');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the edge and DynamoDB Local...`);
    broker.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`Could not stop cleanly: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/**
 * Where the fake Jira and PagerDuty listen: 4580 and 4581 beside the default edge port, as far from any other
 * edge port (two `npm start`s on different ports do not collide); free ports when the edge takes one (0).
 */
function vendorPorts(edgePort: number): { jiraPort: number; pagerDutyPort: number } {
  if (edgePort === 0) return { jiraPort: 0, pagerDutyPort: 0 };
  const offset = edgePort - DEFAULT_EDGE_PORT;
  const shift = (port: number) => (port + offset > 65535 ? 0 : port + offset);
  return { jiraPort: shift(DEFAULT_JIRA_PORT), pagerDutyPort: shift(DEFAULT_PAGERDUTY_PORT) };
}

function parsePort(raw: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port / PORT must be a whole number from 0 to 65535, got ${JSON.stringify(raw)}`);
  }
  return port;
}

function parseSeconds(raw: string): number {
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new UsageError(
      `--sweep-interval must be a number of seconds from 1 to 3600, got ${JSON.stringify(raw)}`,
    );
  }
  return seconds;
}

function readClusters(file: string): ClusterSeed[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--clusters ${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new UsageError(`--clusters ${file}: expected a non-empty JSON list of clusters`);
  }
  return parsed.map((item: unknown, i) => {
    const c = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const mode = c.authenticationMode ?? 'API_AND_CONFIG_MAP';
    if (typeof c.name !== 'string' || typeof c.region !== 'string' || typeof c.accountId !== 'string') {
      throw new UsageError(`--clusters ${file}: item ${i} needs string name, region and accountId`);
    }
    if (!(AUTHENTICATION_MODES as readonly unknown[]).includes(mode)) {
      throw new UsageError(
        `--clusters ${file}: item ${i} authenticationMode must be one of ${AUTHENTICATION_MODES.join(', ')}`,
      );
    }
    return {
      name: c.name,
      region: c.region,
      accountId: c.accountId,
      authenticationMode: mode as ClusterSeed['authenticationMode'],
    };
  });
}

class UsageError extends Error {
  override readonly name = 'UsageError';
}

main().catch((error: unknown) => {
  // Known failures get one clear line; anything else keeps its stack for whoever has to debug it.
  if (
    error instanceof PortInUseError ||
    error instanceof UsageError ||
    error instanceof DynamoDbLocalError ||
    error instanceof ConfigurationError ||
    error instanceof IdentitiesFileError ||
    error instanceof RangeError
  ) {
    console.error(`error: ${error.message}`);
  } else if (
    error instanceof TypeError &&
    'code' in error &&
    String(error.code).startsWith('ERR_PARSE_ARGS')
  ) {
    console.error(`error: ${error.message}\n\n${USAGE}`);
  } else {
    console.error(error);
  }
  process.exit(1);
});

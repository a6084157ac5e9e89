import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DynamoDbLocalError } from './dynamodb-local';
import { DEFAULT_EDGE_PORT, PortInUseError, startEdge } from './edge';
import { DEFAULT_CLUSTERS } from './eks/emulator';
import { AUTHENTICATION_MODES, type ClusterSeed } from './eks/model';

const USAGE = `Usage: npm start -- [options]

Runs the local AWS edge: the EKS access-entry API, EventBridge PutEvents, SQS and DynamoDB Local behind
one endpoint. Point any AWS SDK or the aws CLI at it with AWS_ENDPOINT_URL=http://127.0.0.1:<port>.

Options:
  --port <n>          port to listen on (default ${DEFAULT_EDGE_PORT}, or PORT)
  --db-path <dir>     keep DynamoDB Local's data on disk in <dir> (default: in memory)
  --clusters <file>   JSON list of clusters to serve: [{"name","region","accountId","authenticationMode"}]
                      (default: demo, us-east-1, 111122223333, API_AND_CONFIG_MAP)
  -h, --help          show this help`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'db-path': { type: 'string' },
      clusters: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = parsePort(values.port ?? process.env.PORT ?? String(DEFAULT_EDGE_PORT));
  const clusters = values.clusters ? readClusters(values.clusters) : DEFAULT_CLUSTERS;
  const dbPath = values['db-path'];

  const edge = await startEdge({ port, eks: { clusters }, dynamodb: dbPath ? { dbPath } : {} });
  console.log(`eks-access-broker local edge listening on ${edge.url}`);
  console.log(
    `  EKS clusters: ${clusters.map((c) => `${c.name} (${c.region}, ${c.accountId}, ${c.authenticationMode})`).join(', ')}`,
  );
  console.log(
    `  DynamoDB Local: ${dbPath ? `on disk in ${dbPath}` : 'in memory'} (pid ${edge.dynamodb?.pid})`,
  );
  console.log(
    `  Try: AWS_ENDPOINT_URL=${edge.url} aws eks list-access-entries --cluster-name ${clusters[0]?.name ?? 'demo'}`,
  );
  console.log('Press Ctrl-C to stop.');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the edge and DynamoDB Local...`);
    edge.close().then(
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

function parsePort(raw: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port / PORT must be a whole number from 0 to 65535, got ${JSON.stringify(raw)}`);
  }
  return port;
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

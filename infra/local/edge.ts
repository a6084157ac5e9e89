import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdminHandler } from './admin';
import {
  type DynamoDbLocal,
  type DynamoDbLocalOptions,
  proxyToDynamoDb,
  startDynamoDbLocal,
} from './dynamodb-local';
import { EksEmulator, type EksEmulatorOptions } from './eks/emulator';
import { createEksHandler } from './eks/routes';
import { LocalEventBus } from './eventbridge/local-event-bus';
import { createEventBridgeHandler } from './eventbridge/routes';
import type { LocalEventBusOptions } from './eventbridge/types';
import { BodyTooLargeError, type EdgeRequest, readBody, sendAwsError, signingService } from './http';
import { LocalQueues } from './sqs/local-queues';
import { createSqsHandler } from './sqs/routes';
import type { LocalQueuesOptions } from './sqs/types';

export interface EdgeOptions {
  /** 127.0.0.1 unless told otherwise: the edge is for this machine only. */
  readonly host?: string;
  /** 4566 by default; 0 picks a free port (tests). */
  readonly port?: number;
  /** The AWS account and region the local services pretend to live in. */
  readonly accountId?: string;
  readonly region?: string;
  readonly eks?: EksEmulatorOptions;
  /** Queues the local SQS starts with; it has none otherwise. */
  readonly sqs?: Pick<LocalQueuesOptions, 'queues'>;
  /** Event buses the local EventBridge serves besides "default". */
  readonly eventBridge?: Pick<LocalEventBusOptions, 'busNames'>;
  /** DynamoDB Local behind the edge; `false` starts none (DynamoDB calls then answer 503). */
  readonly dynamodb?: DynamoDbLocalOptions | false;
}

export interface Edge {
  readonly url: string;
  readonly port: number;
  readonly accountId: string;
  readonly region: string;
  readonly eks: EksEmulator;
  readonly bus: LocalEventBus;
  readonly queues: LocalQueues;
  readonly dynamodb: DynamoDbLocal | undefined;
  close(): Promise<void>;
}

export const DEFAULT_EDGE_PORT = 4566;
export const DEFAULT_ACCOUNT_ID = '111122223333';
export const DEFAULT_REGION = 'us-east-1';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    super(
      `Port ${port} on ${host} is already in use. Stop what listens there or pick another with --port / PORT.`,
    );
  }
}

/** Starts the local edge: one HTTP endpoint for EKS, EventBridge, SQS and (proxied) DynamoDB Local. */
export async function startEdge(options: EdgeOptions = {}): Promise<Edge> {
  const host = options.host ?? '127.0.0.1';
  const accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
  const region = options.region ?? DEFAULT_REGION;
  const eks = new EksEmulator(options.eks);
  const bus = new LocalEventBus({ accountId, region, ...options.eventBridge });
  const queues = new LocalQueues({ accountId, region, ...options.sqs });

  const server = createServer();
  await listen(server, host, options.port ?? DEFAULT_EDGE_PORT);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host}:${port}`;

  let dynamodb: DynamoDbLocal | undefined;
  try {
    dynamodb = options.dynamodb === false ? undefined : await startDynamoDbLocal(options.dynamodb ?? {});
  } catch (error) {
    await closeServer(server);
    throw error;
  }

  const handlers = {
    eks: createEksHandler(eks),
    events: createEventBridgeHandler(bus),
    sqs: createSqsHandler(queues),
    dynamodb: dynamodb ? proxyToDynamoDb(dynamodb.endpoint) : undefined,
    admin: createAdminHandler({ eks, bus, queues }),
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void dispatch(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        sendAwsError(res, 500, 'InternalFailure', `The local edge failed: ${(error as Error).message}`);
      } else {
        res.destroy();
      }
    });
  });

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer;
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        sendAwsError(res, 413, 'RequestEntityTooLarge', error.message);
        return;
      }
      throw error;
    }
    const parsed = new URL(req.url ?? '/', url);
    const request: EdgeRequest = {
      method: req.method ?? 'GET',
      rawPath: (req.url ?? '/').split('?')[0] ?? '/',
      query: parsed.searchParams,
      headers: req.headers,
      body,
      origin: `http://${req.headers.host ?? `${host}:${port}`}`,
    };
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target.startsWith('DynamoDB_20120810.')) {
      if (!handlers.dynamodb) {
        sendAwsError(res, 503, 'ServiceUnavailableException', 'DynamoDB Local is not running on this edge.');
        return;
      }
      await handlers.dynamodb(request, res);
    } else if (target.startsWith('AWSEvents.')) {
      await handlers.events(request, res);
    } else if (target.startsWith('AmazonSQS.')) {
      await handlers.sqs(request, res);
    } else if (request.rawPath.startsWith('/_edge/')) {
      await handlers.admin(request, res);
    } else if (signingService(req.headers) === 'eks' || isEksPath(request.rawPath)) {
      await handlers.eks(request, res);
    } else {
      sendAwsError(
        res,
        404,
        'UnknownOperationException',
        `The local edge serves no operation at ${request.method} ${request.rawPath}`,
      );
    }
  }

  return {
    url,
    port,
    accountId,
    region,
    eks,
    bus,
    queues,
    dynamodb,
    async close() {
      queues.close();
      await closeServer(server);
      await dynamodb?.stop();
    },
  };
}

function isEksPath(rawPath: string): boolean {
  return (
    rawPath.startsWith('/clusters') || rawPath.startsWith('/access-policies') || rawPath.startsWith('/tags/')
  );
}

function listen(server: ReturnType<typeof createServer>, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(host, port) : error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function closeServer(server: ReturnType<typeof createServer>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

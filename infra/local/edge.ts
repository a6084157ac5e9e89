import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdminHandler } from './admin';
import { type AuthProtocol, sendAuthError } from './auth/errors';
import { authenticate, claimedSigningService } from './auth/sigv4';
import {
  type DynamoDbLocal,
  type DynamoDbLocalOptions,
  proxyToDynamoDb,
  startDynamoDbLocal,
} from './dynamodb-local';
import { cloudTrailEntry } from './eks/cloudtrail';
import { EksEmulator, type EksEmulatorOptions } from './eks/emulator';
import { createEksHandler } from './eks/routes';
import { LocalEventBus } from './eventbridge/local-event-bus';
import { createEventBridgeHandler } from './eventbridge/routes';
import type { LocalEventBusOptions } from './eventbridge/types';
import {
  BodyTooLargeError,
  closeServer,
  type EdgeRequest,
  listen,
  readBody,
  type ServiceHandler,
  sendAwsError,
} from './http';
import { createIamHandler } from './iam/routes';
import { DEFAULT_IDENTITIES_FILE, type LocalIdentities, loadIdentities } from './identities';
import { type QueryService, queryParameters, queryServiceOf } from './query-xml';
import { createSecretsManagerHandler } from './secretsmanager/routes';
import { LocalSecrets } from './secretsmanager/secret-store';
import { LocalQueues } from './sqs/local-queues';
import { createSqsHandler } from './sqs/routes';
import type { LocalQueuesOptions } from './sqs/types';
import { LocalParameterStore } from './ssm/parameter-store';
import { createSsmHandler } from './ssm/routes';
import { handleSts } from './sts/routes';

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
  /** The access keys the edge accepts and whose they are; infra/local/identities.json by default. */
  readonly identitiesFile?: string;
  /**
   * The broker's webhook function, served at `/webhooks/<integration id>` as its function URL is in AWS: never
   * SigV4-signed (the vendors sign their bodies). Absent: those paths answer 404.
   */
  readonly webhooks?: (request: EdgeWebhookRequest) => Promise<EdgeWebhookAnswer>;
  /**
   * CloudTrail, as a trail logging management events gives it: every mutating EKS call that succeeds puts its
   * "AWS API Call via CloudTrail" event on the default bus (infra/local/eks/cloudtrail.ts), except those signed
   * by `exceptPrincipals` (IAM role or user ARNs: the broker's own, as the deployed rule leaves them out).
   * `false`: no trail.
   */
  readonly cloudTrail?: { readonly exceptPrincipals?: readonly string[] } | false;
}

/** A request to `/webhooks/…`, as the edge hands it to the webhook function's handler. */
export interface EdgeWebhookRequest {
  readonly method: string;
  /** The raw path, without the query string. */
  readonly path: string;
  /** Names in lowercase; repeated headers joined with a comma, as a function URL does. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface EdgeWebhookAnswer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface Edge {
  readonly url: string;
  readonly port: number;
  readonly accountId: string;
  readonly region: string;
  readonly eks: EksEmulator;
  readonly bus: LocalEventBus;
  readonly queues: LocalQueues;
  /** The local SSM Parameter Store and Secrets Manager (npm start puts the integrations' secrets there). */
  readonly ssm: LocalParameterStore;
  readonly secrets: LocalSecrets;
  readonly dynamodb: DynamoDbLocal | undefined;
  readonly identities: LocalIdentities;
  close(): Promise<void>;
}

export const DEFAULT_EDGE_PORT = 4566;
export const DEFAULT_ACCOUNT_ID = '111122223333';
export const DEFAULT_REGION = 'us-east-1';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Starts the local edge: one HTTP endpoint for EKS, EventBridge, SQS and (proxied) DynamoDB Local. */
export async function startEdge(options: EdgeOptions = {}): Promise<Edge> {
  const host = options.host ?? '127.0.0.1';
  const accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
  const region = options.region ?? DEFAULT_REGION;
  // Read first: a bad identities file stops the edge before anything listens.
  const identities = loadIdentities(options.identitiesFile ?? DEFAULT_IDENTITIES_FILE);
  const eks = new EksEmulator(options.eks);
  const bus = new LocalEventBus({ accountId, region, ...options.eventBridge });
  const queues = new LocalQueues({ accountId, region, ...options.sqs });
  const ssm = new LocalParameterStore({ accountId, region });
  const secrets = new LocalSecrets({ accountId, region });

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

  const untrailed = new Set(options.cloudTrail ? (options.cloudTrail.exceptPrincipals ?? []) : []);
  const handlers = {
    eks: createEksHandler(eks, {
      onCommitted: (call) => {
        const caller = call.request.caller;
        if (options.cloudTrail === false || caller === undefined || untrailed.has(caller.principalArn))
          return;
        bus.putServiceEvent(cloudTrailEntry(call, caller, { accountId, region }));
      },
    }),
    events: createEventBridgeHandler(bus),
    sqs: createSqsHandler(queues),
    ssm: createSsmHandler(ssm),
    secretsmanager: createSecretsManagerHandler(secrets),
    dynamodb: dynamodb ? proxyToDynamoDb(dynamodb.endpoint) : undefined,
    sts: handleSts,
    iam: createIamHandler(identities),
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
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const request: EdgeRequest = {
      method: req.method ?? 'GET',
      rawPath: queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt),
      query: new URL(rawUrl, url).searchParams,
      rawQuery: queryAt < 0 ? '' : rawUrl.slice(queryAt + 1),
      headers: req.headers,
      body,
      origin: `http://${req.headers.host ?? `${host}:${port}`}`,
    };
    // The admin routes are the edge's own, not AWS's: never signed.
    if (request.rawPath.startsWith('/_edge/')) {
      await handlers.admin(request, res);
      return;
    }
    // The vendors' webhooks: their signature is the vendor's HMAC, checked by the webhook function, not SigV4.
    if (request.rawPath.startsWith('/webhooks/')) {
      await serveWebhook(options.webhooks, request, res);
      return;
    }
    const route = routeOf(request);
    if (!route) {
      sendAwsError(
        res,
        404,
        'UnknownOperationException',
        `The local edge serves no operation at ${request.method} ${request.rawPath}`,
      );
      return;
    }
    if (route.service === 'dynamodb' && !handlers.dynamodb) {
      sendAwsError(res, 503, 'ServiceUnavailableException', 'DynamoDB Local is not running on this edge.');
      return;
    }
    // Every AWS call is signed by a known identity, checked before the service sees it.
    const auth = await authenticate(request, identities);
    if (!auth.ok) {
      sendAuthError(res, route.protocol, auth.kind, auth.message);
      return;
    }
    const handler = handlers[route.service] as ServiceHandler;
    await handler({ ...request, caller: auth.caller }, res);
  }

  return {
    url,
    port,
    accountId,
    region,
    eks,
    bus,
    queues,
    ssm,
    secrets,
    dynamodb,
    identities,
    async close() {
      queues.close();
      await closeServer(server);
      await dynamodb?.stop();
    },
  };
}

type Service = 'dynamodb' | 'events' | 'sqs' | 'eks' | 'ssm' | 'secretsmanager' | QueryService;

/** Which service a request is for, and so in which protocol a refusal must be worded. */
function routeOf(request: EdgeRequest): { service: Service; protocol: AuthProtocol } | undefined {
  const target = String(request.headers['x-amz-target'] ?? '');
  if (target.startsWith('DynamoDB_20120810.')) {
    return { service: 'dynamodb', protocol: { kind: 'json', contentType: 'application/x-amz-json-1.0' } };
  }
  if (target.startsWith('AWSEvents.')) {
    return { service: 'events', protocol: { kind: 'json', contentType: 'application/x-amz-json-1.1' } };
  }
  if (target.startsWith('AmazonSQS.')) return { service: 'sqs', protocol: { kind: 'sqs-json' } };
  if (target.startsWith('AmazonSSM.')) {
    return { service: 'ssm', protocol: { kind: 'json', contentType: 'application/x-amz-json-1.1' } };
  }
  if (target.startsWith('secretsmanager.')) {
    return {
      service: 'secretsmanager',
      protocol: { kind: 'json', contentType: 'application/x-amz-json-1.1' },
    };
  }
  const signedFor = claimedSigningService(request);
  if (signedFor === 'eks' || (signedFor === undefined && isEksPath(request.rawPath))) {
    return { service: 'eks', protocol: { kind: 'rest-json' } };
  }
  const query =
    signedFor === 'sts' || signedFor === 'iam' ? signedFor : queryServiceOf(queryParameters(request));
  if (query) return { service: query, protocol: { kind: 'query', service: query } };
  return undefined;
}

function isEksPath(rawPath: string): boolean {
  return (
    rawPath.startsWith('/clusters') || rawPath.startsWith('/access-policies') || rawPath.startsWith('/tags/')
  );
}

async function serveWebhook(
  webhooks: EdgeOptions['webhooks'],
  request: EdgeRequest,
  res: ServerResponse,
): Promise<void> {
  const answer: EdgeWebhookAnswer = webhooks
    ? await webhooks({
        method: request.method,
        path: request.rawPath,
        headers: Object.fromEntries(
          Object.entries(request.headers).flatMap(([name, value]) =>
            value === undefined ? [] : [[name, Array.isArray(value) ? value.join(',') : value]],
          ),
        ),
        body: request.body,
      })
    : { status: 404, body: JSON.stringify({ error: 'no webhook function is served on this edge' }) };
  const payload = Buffer.from(answer.body);
  res.writeHead(answer.status, {
    'content-type': 'application/json',
    ...answer.headers,
    'content-length': String(payload.length),
  });
  res.end(payload);
}

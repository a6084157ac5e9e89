import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EKSClient } from '@aws-sdk/client-eks';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { SQSClient } from '@aws-sdk/client-sqs';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EksAccess } from './adapters/eks-access';
import { AdaptivePacer, pace } from './adapters/eks-pacing';
import { ExpiryTimers } from './adapters/expiry-timers';
import { IamSenders } from './adapters/iam-senders';
import { LeaseStore, leaseDocumentClient } from './adapters/lease-table';
import { OutcomePublisher } from './adapters/outcome-publisher';
import { ParameterSecrets } from './adapters/secrets';
import { resolveStsTarget, StsIdentityProofs } from './adapters/sts-identity-proofs';
import { SqsTicketEventQueue } from './adapters/ticket-event-queue';
import { VendorApis } from './adapters/ticket-systems';
import type { WebhookDeps } from './app/accept-webhook';
import type { AppDeps, IntakeDeps, TicketIntakeDeps } from './app/deps';
import { type BrokerMetrics, METRICS_NAMESPACE, STAGE_DIMENSION } from './app/metrics';
import type { Senders, TicketSystems } from './app/ports';
import type { WriteBackDeps } from './app/write-back';
import { loadRulesFile } from './config/access-rules-file';
import { DEFAULT_REVOCATION_BUDGET } from './config/defaults';
import { type BrokerConfig, loadConfig, loadWebhookConfig } from './config/environment';
import { BROKER_NAME } from './core/names';
import type { AccessRules } from './core/rules';

/** Everything a handler needs, built once per cold start: SDK clients, adapters, rules, the use cases' deps. */
export interface Runtime {
  readonly config: Readonly<BrokerConfig>;
  readonly deps: AppDeps;
  /** The lease table with its operator reads (history), for the CLI and the tests. */
  readonly store: LeaseStore;
  /** The lease table's document client (tests count its requests with SDK middleware). */
  readonly dynamodb: DynamoDBDocumentClient;
}

export const logger = new Logger({ serviceName: BROKER_NAME });
// Handlers publish what an invocation recorded, and nothing when it recorded nothing (handlers/flush-metrics.ts);
// Powertools' warnings go to the structured log. The stage dimension is set when the runtime is built.
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: BROKER_NAME, logger });

const brokerMetrics: BrokerMetrics = {
  add: (name, value = 1) => {
    metrics.addMetric(name, name.endsWith('Seconds') ? MetricUnit.Seconds : MetricUnit.Count, value);
  },
};

let taggedStage: string | undefined;

/**
 * Every metric carries the stage. Set once per process: `npm start` runs every function in one process, and
 * Powertools warns when a dimension is set again.
 */
function tagStage(stage: string): void {
  if (taggedStage === stage) return;
  metrics.setDefaultDimensions({ [STAGE_DIMENSION]: stage });
  taggedStage = stage;
}

/**
 * Builds the runtime. The SDK clients take their endpoint from the standard AWS_ENDPOINT_URL variable, so
 * the same code talks to AWS in Lambda and to the local edge in `npm start` and the tests.
 */
export function createRuntime(
  config: Readonly<BrokerConfig>,
  options: { clock?: () => number } = {},
): Runtime {
  tagStage(config.stage);
  const rules = loadRulesFile(config.accessRulesFile);
  const dynamodb = leaseDocumentClient(new DynamoDBClient({}));
  const store = new LeaseStore({ client: dynamodb, tableName: config.leaseTableName });
  const eks = new EksAccess({ clientFor: eksClients(rules) });
  const publisher = new OutcomePublisher({
    client: new EventBridgeClient({}),
    eventBusName: config.eventBusName,
  });
  const timers = new ExpiryTimers({ client: new SQSClient({}), queueUrl: config.timerQueueUrl });
  const deps: AppDeps = {
    store,
    locks: store,
    eks,
    publisher,
    timers,
    rules,
    clock: options.clock ?? Date.now,
    log: logger,
    metrics: brokerMetrics,
    lockWaitMs: config.lockWaitMs,
    revocationBudget: DEFAULT_REVOCATION_BUDGET,
  };
  return { config, deps, store, dynamodb };
}

/**
 * EKS throttles its access-entry API per account and region, and a container works a batch of records at
 * once: every client of one account and region shares one pacer (see AdaptivePacer), and the SDK retries a
 * throttled attempt (jittered backoff) up to EKS_MAX_ATTEMPTS times before the record is left to redelivery.
 */
const EKS_MAX_ATTEMPTS = 5;

/** One EKS client per configured cluster: its region, and the role to assume for another account. */
function eksClients(rules: AccessRules): (clusterName: string) => EKSClient {
  const clients = new Map<string, EKSClient>();
  const pacers = new Map<string, AdaptivePacer>();
  for (const cluster of rules.clusters) {
    const limit = `${cluster.accountId}/${cluster.region}`;
    const pacer = pacers.get(limit) ?? new AdaptivePacer();
    pacers.set(limit, pacer);
    const client = new EKSClient({
      region: cluster.region,
      maxAttempts: EKS_MAX_ATTEMPTS,
      ...(cluster.roleArn
        ? {
            credentials: fromTemporaryCredentials({
              params: { RoleArn: cluster.roleArn, RoleSessionName: BROKER_NAME },
              clientConfig: { region: cluster.region },
            }),
          }
        : {}),
    });
    clients.set(cluster.name, pace(client, pacer));
  }
  return (clusterName) => {
    const client = clients.get(clusterName);
    // The rules admit only declared clusters, so this is a bug, not bad input.
    if (!client)
      throw new Error(`No EKS client for cluster ${clusterName}: it is not declared in the access rules`);
    return client;
  };
}

/**
 * The intake's deps: the runtime's, plus who may ask: `senders` (SQS) and the requesters' proofs, checked with
 * the broker's own STS (its region's, or AWS_ENDPOINT_URL's), never one a request names. Built only by the
 * intake functions, so the other functions' bundles carry neither the IAM client nor the proof code.
 */
export function intakeDeps(base: Runtime, senders: Senders): IntakeDeps {
  return {
    ...base.deps,
    senders,
    proofs: new StsIdentityProofs({ target: () => resolveStsTarget() }),
    nonces: base.store,
    audience: base.config.audience,
    webhookSender: base.config.webhookSenderArn,
  };
}

/**
 * The SQS senders the intake accepts, resolved with IAM: the roles of the integrations that may use the queue,
 * and the broker's webhook function's role (the sender of ticket events).
 */
export function iamSenders(rules: AccessRules, webhookSenderArn?: string): Senders {
  const roleArns = rules.integrations
    .filter((integration) => integration.queue)
    .flatMap((integration) => integration.principals)
    .concat(webhookSenderArn === undefined ? [] : [webhookSenderArn])
    .filter((arn) => arn.includes(':role/'));
  return new IamSenders({ client: new IAMClient({}), roleArns });
}

/** The webhook integrations' vendor APIs, with their secrets read through Powertools Parameters. */
function ticketSystems(base: Runtime): TicketSystems {
  return new VendorApis({
    rules: base.deps.rules,
    secrets: new ParameterSecrets({}),
    urls: base.config.ticketApiUrls,
  });
}

let writeBackCurrent: WriteBackDeps | undefined;

/** The write-back function's deps: the vendors, and reads of EKS and the leases. */
export function writeBackDeps(): WriteBackDeps {
  const base = runtime();
  writeBackCurrent ??= {
    rules: base.deps.rules,
    tickets: ticketSystems(base),
    eks: base.deps.eks,
    store: base.deps.store,
    log: base.deps.log,
    metrics: base.deps.metrics,
  };
  return writeBackCurrent;
}

/** The senders of the EventBridge intake, which takes no SQS message: it knows none. */
const NO_SENDERS: Senders = { principalOf: async () => undefined };

let current: Runtime | undefined;

/** The runtime of this Lambda container, built on first use from the environment. */
export function runtime(): Runtime {
  current ??= createRuntime(loadConfig());
  return current;
}

let eventIntake: IntakeDeps | undefined;
let queueIntake: TicketIntakeDeps | undefined;
let deadLetter: IntakeDeps | undefined;

/** The EventBridge intake container's deps. */
export function eventIntakeDeps(): IntakeDeps {
  eventIntake ??= intakeDeps(runtime(), NO_SENDERS);
  return eventIntake;
}

/**
 * The dead-letter function's deps: it identifies who sent a dead letter as the SQS intake does; it reads no
 * ticket back (a ticket event that failed on every delivery is answered, not retried), so its bundle carries no
 * vendor client.
 */
export function deadLetterDeps(): IntakeDeps {
  const base = runtime();
  deadLetter ??= intakeDeps(base, iamSenders(base.deps.rules, base.config.webhookSenderArn));
  return deadLetter;
}

/** The SQS intake container's deps: with the senders it checks every message against, and the vendors. */
export function queueIntakeDeps(): TicketIntakeDeps {
  const base = runtime();
  queueIntake ??= {
    ...intakeDeps(base, iamSenders(base.deps.rules, base.config.webhookSenderArn)),
    tickets: ticketSystems(base),
  };
  return queueIntake;
}

let webhook: WebhookDeps | undefined;

/**
 * The webhook function's deps, from its own configuration (loadWebhookConfig): the rules, the webhook secrets
 * (kept 5 minutes, ParameterSecrets' default), the requests queue and the delivery ids in the lease table. Not
 * the runtime's: the webhook function decides nothing, so it has no EKS, bus or timers, nor their variables.
 */
export function webhookDeps(): WebhookDeps {
  if (webhook) return webhook;
  const config = loadWebhookConfig();
  tagStage(config.stage);
  const store = new LeaseStore({
    client: leaseDocumentClient(new DynamoDBClient({})),
    tableName: config.leaseTableName,
  });
  webhook = {
    rules: loadRulesFile(config.accessRulesFile),
    secrets: new ParameterSecrets(),
    queue: new SqsTicketEventQueue({ client: new SQSClient({}), queueUrl: config.requestsQueueUrl }),
    deliveries: store.deliveries,
    clock: Date.now,
    log: logger,
    metrics: brokerMetrics,
  };
  return webhook;
}

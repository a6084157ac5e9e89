import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeEvent, ScheduledEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { describeOutcomeDetail } from '../../functions/cli/format';
import { compileRules } from '../../functions/config/access-rules-yaml';
import { MAX_RECEIVE_COUNT } from '../../functions/config/defaults';
import { LOCAL_RESOURCE_NAMES, SERVICE_NAME } from '../../functions/config/names';
import { CLOUDTRAIL_DETAIL_TYPE, EKS_EVENT_SOURCE } from '../../functions/core/access-change';
import { DETAIL_TYPES } from '../../functions/core/contract';
import { OUTCOME_SOURCE } from '../../functions/core/names';
import type { AccessRules } from '../../functions/core/rules';
import { handler as deadLetterHandler } from '../../functions/handlers/dead-letter';
import { handler as driftCheckHandler } from '../../functions/handlers/drift-check';
import { handler as driftEventHandler } from '../../functions/handlers/drift-event';
import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { handler as expiryTimerHandler } from '../../functions/handlers/expiry-timer';
import { handler as sqsHandler } from '../../functions/handlers/sqs-intake';
import { handler as sweeperHandler } from '../../functions/handlers/sweeper';
import { handler as webhookHandler } from '../../functions/handlers/webhook';
import { handler as writeBackHandler } from '../../functions/handlers/write-back';
import { localIntakePolicies } from '../stack/intake-policies';
import { type Edge, type EdgeOptions, startEdge } from './edge';
import { functionUrlAnswer, functionUrlEvent } from './function-url';
import { BROKER_LOCAL_CREDENTIALS, DEFAULT_IDENTITIES_FILE, loadIdentities } from './identities';
import { lambdaContext } from './lambda-context';
import { ensureLeaseTable } from './lease-table';
import type { QueueSeed, SubscribeOptions } from './sqs/types';
import { type LocalVendors, type LocalVendorsOptions, startLocalVendors } from './vendors';

export const DEFAULT_RULES_FILE = 'infra/access-rules.yaml';

/**
 * The broker's queues, each with its dead-letter queue (created with it), as serverless.yml declares them, with
 * the visibility timeout given (how long a failed delivery waits before it comes back).
 */
function brokerQueues(visibilityTimeoutSeconds: number): QueueSeed[] {
  const pairs = [
    [LOCAL_RESOURCE_NAMES.requestsQueue, LOCAL_RESOURCE_NAMES.requestsDeadLetterQueue],
    [LOCAL_RESOURCE_NAMES.timerQueue, LOCAL_RESOURCE_NAMES.timerDeadLetterQueue],
    [LOCAL_RESOURCE_NAMES.writeBackQueue, LOCAL_RESOURCE_NAMES.writeBackDeadLetterQueue],
  ] as const;
  return pairs.map(([name, deadLetterQueueName]) => ({
    name,
    visibilityTimeoutSeconds,
    deadLetterQueueName,
    maxReceiveCount: MAX_RECEIVE_COUNT,
  }));
}

export interface LocalBrokerOptions extends EdgeOptions {
  readonly rulesFile?: string;
  /** Where outcome events are shown; nothing is printed when absent. */
  readonly print?: (line: string) => void;
  /** How often the sweeper and the drift check run, as the schedule does in AWS (every minute); 0: never. */
  readonly sweepIntervalMs?: number;
  /** How the intake queue is polled, as the event source mapping's batch size and maximum concurrency. */
  readonly intake?: Pick<SubscribeOptions, 'batchSize' | 'concurrency'>;
  /** Where the fake Jira and PagerDuty of the webhook integrations listen (free ports by default). */
  readonly vendors?: LocalVendorsOptions;
  /**
   * The visibility timeout of the broker's queues (requests, timers, write-back): 30 s by default. Tests of
   * redelivery and dead-lettering shorten it, so five failed deliveries take seconds, not minutes.
   */
  readonly queueVisibilityTimeoutSeconds?: number;
}

export interface LocalBroker {
  readonly edge: Edge;
  readonly rules: AccessRules;
  /** Where the template's resource policies are enforced: PutEvents to these buses, SendMessage to these queues. */
  readonly policies: { readonly buses: readonly string[]; readonly queues: readonly string[] };
  /** The fake vendors of the webhook integrations, by integration id, and their URLs. */
  readonly vendors: LocalVendors;
  /** Runs the sweeper once, as its schedule would. */
  sweep(): Promise<unknown>;
  /** Runs the drift check once, as its schedule would. */
  checkDrift(): Promise<unknown>;
  /** Outcome events the broker published, in order. */
  outcomes(): EventBridgeEvent<string, Record<string, unknown>>[];
  close(): Promise<void>;
}

/**
 * The whole broker on one machine: the local edge (EKS emulator seeded with the rules' clusters, EventBridge,
 * SQS, DynamoDB Local), the lease table, and the Lambda handlers subscribed to the bus and the queue as
 * AWS would invoke them. The handlers find the edge through AWS_ENDPOINT_URL, like any AWS SDK client.
 */
export async function startLocalBroker(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
  const rulesFile = options.rulesFile ?? DEFAULT_RULES_FILE;
  // As packaging does: the functions read the rules compiled to JSON, never the YAML.
  const compiledDir = mkdtempSync(join(tmpdir(), `${SERVICE_NAME}-rules-`));
  const removeCompiled = () => rmSync(compiledDir, { recursive: true, force: true });
  const compiledRulesFile = join(compiledDir, 'access-rules.json');
  let rules: AccessRules;
  let edge: Edge;
  let policies: LocalBroker['policies'];
  let vendors: LocalVendors;
  try {
    rules = compileRules(rulesFile, compiledRulesFile);
    // As the deployed rule on the default bus leaves out the broker's roles, the local trail leaves out its key's.
    const brokerPrincipal = loadIdentities(options.identitiesFile ?? DEFAULT_IDENTITIES_FILE).byAccessKey(
      BROKER_LOCAL_CREDENTIALS.accessKeyId,
    )?.principalArn;
    edge = await startEdge({
      ...options,
      cloudTrail:
        options.cloudTrail === false
          ? false
          : {
              exceptPrincipals: [
                ...(options.cloudTrail?.exceptPrincipals ?? []),
                ...(brokerPrincipal ? [brokerPrincipal] : []),
              ],
            },
      sqs: {
        queues: [
          ...brokerQueues(options.queueVisibilityTimeoutSeconds ?? 30),
          ...(options.sqs?.queues ?? []),
        ],
      },
      // The local edge has always served a bus named after the broker too; put-events naming it keep working.
      eventBridge: { busNames: [SERVICE_NAME, ...(options.eventBridge?.busNames ?? [])] },
      // The webhook function, as its function URL serves it in AWS.
      webhooks: async (request) =>
        functionUrlAnswer(
          await webhookHandler(functionUrlEvent(request), lambdaContext(`${SERVICE_NAME}-webhook`)),
        ),
      eks: {
        ...options.eks,
        clusters:
          options.eks?.clusters ??
          rules.clusters.map((c) => ({
            name: c.name,
            region: c.region,
            accountId: c.accountId,
            authenticationMode: 'API_AND_CONFIG_MAP' as const,
          })),
      },
    });
  } catch (error) {
    removeCompiled();
    throw error;
  }
  try {
    // The handlers sign as the broker's own role, as its functions' execution role would in AWS.
    const own = edge.identities.byAccessKey(BROKER_LOCAL_CREDENTIALS.accessKeyId);
    if (own?.secretAccessKey !== BROKER_LOCAL_CREDENTIALS.secretAccessKey) {
      throw new Error(
        `The identities file ${edge.identities.origin} must give the broker's functions access key ` +
          `${BROKER_LOCAL_CREDENTIALS.accessKeyId} / secret ${BROKER_LOCAL_CREDENTIALS.secretAccessKey}.`,
      );
    }
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: edge.url,
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_ACCESS_KEY_ID: BROKER_LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: BROKER_LOCAL_CREDENTIALS.secretAccessKey,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      LEASE_TABLE_NAME: LOCAL_RESOURCE_NAMES.leaseTable,
      TIMER_QUEUE_URL: `${edge.url}/${edge.accountId}/${LOCAL_RESOURCE_NAMES.timerQueue}`,
      EVENT_BUS_NAME: LOCAL_RESOURCE_NAMES.eventBus,
      ACCESS_RULES_FILE: compiledRulesFile,
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      REQUESTS_QUEUE_URL: `${edge.url}/${edge.accountId}/${LOCAL_RESOURCE_NAMES.requestsQueue}`,
      // Every local function signs as brokerlocal: the webhook function's ticket events come from it.
      WEBHOOK_SENDER_ARN: own.principalArn,
    });
    policies = attachIntakePolicies(edge, rules, own.principalArn);
    vendors = await startLocalVendors(rules, edge, options.vendors);
    if (Object.keys(vendors.urls).length > 0) process.env.TICKET_API_URLS = JSON.stringify(vendors.urls);
    else delete process.env.TICKET_API_URLS;
    const dynamodb = new DynamoDBClient({ endpoint: edge.url });
    await ensureLeaseTable(dynamodb, LOCAL_RESOURCE_NAMES.leaseTable);
    dynamodb.destroy();
  } catch (error) {
    await edge.close();
    removeCompiled();
    throw error;
  }

  const webhookIds = new Set(
    rules.integrations.filter((integration) => integration.webhook).map((integration) => integration.id),
  );
  const unsubscribe = [
    edge.bus.subscribe(
      {
        source: [...rules.sources],
        detailType: Object.values(DETAIL_TYPES),
        busName: LOCAL_RESOURCE_NAMES.eventBus,
      },
      async (event) => {
        await eventBridgeHandler(event, lambdaContext(`${SERVICE_NAME}-eventbridge-intake`));
      },
    ),
    // The drift-event rule: EKS's CloudTrail events of changes made by others, on the default bus.
    edge.bus.subscribe(
      { source: [EKS_EVENT_SOURCE], detailType: [CLOUDTRAIL_DETAIL_TYPE], busName: 'default' },
      async (event) => {
        await driftEventHandler(event, lambdaContext(`${SERVICE_NAME}-drift-event`));
      },
    ),
    edge.queues.subscribe(
      LOCAL_RESOURCE_NAMES.requestsQueue,
      async (event: SQSEvent) => {
        return (await sqsHandler(event, lambdaContext(`${SERVICE_NAME}-sqs-intake`))) as SQSBatchResponse;
      },
      options.intake ?? {},
    ),
    edge.queues.subscribe(
      LOCAL_RESOURCE_NAMES.timerQueue,
      async (event: SQSEvent) => {
        return (await expiryTimerHandler(
          event,
          lambdaContext(`${SERVICE_NAME}-expiry-timer`),
        )) as SQSBatchResponse;
      },
      // A timer waits in its invocation for its lease's instant of expiry (a second or two): as many batches at
      // once as Lambda starts an SQS mapping with (five), so that a waiting timer does not hold up the next.
      { concurrency: 5 },
    ),
    // As in AWS, what fails on every delivery ends in a DLQ, and the deadLetter function answers it.
    ...[LOCAL_RESOURCE_NAMES.requestsDeadLetterQueue, LOCAL_RESOURCE_NAMES.timerDeadLetterQueue].map((dlq) =>
      edge.queues.subscribe(dlq, async (event: SQSEvent) => {
        return (await deadLetterHandler(
          event,
          lambdaContext(`${SERVICE_NAME}-dead-letter`),
        )) as SQSBatchResponse;
      }),
    ),
    edge.bus.subscribe({ source: [OUTCOME_SOURCE] }, async (event) => {
      options.print?.(describeOutcome(event));
    }),
    // The write-back rule: the outcomes of webhook integrations' requests go to their tickets, through a queue.
    edge.bus.subscribe({ source: [OUTCOME_SOURCE] }, async (event) => {
      const origin = (event.detail as { origin?: { integration?: unknown } } | undefined)?.origin;
      if (typeof origin?.integration === 'string' && webhookIds.has(origin.integration)) {
        edge.queues.send(LOCAL_RESOURCE_NAMES.writeBackQueue, { body: JSON.stringify(event) });
      }
    }),
    edge.queues.subscribe(LOCAL_RESOURCE_NAMES.writeBackQueue, async (event: SQSEvent) => {
      return (await writeBackHandler(event, lambdaContext(`${SERVICE_NAME}-write-back`))) as SQSBatchResponse;
    }),
  ];
  const sweep = scheduled(() =>
    sweeperHandler({} as ScheduledEvent, lambdaContext(`${SERVICE_NAME}-sweeper`, 60_000)),
  );
  const checkDrift = scheduled(() =>
    driftCheckHandler({} as ScheduledEvent, lambdaContext(`${SERVICE_NAME}-drift-check`, 60_000)),
  );
  const interval = options.sweepIntervalMs ?? 60_000;
  const timers =
    interval > 0
      ? [
          setInterval(() => void sweep().catch(report), interval),
          setInterval(() => void checkDrift().catch(report), interval),
        ]
      : [];
  function report(error: unknown) {
    console.error(`scheduled run failed: ${(error as Error).message}`);
  }

  return {
    edge,
    rules,
    policies,
    vendors,
    sweep,
    checkDrift,
    outcomes: () =>
      edge.bus
        .events()
        .map((e) => e.event as EventBridgeEvent<string, Record<string, unknown>>)
        .filter((e) => e.source === OUTCOME_SOURCE),
    async close() {
      for (const timer of timers) clearInterval(timer);
      // Let invocations in flight finish, as Lambda would, before their endpoints go away.
      await Promise.allSettled([sweep.inFlight(), checkDrift.inFlight()]);
      await Promise.race([
        Promise.all([
          edge.bus.idle(),
          edge.queues.idle(undefined, { timeoutMs: 5_000 }).catch(() => undefined),
        ]),
        new Promise((resolve) => setTimeout(resolve, 5_000).unref()),
      ]);
      await vendors.idle();
      for (const stop of unsubscribe) stop();
      await vendors.close();
      await edge.close();
      removeCompiled();
    },
  };
}

/**
 * The bus and queue policies the template deploys, rendered from the same rules for this edge's account, region and
 * resource names, with the broker's functions as `brokerRoleArn` (the role its identities-file key stands for), and
 * attached: from here on the edge decides PutEvents and SendMessage by them. The edge's second bus (named after the
 * broker) gets the bus document too. The intake-events dead-letter queue (EventBridge's on-failure destination)
 * has no local counterpart, so its document is not attached.
 */
function attachIntakePolicies(
  edge: Edge,
  rules: AccessRules,
  brokerRoleArn: string,
): LocalBroker['policies'] {
  const render = (eventBus: string) =>
    localIntakePolicies(rules, {
      names: { ...LOCAL_RESOURCE_NAMES, eventBus },
      accountId: edge.accountId,
      region: edge.region,
      brokerRoleArn,
    });
  const policies = render(LOCAL_RESOURCE_NAMES.eventBus);
  const buses = [
    [LOCAL_RESOURCE_NAMES.eventBus, policies.bus],
    [SERVICE_NAME, render(SERVICE_NAME).bus],
  ] as const;
  const queues = [
    [LOCAL_RESOURCE_NAMES.requestsQueue, policies.requestsQueue],
    [LOCAL_RESOURCE_NAMES.timerQueue, policies.timerQueue],
    [LOCAL_RESOURCE_NAMES.requestsDeadLetterQueue, policies.requestsDeadLetterQueue],
    [LOCAL_RESOURCE_NAMES.timerDeadLetterQueue, policies.timerDeadLetterQueue],
  ] as const;
  for (const [name, document] of buses) edge.bus.setPolicy(name, document);
  for (const [name, document] of queues) edge.queues.setPolicy(name, document);
  return { buses: buses.map(([name]) => name), queues: queues.map(([name]) => name) };
}

/** A scheduled function: like reserved concurrency 1, a run that is still going makes the next one wait for it. */
function scheduled(run: () => Promise<unknown>): { (): Promise<unknown>; inFlight(): Promise<unknown> } {
  let running: Promise<unknown> | undefined;
  const start = () => {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  };
  return Object.assign(start, { inFlight: () => running ?? Promise.resolve() });
}

/** One readable line per outcome event. */
export function describeOutcome(event: EventBridgeEvent<string, unknown>): string {
  return `[${event.time}] ${describeOutcomeDetail(event['detail-type'], (event.detail ?? {}) as Record<string, unknown>)}`;
}

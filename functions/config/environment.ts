import { ConfigurationError } from '../core/errors';
import { DEFAULT_DRIFT_EKS_SHARE, DEFAULT_EKS_RATE_PER_SECOND, DEFAULT_LOCK_WAIT_MS } from './defaults';
import { stageResourceNames } from './names';

/** What a broker function needs from its environment, parsed once at cold start and frozen. */
export interface BrokerConfig {
  /** The lease table. */
  readonly leaseTableName: string;
  /** Where outcome events are published. */
  readonly eventBusName: string;
  /** The access rules as JSON, compiled from the YAML file at package time and shipped with the function. */
  readonly accessRulesFile: string;
  /** The SQS queue of precise expiry timers (delayed messages). */
  readonly timerQueueUrl: string;
  /** How long an invocation waits for a subject's lock before giving the message back. */
  readonly lockWaitMs: number;
  /** R: the EKS calls per second the account and region get (EKS_RATE_PER_SECOND). */
  readonly eksRatePerSecond: number;
  /** The share of R the periodic drift check may spend (DRIFT_EKS_SHARE, above 0, at most 1). */
  readonly driftEksShare: number;
  /** The deployed stage (serverless.yml's), the dimension of every metric; `local` when not deployed. */
  readonly stage: string;
  /** The audience requesters' proofs must name: the stack, `eks-access-broker-<stage>` (derived from stage). */
  readonly audience: string;
  /**
   * The broker's webhook function's role (WEBHOOK_SENDER_ARN): the only sender of ticket events on the requests
   * queue. Absent: no webhook integration is deployed, and no ticket event is heard.
   */
  readonly webhookSenderArn?: string;
  /**
   * Vendor API base URLs that replace the access rules' `url`, by webhook integration id (TICKET_API_URLS, a
   * JSON object): the local fakes of `npm start` and the tests. Empty in AWS.
   */
  readonly ticketApiUrls: Readonly<Record<string, string>>;
}

/** Reads the configuration; a missing or bad variable stops the cold start with a message that names it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<BrokerConfig> {
  const stage = env.BROKER_STAGE?.trim() || 'local';
  return Object.freeze({
    leaseTableName: required(env, 'LEASE_TABLE_NAME'),
    eventBusName: required(env, 'EVENT_BUS_NAME'),
    accessRulesFile: required(env, 'ACCESS_RULES_FILE'),
    timerQueueUrl: required(env, 'TIMER_QUEUE_URL'),
    lockWaitMs: integer(env, 'LOCK_WAIT_MS', DEFAULT_LOCK_WAIT_MS, 0, 60_000),
    eksRatePerSecond: decimal(env, 'EKS_RATE_PER_SECOND', DEFAULT_EKS_RATE_PER_SECOND, 0, 10_000),
    driftEksShare: decimal(env, 'DRIFT_EKS_SHARE', DEFAULT_DRIFT_EKS_SHARE, 0, 1),
    stage,
    audience: stageResourceNames(stage).prefix,
    ...(env.WEBHOOK_SENDER_ARN?.trim() ? { webhookSenderArn: env.WEBHOOK_SENDER_ARN.trim() } : {}),
    ticketApiUrls: urlMap(env, 'TICKET_API_URLS'),
  });
}

/** A JSON object of http(s) URLs by key; absent or empty: none. A value that is there but wrong stops the start. */
function urlMap(env: NodeJS.ProcessEnv, name: string): Readonly<Record<string, string>> {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return Object.freeze({});
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = undefined;
  }
  const entries =
    typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.entries(value) : [];
  const urls = entries.filter((entry): entry is [string, string] =>
    typeof entry[1] === 'string' ? /^https?:\/\//.test(entry[1]) : false,
  );
  if (entries.length === 0 || urls.length !== entries.length) {
    throw new ConfigurationError(
      `Environment variable ${name} must be a JSON object of URLs by integration id, such as ` +
        `{"jira":"http://127.0.0.1:4580"}, got ${JSON.stringify(raw)}`,
    );
  }
  return Object.freeze(Object.fromEntries(urls));
}

/**
 * What the webhook function needs: it reads the rules (which integration a path is, its secret), remembers
 * delivery ids in the lease table and queues ticket events on the requests queue. Nothing of the other
 * functions' (bus, timers, locks), so none of their variables is asked of it.
 */
export interface WebhookFunctionConfig {
  readonly leaseTableName: string;
  readonly accessRulesFile: string;
  /** The requests queue, where ticket events go for the SQS intake. */
  readonly requestsQueueUrl: string;
  readonly stage: string;
}

/** Reads the webhook function's configuration, as loadConfig does the others'. */
export function loadWebhookConfig(env: NodeJS.ProcessEnv = process.env): Readonly<WebhookFunctionConfig> {
  return Object.freeze({
    leaseTableName: required(env, 'LEASE_TABLE_NAME'),
    accessRulesFile: required(env, 'ACCESS_RULES_FILE'),
    requestsQueueUrl: required(env, 'REQUESTS_QUEUE_URL'),
    stage: env.BROKER_STAGE?.trim() || 'local',
  });
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigurationError(`Environment variable ${name} is required`);
  return value;
}

/** Optional with a documented default; a value that is present but wrong is an error, never a default. */
function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigurationError(
      `Environment variable ${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** As integer(), for a number above `min` (exclusive) and at most `max`. */
function decimal(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= min || value > max) {
    throw new ConfigurationError(
      `Environment variable ${name} must be a number above ${min} and at most ${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

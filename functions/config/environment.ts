import { ConfigurationError } from '../core/errors';
import { DEFAULT_LOCK_WAIT_MS } from './defaults';
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
  /** The deployed stage (serverless.yml's), the dimension of every metric; `local` when not deployed. */
  readonly stage: string;
  /** The audience requesters' proofs must name: the stack, `eks-access-broker-<stage>` (derived from stage). */
  readonly audience: string;
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
    stage,
    audience: stageResourceNames(stage).prefix,
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

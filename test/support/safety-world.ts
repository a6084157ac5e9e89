import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EKSClient, type EKSClientConfig } from '@aws-sdk/client-eks';
import { EksAccess } from '../../functions/adapters/eks-access';
import { MAX_TIMER_DELAY_SECONDS } from '../../functions/adapters/expiry-timers';
import { LeaseStore, leaseDocumentClient } from '../../functions/adapters/lease-table';
import type { IntakeDeps, Log } from '../../functions/app/deps';
import type { MetricName } from '../../functions/app/metrics';
import { loadConfig } from '../../functions/config/environment';
import type { TimerMessage } from '../../functions/core/timer-message';
import { createRuntime, iamSenders, intakeDeps, type Runtime } from '../../functions/runtime';
import { type LocalBroker, type LocalBrokerOptions, startLocalBroker } from '../../infra/local/broker';
import { LOCAL_CREDENTIALS } from './aws';
import type { InvocationClients } from './crash';
import { TickingClock } from './ticking-clock';

type RetryStrategyV2 = Extract<NonNullable<EKSClientConfig['retryStrategy']>, { recordSuccess: unknown }>;

/**
 * The SDK's standard retries with a fixed short pause instead of its exponential backoff (100 ms base, 500 ms
 * for throttling): the same retry decisions as in Lambda, at a speed a test of thousands of calls can afford.
 */
export function quickRetries(maxAttempts: number, delayMs: number): RetryStrategyV2 {
  const token = (count: number, delay: number) => ({
    getRetryCount: () => count,
    getRetryDelay: () => delay,
  });
  return {
    acquireInitialRetryToken: async () => token(0, 0),
    refreshRetryTokenForRetry: async (previous, info) => {
      const count = previous.getRetryCount() + 1;
      if (count >= maxAttempts || info.errorType === 'CLIENT_ERROR') throw new Error('no retries left');
      // A throttled caller waits long enough for the bucket to refill a little.
      return token(count, info.errorType === 'THROTTLING' ? delayMs * 15 : delayMs);
    },
    recordSuccess: () => undefined,
  };
}

/** A log that keeps nothing: thousands of expected failures would drown the test output. */
export const QUIET_LOG: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface ArmedTimer {
  readonly timer: TimerMessage;
  /** When SQS would deliver it (epoch ms on the fake clock). */
  fireAtMs: number;
  /** Deliveries so far (a failed one comes back after the visibility timeout). */
  receives: number;
}

export interface SafetyWorld {
  readonly local: LocalBroker;
  readonly clock: TickingClock;
  /** The runtime the handlers build (real clients to the local edge), for its config and logger. */
  readonly runtime: Runtime;
  /** The lease table behind `deps.store` and `deps.locks`, with its operator reads (history). */
  readonly store: LeaseStore;
  /** The SDK clients of `deps` (EKS with quick SDK retries): crash injection wraps these. */
  readonly clients: InvocationClients;
  /** Healthy deps on the fake clock: timers captured in `armed`, metrics counted in `metrics`. */
  readonly deps: IntakeDeps;
  readonly armed: ArmedTimer[];
  readonly metrics: Map<MetricName, number>;
  /** How late SQS delivers a timer after its delay (ms); the model sets it, 0 by default. */
  timerLagMs: () => number;
  close(): Promise<void>;
}

export interface SafetyWorldOptions extends Pick<LocalBrokerOptions, 'rulesFile'> {
  readonly startMs?: number;
  /** Real milliseconds an invocation waits for a subject's lock before giving its message back. */
  readonly lockWaitMs?: number;
  readonly eksMaxAttempts?: number;
  /** Failed attempts before a lease is declared irrevocable (the broker's default is 5). */
  readonly revocationBudget?: number;
}

/**
 * The whole broker on this machine (DynamoDB Local, the EKS emulator, the local bus), driven through the use
 * cases on a ticking fake clock that the emulator shares, so mutation times and lease times compare.
 */
export async function startSafetyWorld(options: SafetyWorldOptions = {}): Promise<SafetyWorld> {
  const clock = new TickingClock(options.startMs ?? Date.UTC(2030, 0, 1));
  const local = await startLocalBroker({
    // The model signs EKS calls with a key that is not the broker's: no CloudTrail-driven repair on its own clock.
    cloudTrail: false,
    port: 0,
    sweepIntervalMs: 0,
    ...(options.rulesFile ? { rulesFile: options.rulesFile } : {}),
    eks: { now: clock.now },
  });
  const runtime = createRuntime(loadConfig());
  const eksClient = new EKSClient({
    endpoint: local.edge.url,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    retryStrategy: quickRetries(options.eksMaxAttempts ?? 3, 2),
  });
  const dynamodb = leaseDocumentClient(new DynamoDBClient({ endpoint: local.edge.url }));
  const clients: InvocationClients = { dynamodb, tableName: runtime.config.leaseTableName, eks: eksClient };
  const armed: ArmedTimer[] = [];
  const store = new LeaseStore({ client: dynamodb, tableName: clients.tableName });
  const metrics = new Map<MetricName, number>();
  const deps: IntakeDeps = {
    ...intakeDeps(runtime, iamSenders(runtime.deps.rules)),
    store,
    locks: store,
    eks: new EksAccess({ clientFor: () => eksClient }),
    clock: clock.now,
    log: QUIET_LOG,
    metrics: { add: (name, value = 1) => metrics.set(name, (metrics.get(name) ?? 0) + value) },
    timers: {
      maxDelaySeconds: MAX_TIMER_DELAY_SECONDS,
      arm: async (timer, delaySeconds) => {
        armed.push({
          timer,
          fireAtMs: clock.peek() + Math.max(0, Math.ceil(delaySeconds)) * 1000,
          receives: 0,
        });
      },
    },
    lockWaitMs: options.lockWaitMs ?? 50,
    revocationBudget: options.revocationBudget ?? runtime.deps.revocationBudget,
  };
  const world: SafetyWorld = {
    local,
    clock,
    runtime,
    store,
    clients,
    deps,
    armed,
    metrics,
    timerLagMs: () => 0,
    async close() {
      eksClient.destroy();
      dynamodb.destroy();
      await local.close();
    },
  };
  return world;
}

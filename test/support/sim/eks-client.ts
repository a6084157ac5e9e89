import {
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  DescribeAccessEntryCommand,
  DescribeClusterCommand,
  DisassociateAccessPolicyCommand,
  type EKSClient,
  ListAssociatedAccessPoliciesCommand,
} from '@aws-sdk/client-eks';
import type { EksEmulator } from '../../../infra/local/eks/emulator';
import { EksApiError } from '../../../infra/local/eks/errors';
import type { AccessScope } from '../../../infra/local/eks/model';
import type { Invocation, InvocationHost } from './invocation';

/** Attempts per call, as the broker's EKS client is configured (functions/runtime.ts, EKS_MAX_ATTEMPTS). */
const MAX_ATTEMPTS = 5;
const BACKOFF_BASE_MS = 100;
const THROTTLE_BASE_MS = 500;
const BACKOFF_CAP_MS = 20_000;

type Operation =
  | 'CreateAccessEntry'
  | 'AssociateAccessPolicy'
  | 'DisassociateAccessPolicy'
  | 'DeleteAccessEntry'
  | 'DescribeAccessEntry'
  | 'ListAssociatedAccessPolicies'
  | 'DescribeCluster';

const MUTATING: ReadonlySet<Operation> = new Set([
  'CreateAccessEntry',
  'AssociateAccessPolicy',
  'DisassociateAccessPolicy',
  'DeleteAccessEntry',
]);

/** An answer of EKS as the SDK throws it: the error type as `name`, the HTTP status in `$metadata`. */
function sdkError(type: string, message: string, status: number): Error {
  return Object.assign(new Error(message), {
    name: type,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

/** What the SDK's node handler throws for a reset connection: no answer at all. */
function droppedConnection(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

function retryable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if ('code' in error && error.code === 'ECONNRESET') return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
  return status === 429 || status >= 500;
}

/**
 * The EKS client one invocation's adapter sends through (functions/adapters/eks-access.ts, unchanged): each
 * command goes to the in-process emulator as a call of the invocation (latency, crash plan), with EKS's faults
 * drawn from the invocation's stream (throttling, 5xx, the connection dropped before or after the emulator
 * committed) and the SDK's standard retries (jittered backoff on the simulated clock, the same idempotency
 * token for every attempt of a CreateAccessEntry, as the SDK fills it in). Answers are copied, as off the wire.
 */
export class SimEksClient {
  constructor(
    private readonly emulator: EksEmulator,
    private readonly invocation: Invocation,
    private readonly host: InvocationHost,
    /** Told of every mutation the emulator applied for this client (a repeat must apply none). */
    private readonly onApplied: () => void = () => undefined,
  ) {}

  asClient(): EKSClient {
    return this as unknown as EKSClient;
  }

  async send(command: object): Promise<unknown> {
    const [operation, input] = decode(command);
    const token = operation === 'CreateAccessEntry' ? this.invocation.nextToken() : undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(operation, input, token);
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !retryable(error)) throw error;
        const base = (error as Error).name === 'ThrottlingException' ? THROTTLE_BASE_MS : BACKOFF_BASE_MS;
        const ceiling = Math.min(BACKOFF_CAP_MS, base * 2 ** (attempt - 1));
        await this.host.scheduler.sleep(this.invocation.rng.next() * ceiling);
      }
    }
  }

  private async attempt(
    operation: Operation,
    input: Record<string, unknown>,
    token: string | undefined,
  ): Promise<unknown> {
    const label = `eks.${operation}`;
    await this.invocation.beforeCall(label);
    const rates = this.host.rates();
    const rng = this.invocation.rng;
    if (rng.chance(rates.eksThrottle) || this.host.script?.throttle?.(this.invocation, label)) {
      this.host.fault('eks throttled', label);
      throw sdkError('ThrottlingException', 'Rate exceeded', 429);
    }
    if (rng.chance(rates.eksDrop)) {
      this.host.fault('eks connection dropped before commit', label);
      throw droppedConnection();
    }
    if (rng.chance(rates.eks5xx)) {
      this.host.fault('eks 5xx', label);
      throw sdkError('ServerException', 'An internal error occurred. Try again later.', 500);
    }
    let result: unknown;
    let refused: Error | undefined;
    const logged = this.emulator.mutations().length;
    try {
      result = this.run(operation, input, token);
    } catch (error) {
      if (!(error instanceof EksApiError)) throw error;
      refused = sdkError(error.type, error.message, error.status);
    }
    const applied = this.emulator.mutations().at(-1);
    if (this.emulator.mutations().length > logged && applied?.outcome === 'applied' && !applied.replayed) {
      this.onApplied();
    }
    if (MUTATING.has(operation) && rng.chance(rates.eksDropAfterCommit)) {
      this.host.fault('eks connection dropped after commit', label);
      await this.invocation.afterCall(label);
      throw droppedConnection();
    }
    await this.invocation.afterCall(label);
    if (refused) throw refused;
    return answerOf(operation, result);
  }

  private run(operation: Operation, input: Record<string, unknown>, token: string | undefined): unknown {
    const eks = this.emulator;
    if (operation === 'DescribeCluster') return eks.describeCluster(String(input.name));
    const clusterName = String(input.clusterName);
    const principalArn = String(input.principalArn);
    switch (operation) {
      case 'DescribeAccessEntry':
        return eks.describeAccessEntry(clusterName, principalArn);
      case 'ListAssociatedAccessPolicies':
        return eks.listAssociatedAccessPolicies({
          clusterName,
          principalArn,
          ...(typeof input.maxResults === 'number' ? { maxResults: input.maxResults } : {}),
          ...(typeof input.nextToken === 'string' ? { nextToken: input.nextToken } : {}),
        });
      case 'CreateAccessEntry':
        return eks.createAccessEntry({
          clusterName,
          principalArn,
          ...(typeof input.type === 'string' ? { type: input.type } : {}),
          ...(input.tags ? { tags: input.tags as Record<string, string> } : {}),
          ...(token ? { clientRequestToken: token } : {}),
        });
      case 'AssociateAccessPolicy': {
        const scope = input.accessScope as { type: 'cluster' | 'namespace'; namespaces?: string[] };
        const accessScope: AccessScope = { type: scope.type, namespaces: scope.namespaces ?? [] };
        return eks.associateAccessPolicy({
          clusterName,
          principalArn,
          policyArn: String(input.policyArn),
          accessScope,
        });
      }
      case 'DisassociateAccessPolicy':
        return eks.disassociateAccessPolicy({
          clusterName,
          principalArn,
          policyArn: String(input.policyArn),
        });
      case 'DeleteAccessEntry':
        return eks.deleteAccessEntry(clusterName, principalArn);
    }
  }
}

const COMMANDS: readonly [new (...args: never[]) => object, Operation][] = [
  [DescribeAccessEntryCommand, 'DescribeAccessEntry'],
  [DescribeClusterCommand, 'DescribeCluster'],
  [ListAssociatedAccessPoliciesCommand, 'ListAssociatedAccessPolicies'],
  [CreateAccessEntryCommand, 'CreateAccessEntry'],
  [AssociateAccessPolicyCommand, 'AssociateAccessPolicy'],
  [DisassociateAccessPolicyCommand, 'DisassociateAccessPolicy'],
  [DeleteAccessEntryCommand, 'DeleteAccessEntry'],
  // The adapter's check that a cluster exists, before it takes a 404 for "no entry" (once per adapter).
  [DescribeClusterCommand, 'DescribeCluster'],
];

function decode(command: object): [Operation, Record<string, unknown>] {
  for (const [type, operation] of COMMANDS) {
    if (command instanceof type) {
      return [operation, (command as { input: Record<string, unknown> }).input];
    }
  }
  throw new Error(`The simulated EKS client does not know ${command.constructor.name}`);
}

/** The answer as the SDK would hand it over: fresh objects, never the emulator's own (only what is read). */
function answerOf(operation: Operation, result: unknown): unknown {
  if (operation === 'DescribeAccessEntry') {
    const entry = (result as ReturnType<EksEmulator['describeAccessEntry']>).accessEntry;
    return {
      accessEntry: {
        clusterName: entry.clusterName,
        principalArn: entry.principalArn,
        type: entry.type,
        tags: { ...entry.tags },
        kubernetesGroups: [...entry.kubernetesGroups],
      },
    };
  }
  if (operation === 'ListAssociatedAccessPolicies') {
    const page = result as ReturnType<EksEmulator['listAssociatedAccessPolicies']>;
    return {
      associatedAccessPolicies: page.associatedAccessPolicies.map((association) => ({
        policyArn: association.policyArn,
        accessScope: {
          type: association.accessScope.type,
          namespaces: [...association.accessScope.namespaces],
        },
      })),
      ...(page.nextToken === undefined ? {} : { nextToken: page.nextToken }),
    };
  }
  return {};
}

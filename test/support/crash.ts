import {
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  DisassociateAccessPolicyCommand,
  type EKSClient,
} from '@aws-sdk/client-eks';
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { EksAccess } from '../../functions/adapters/eks-access';
import { LeaseStore } from '../../functions/adapters/lease-table';
import type { AppDeps } from '../../functions/app/deps';
import type { OutcomeSink } from '../../functions/app/ports';
import type { Outcome } from '../../functions/core/outcomes';

/** The invocation died (a Lambda timeout, an out-of-memory kill): nothing after this point happens. */
export class CrashError extends Error {
  override readonly name = 'CrashError';
}

/** Every DynamoDB write is a side effect another invocation can see (a lock taken, a lease saved, ...). */
const DYNAMODB_WRITES = [TransactWriteCommand, UpdateCommand, PutCommand, DeleteCommand, BatchWriteCommand];

const EKS_MUTATIONS = [
  CreateAccessEntryCommand,
  AssociateAccessPolicyCommand,
  DisassociateAccessPolicyCommand,
  DeleteAccessEntryCommand,
];

/** The SDK clients an invocation's adapters are built on (the same endpoints as the healthy ones). */
export interface InvocationClients {
  readonly dynamodb: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly eks: EKSClient;
}

/** What one invocation did before it ended or died. */
export interface InvocationTrace {
  /** Side effects started, in order (`store.saveLease`, `eks.AssociateAccessPolicy`, `publish`, ...). */
  readonly effects: string[];
  /** The side effect the invocation died at, when it did. */
  crashedAt: string | undefined;
  /** Outcome events EventBridge accepted from this invocation. */
  readonly published: Outcome[];
}

/** One invocation of a function: the deps it runs with, and its trace. */
export interface Invocation<D extends AppDeps = AppDeps> {
  readonly deps: D;
  readonly trace: InvocationTrace;
}

/**
 * Wraps the adapters of `base` so that the invocation dies (throws CrashError) when it is about to perform its
 * side effect number `crashAt` (0-based), and every call after that throws too: a dead process neither writes
 * nor releases its lock. Without `crashAt` the wrapper only records. `eksClient` is the client the crashing EKS
 * adapter sends through (the same endpoint as the healthy one).
 */
export function invocation(
  base: AppDeps,
  clients: InvocationClients,
  crashAt: number | undefined,
  dynamodbFaults?: DynamoDbFaults,
): Invocation {
  const run: InvocationTrace = { effects: [], crashedAt: undefined, published: [] };
  const step = (label: string | undefined): void => {
    if (run.crashedAt !== undefined) throw new CrashError(`dead since ${run.crashedAt}`);
    if (label === undefined) return;
    if (crashAt !== undefined && run.effects.length === crashAt) {
      run.crashedAt = label;
      throw new CrashError(`crashed before ${label}`);
    }
    run.effects.push(label);
  };

  const dynamodb = withSend(
    clients.dynamodb,
    (command) => {
      const type = DYNAMODB_WRITES.find((write) => command instanceof write);
      return type ? `dynamodb.${type.name.replace(/Command$/, '')}${describeWrite(command)}` : undefined;
    },
    step,
    dynamodbFaults,
  );
  const eks = withSend(
    clients.eks,
    (command) => {
      const type = EKS_MUTATIONS.find((mutation) => command instanceof mutation);
      return type ? `eks.${type.name.replace(/Command$/, '')}` : undefined;
    },
    step,
  );
  const publisher = new Proxy<OutcomeSink>(base.publisher, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== 'publish' || typeof value !== 'function') return value;
      return async (outcomes: readonly Outcome[]) => {
        step('publish');
        await Reflect.apply(value, target, [outcomes]);
        run.published.push(...outcomes);
      };
    },
  });

  const deps: AppDeps = {
    ...base,
    ...storeAndLocks(new LeaseStore({ client: dynamodb, tableName: clients.tableName })),
    eks: new EksAccess({ clientFor: () => eks }),
    publisher,
    timers: {
      maxDelaySeconds: base.timers.maxDelaySeconds,
      arm: async (timer, delaySeconds) => {
        step('timers.arm');
        await base.timers.arm(timer, delaySeconds);
      },
    },
  };
  return { deps, trace: run };
}

/**
 * Faults of DynamoDB as a client sees them: a call that fails before it reaches the table, or a write that
 * commits and whose answer is lost (the connection drops): the caller cannot tell it happened.
 */
export interface DynamoDbFaults {
  /** Probability that one call fails (half before it is sent, half after a write committed). */
  readonly rate: number;
  readonly random: () => number;
  /** Counts per kind, for the report. */
  readonly counts: { failedBefore: number; lostAfterCommit: number };
}

function droppedConnection(): Error {
  return Object.assign(new Error('socket hang up (injected)'), { name: 'TimeoutError', code: 'ECONNRESET' });
}

/** The client with its `send` passing each command through `step` first (labelled when it is a side effect). */
function withSend<C extends object>(
  client: C,
  label: (command: object) => string | undefined,
  step: (label: string | undefined) => void,
  faults?: DynamoDbFaults,
): C {
  return new Proxy<C>(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== 'send' || typeof value !== 'function') return value;
      return async (command: object, ...rest: unknown[]) => {
        const effect = label(command);
        step(effect);
        const fault = faults && faults.random() < faults.rate ? faults.random() : undefined;
        if (faults && fault !== undefined && (fault < 0.5 || effect === undefined)) {
          faults.counts.failedBefore++;
          throw droppedConnection();
        }
        const output: unknown = await Reflect.apply(value, target, [command, ...rest]);
        if (faults && fault !== undefined) {
          faults.counts.lostAfterCommit++;
          throw droppedConnection();
        }
        return output;
      };
    },
  });
}

/** `(lock)`, `(unlock)`, `(state)` for the subject item's updates: what a crash trace needs to be read. */
function describeWrite(command: object): string {
  if (!(command instanceof UpdateCommand)) return '';
  const expression = command.input.UpdateExpression ?? '';
  if (expression.startsWith('SET #lockOwner')) return '(lock)';
  if (expression.startsWith('REMOVE #lockOwner')) return '(unlock)';
  if (expression.includes('#entryOwned')) return '(state)';
  return '';
}

/** The lease table adapter serves two ports; an invocation's deps take both from the same store. */
function storeAndLocks(store: LeaseStore): Pick<AppDeps, 'store' | 'locks'> {
  return { store, locks: store };
}

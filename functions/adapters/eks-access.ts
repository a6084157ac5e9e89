import {
  AssociateAccessPolicyCommand,
  type AssociatedAccessPolicy,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  DescribeAccessEntryCommand,
  type DescribeAccessEntryCommandOutput,
  DescribeClusterCommand,
  DisassociateAccessPolicyCommand,
  type EKSClient,
  ListAssociatedAccessPoliciesCommand,
  type ListAssociatedAccessPoliciesCommandOutput,
} from '@aws-sdk/client-eks';
import type { AccessApi } from '../app/ports';
import { ConcurrentModificationError, PermanentError, RetryableError } from '../core/errors';
import type { AccessScope, ActualAccess, Association, Subject } from '../core/model';
import { OWNER_TAG_KEY, OWNER_TAG_VALUE } from '../core/model';
import type { Action } from '../core/planner';
import { httpStatus, isRetryableAwsError } from './aws-errors';

/** EKS refused the request for a reason retrying will not change; the message is EKS's own. */
export class EksRequestError extends PermanentError {
  override readonly name: string = 'EksRequestError';
  constructor(
    readonly operation: string,
    readonly errorType: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation}: ${errorType}: ${message}`, options);
  }
}

/** Someone else created the entry between our read and our create: read again and plan again. */
export class EntryAppearedError extends ConcurrentModificationError {
  override readonly name = 'EntryAppearedError';
}

/** EKS has no cluster of this name where the broker calls it (its region, account and credentials). */
export class ClusterNotFoundError extends PermanentError {
  override readonly name = 'ClusterNotFoundError';
  constructor(
    readonly clusterName: string,
    options: { cause: unknown },
  ) {
    super(
      `EKS has no cluster ${clusterName} where the broker looks for it (${reason(options.cause)}): check its name, region, account and roleArn in the access rules`,
      options,
    );
  }
}

/** The entry is there and EKS still answered 404 to the association: it does not know the policy. */
export class AccessPolicyNotFoundError extends PermanentError {
  override readonly name = 'AccessPolicyNotFoundError';
  constructor(
    readonly policyArn: string,
    options: { cause: unknown },
  ) {
    super(
      `EKS does not know the access policy ${policyArn} (${reason(options.cause)}): check its name, and that its partition is the cluster's`,
      options,
    );
  }
}

/** CreateAccessEntry still refused the principal once IAM had had the time to propagate a new one. */
export class PrincipalRefusedError extends EksRequestError {
  override readonly name = 'PrincipalRefusedError';
  constructor(error: Error, waitedMs: number) {
    super(
      'CreateAccessEntry',
      error.name,
      `${error.message} (still refused after ${Math.round(waitedMs / 1000)} s of retries: the IAM principal does not exist, or IAM has not propagated it yet; ask again once it exists)`,
      { cause: error },
    );
  }
}

/** EKS refused an association the planner asked for: which policy and which scope, with EKS's answer. */
export class AssociationRefusedError extends EksRequestError {
  override readonly name = 'AssociationRefusedError';
  constructor(
    readonly policyArn: string,
    readonly accessScope: AccessScope,
    error: Error,
  ) {
    super(
      'AssociateAccessPolicy',
      error.name,
      `${error.message} (EKS refused ${policyArn} ${describeScope(accessScope)})`,
      { cause: error },
    );
  }
}

export interface EksAccessOptions {
  /** The client for a cluster's region and account; clients are made once per cold start. */
  readonly clientFor: (clusterName: string) => EKSClient;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Retries of an Associate answered 404 right after our Create (EKS is eventually consistent). */
  readonly notFoundRetries?: number;
  readonly baseDelayMs?: number;
  /**
   * How long a CreateAccessEntry refused with InvalidParameterException is retried: IAM takes seconds to
   * propagate a new role, and EKS refuses it as an invalid principal meanwhile (default 10 s: a function's
   * timeout leaves no room for Terraform's two minutes).
   */
  readonly principalPropagationMs?: number;
  readonly random?: () => number;
}

type EntryKey = { readonly clusterName: string; readonly principalArn: string };

const PROPAGATION_BASE_MS = 500;
const PROPAGATION_CAP_MS = 4_000;

/**
 * The EKS side of reconciliation: reads what a subject holds, and applies the planner's actions. Throttling
 * and 5xx are retried by the SDK with jittered backoff; what is left after its budget becomes a RetryableError
 * so the message is redelivered. ResourceInUse on create is never taken as "mine".
 *
 * A 404 is decided by the operation that got it and by reading again, never by its message: EKS documents no
 * message that tells a missing cluster from a missing entry, or a missing entry from an unknown policy. A
 * result that rests on a 404 ("nothing there") holds only once the cluster is known to exist where the
 * broker calls it: any successful call on it proves that for the life of this adapter (a cold start), and
 * DescribeCluster proves it otherwise (once).
 */
export class EksAccess implements AccessApi {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly notFoundRetries: number;
  private readonly baseDelayMs: number;
  private readonly propagationMs: number;
  private readonly random: () => number;
  /** Clusters that answered a call successfully: they exist where this adapter calls them. */
  private readonly clustersSeen = new Set<string>();

  constructor(private readonly options: EksAccessOptions) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.notFoundRetries = options.notFoundRetries ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 200;
    this.propagationMs = options.principalPropagationMs ?? 10_000;
    this.random = options.random ?? Math.random;
  }

  /**
   * Null when the principal has no access entry on the cluster, or when EKS answered 404 for the cluster
   * itself: apply() confirms the cluster before anything rests on that null, so a fresh grant costs no
   * extra call.
   */
  async readActual(subject: Subject): Promise<ActualAccess | null> {
    const client = this.options.clientFor(subject.clusterName);
    const key = { clusterName: subject.clusterName, principalArn: subject.principalArn };
    let described: DescribeAccessEntryCommandOutput;
    try {
      described = await client.send(new DescribeAccessEntryCommand(key));
    } catch (error) {
      if (isNotFound(error)) return null;
      throw translate('DescribeAccessEntry', error);
    }
    this.clustersSeen.add(subject.clusterName);
    const entry = described.accessEntry;
    const entryType = entry?.type ?? 'STANDARD';
    if (entryType !== 'STANDARD') {
      // ListAssociatedAccessPolicies is a 400 on node entries, and the planner never touches them anyway.
      return { entryType, tags: entry?.tags ?? {}, associations: [] };
    }
    const associations = await this.associationsOf(client, key);
    if (associations === null) {
      throw new ConcurrentModificationError('The access entry disappeared while it was being read');
    }
    return { entryType, tags: entry?.tags ?? {}, associations };
  }

  /**
   * ListAssociatedAccessPolicies alone: one call for any entry (EKS has far fewer access policies than a page
   * holds), where readActual makes two. Null for a 404: no entry, or no cluster; whoever acts on it
   * reconciles, and the reconcile tells which. A node entry's 400 is thrown, as EKS's refusal.
   */
  async readAssociations(subject: Subject): Promise<Association[] | null> {
    const client = this.options.clientFor(subject.clusterName);
    return this.associationsOf(client, {
      clusterName: subject.clusterName,
      principalArn: subject.principalArn,
    });
  }

  /**
   * Applies the actions in order; each is idempotent against a repeat of itself. Ends by making sure the
   * cluster exists where it was called, when no call proved it: a plan of nothing, made from a 404, must not
   * pass for "nothing there" when the cluster is missing or misconfigured.
   */
  async apply(subject: Subject, actions: readonly Action[]): Promise<void> {
    const client = this.options.clientFor(subject.clusterName);
    const key = { clusterName: subject.clusterName, principalArn: subject.principalArn };
    let created = false;
    for (const action of actions) {
      switch (action.kind) {
        case 'createEntry':
          await this.create(client, key);
          created = true;
          break;
        case 'associate':
          await this.associate(client, key, action.policyArn, action.accessScope, created);
          break;
        case 'disassociate':
          await this.disassociate(client, key, action.policyArn);
          break;
        case 'deleteEntry':
          try {
            await client.send(new DeleteAccessEntryCommand(key));
            this.clustersSeen.add(key.clusterName);
          } catch (error) {
            // No entry (already gone: what we wanted), or no cluster: confirmCluster tells them apart.
            if (!isNotFound(error)) throw translate('DeleteAccessEntry', error);
          }
          break;
      }
    }
    await this.confirmCluster(client, key.clusterName);
  }

  /**
   * CreateAccessEntry names no entry, so its 404 is the cluster's. InvalidParameterException is retried for
   * the propagation budget, whatever its message: the broker's create varies only by principal (the request
   * contract already refuses malformed ones), and IAM's lag on a new role is answered exactly so.
   */
  private async create(client: EKSClient, key: EntryKey): Promise<void> {
    let waitedMs = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        await client.send(
          new CreateAccessEntryCommand({
            ...key,
            type: 'STANDARD',
            tags: { [OWNER_TAG_KEY]: OWNER_TAG_VALUE },
          }),
        );
        this.clustersSeen.add(key.clusterName);
        return;
      } catch (error) {
        if (errorType(error) === 'ResourceInUseException') {
          throw new EntryAppearedError('An access entry for the principal appeared before ours was created', {
            cause: error,
          });
        }
        if (isNotFound(error)) throw new ClusterNotFoundError(key.clusterName, { cause: error });
        if (error instanceof Error && errorType(error) === 'InvalidParameterException') {
          // Equal jitter: never a near-zero wait, so the budget bounds the number of attempts too.
          const ceiling = Math.min(PROPAGATION_CAP_MS, PROPAGATION_BASE_MS * 2 ** attempt);
          const delay = ceiling / 2 + (this.random() * ceiling) / 2;
          if (waitedMs + delay > this.propagationMs) throw new PrincipalRefusedError(error, waitedMs);
          waitedMs += delay;
          await this.sleep(delay);
          continue;
        }
        throw translate('CreateAccessEntry', error);
      }
    }
  }

  /**
   * A 404 names the entry, the policy or the cluster, and only a read tells which: the entry is there (the
   * policy is unknown: permanent), or it is not (right after our create: EKS catching up, retried; else it
   * vanished: read and plan again; or the cluster is missing: permanent).
   */
  private async associate(
    client: EKSClient,
    key: EntryKey,
    policyArn: string,
    accessScope: AccessScope,
    justCreated: boolean,
  ): Promise<void> {
    const scope =
      accessScope.type === 'cluster'
        ? { type: 'cluster' as const }
        : { type: 'namespace' as const, namespaces: [...accessScope.namespaces] };
    for (let attempt = 0; ; attempt++) {
      try {
        await client.send(new AssociateAccessPolicyCommand({ ...key, policyArn, accessScope: scope }));
        this.clustersSeen.add(key.clusterName);
        return;
      } catch (error) {
        if (!isNotFound(error)) {
          // A scope EKS refuses (its namespace rules are documented nowhere) is named with EKS's answer.
          if (error instanceof Error && httpStatus(error) === 400 && !isRetryableAwsError(error)) {
            throw new AssociationRefusedError(policyArn, accessScope, error);
          }
          throw translate('AssociateAccessPolicy', error);
        }
        if (justCreated && attempt < this.notFoundRetries) {
          // Full jitter: a 404 right after our own create is most likely EKS catching up.
          await this.sleep(this.random() * this.baseDelayMs * 2 ** attempt);
          continue;
        }
        if (await this.entryExists(client, key))
          throw new AccessPolicyNotFoundError(policyArn, { cause: error });
        await this.confirmCluster(client, key.clusterName);
        throw new ConcurrentModificationError(
          'The access entry disappeared before the policy was associated',
          {
            cause: error,
          },
        );
      }
    }
  }

  /**
   * Done when the policy is no longer associated, whatever EKS answers for one that was not: a 404 (no
   * association, or no entry: done once the cluster is confirmed), a 200, or a 400 read again.
   */
  private async disassociate(client: EKSClient, key: EntryKey, policyArn: string): Promise<void> {
    try {
      await client.send(new DisassociateAccessPolicyCommand({ ...key, policyArn }));
      this.clustersSeen.add(key.clusterName);
      return;
    } catch (error) {
      if (isNotFound(error)) return;
      if (httpStatus(error) !== 400 || isRetryableAwsError(error)) {
        throw translate('DisassociateAccessPolicy', error);
      }
      const held = await this.associationsOf(client, key);
      if (held?.some((association) => association.policyArn === policyArn)) {
        throw translate('DisassociateAccessPolicy', error);
      }
    }
  }

  /** Every page of the entry's associations; null when the entry is not there. */
  private async associationsOf(client: EKSClient, key: EntryKey): Promise<Association[] | null> {
    const associations: Association[] = [];
    let nextToken: string | undefined;
    do {
      let page: ListAssociatedAccessPoliciesCommandOutput;
      try {
        page = await client.send(
          new ListAssociatedAccessPoliciesCommand({ ...key, maxResults: 100, nextToken }),
        );
      } catch (error) {
        if (isNotFound(error)) return null;
        throw translate('ListAssociatedAccessPolicies', error);
      }
      this.clustersSeen.add(key.clusterName);
      for (const association of page.associatedAccessPolicies ?? []) {
        const read = associationOf(association);
        if (read) associations.push(read);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return associations;
  }

  private async entryExists(client: EKSClient, key: EntryKey): Promise<boolean> {
    try {
      await client.send(new DescribeAccessEntryCommand(key));
    } catch (error) {
      if (isNotFound(error)) return false;
      throw translate('DescribeAccessEntry', error);
    }
    this.clustersSeen.add(key.clusterName);
    return true;
  }

  /** Throws ClusterNotFoundError unless the cluster answered a call, or DescribeCluster finds it (once). */
  private async confirmCluster(client: EKSClient, clusterName: string): Promise<void> {
    if (this.clustersSeen.has(clusterName)) return;
    try {
      await client.send(new DescribeClusterCommand({ name: clusterName }));
    } catch (error) {
      if (isNotFound(error)) throw new ClusterNotFoundError(clusterName, { cause: error });
      throw translate('DescribeCluster', error);
    }
    this.clustersSeen.add(clusterName);
  }
}

function associationOf(association: AssociatedAccessPolicy): Association | undefined {
  if (!association.policyArn || !association.accessScope?.type) return undefined;
  return {
    policyArn: association.policyArn,
    accessScope:
      association.accessScope.type === 'cluster'
        ? { type: 'cluster' }
        : { type: 'namespace', namespaces: association.accessScope.namespaces ?? [] },
  };
}

function errorType(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/** EKS's 404, by status or type: ResourceNotFoundException on every access-entry operation. */
function isNotFound(error: unknown): boolean {
  return httpStatus(error) === 404 || errorType(error) === 'ResourceNotFoundException';
}

function reason(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function describeScope(scope: AccessScope): string {
  return scope.type === 'cluster' ? 'at cluster scope' : `on namespaces ${scope.namespaces.join(', ')}`;
}

/**
 * Retryable when waiting can help (throttling, 5xx, the network); permanent with EKS's message for any other
 * answer of EKS; anything that is not an answer of EKS at all is rethrown as it is.
 */
function translate(operation: string, error: unknown): Error {
  if (!(error instanceof Error)) return new Error(`${operation} failed: ${String(error)}`, { cause: error });
  if (isRetryableAwsError(error)) {
    return new RetryableError(`${operation} failed and may succeed later: ${error.name}: ${error.message}`, {
      cause: error,
    });
  }
  if (httpStatus(error) !== undefined) {
    return new EksRequestError(operation, error.name, error.message, { cause: error });
  }
  return error;
}

import {
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  DescribeAccessEntryCommand,
  type DescribeAccessEntryCommandOutput,
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
  override readonly name = 'EksRequestError';
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

export interface EksAccessOptions {
  /** The client for a cluster's region and account; clients are made once per cold start. */
  readonly clientFor: (clusterName: string) => EKSClient;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Retries of an Associate answered 404 right after our Create (EKS is eventually consistent). */
  readonly notFoundRetries?: number;
  readonly baseDelayMs?: number;
  readonly random?: () => number;
}

/**
 * The EKS side of reconciliation: reads what a subject holds, and applies the planner's actions. Throttling
 * and 5xx are retried by the SDK with jittered backoff; what is left after its budget becomes a RetryableError
 * so the message is redelivered. ResourceInUse on create is never taken as "mine".
 */
export class EksAccess implements AccessApi {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly notFoundRetries: number;
  private readonly baseDelayMs: number;
  private readonly random: () => number;

  constructor(private readonly options: EksAccessOptions) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.notFoundRetries = options.notFoundRetries ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 200;
    this.random = options.random ?? Math.random;
  }

  /** Null when the principal has no access entry on the cluster. */
  async readActual(subject: Subject): Promise<ActualAccess | null> {
    const client = this.options.clientFor(subject.clusterName);
    const key = { clusterName: subject.clusterName, principalArn: subject.principalArn };
    let described: DescribeAccessEntryCommandOutput;
    try {
      described = await client.send(new DescribeAccessEntryCommand(key));
    } catch (error) {
      if (errorType(error) === 'ResourceNotFoundException' && !isClusterNotFound(error)) return null;
      throw translate('DescribeAccessEntry', error);
    }
    const entry = described.accessEntry;
    const entryType = entry?.type ?? 'STANDARD';
    if (entryType !== 'STANDARD') {
      // ListAssociatedAccessPolicies is a 400 on node entries, and the planner never touches them anyway.
      return { entryType, tags: entry?.tags ?? {}, associations: [] };
    }
    const associations: Association[] = [];
    let nextToken: string | undefined;
    do {
      let page: ListAssociatedAccessPoliciesCommandOutput;
      try {
        page = await client.send(
          new ListAssociatedAccessPoliciesCommand({ ...key, maxResults: 100, nextToken }),
        );
      } catch (error) {
        if (errorType(error) === 'ResourceNotFoundException') {
          throw new ConcurrentModificationError('The access entry disappeared while it was being read', {
            cause: error,
          });
        }
        throw translate('ListAssociatedAccessPolicies', error);
      }
      for (const association of page.associatedAccessPolicies ?? []) {
        if (!association.policyArn || !association.accessScope?.type) continue;
        associations.push({
          policyArn: association.policyArn,
          accessScope:
            association.accessScope.type === 'cluster'
              ? { type: 'cluster' }
              : { type: 'namespace', namespaces: association.accessScope.namespaces ?? [] },
        });
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return { entryType, tags: entry?.tags ?? {}, associations };
  }

  /** Applies the actions in order; each is idempotent against a repeat of itself. */
  async apply(subject: Subject, actions: readonly Action[]): Promise<void> {
    const client = this.options.clientFor(subject.clusterName);
    const key = { clusterName: subject.clusterName, principalArn: subject.principalArn };
    let created = false;
    for (const action of actions) {
      switch (action.kind) {
        case 'createEntry':
          try {
            await client.send(
              new CreateAccessEntryCommand({
                ...key,
                type: 'STANDARD',
                tags: { [OWNER_TAG_KEY]: OWNER_TAG_VALUE },
              }),
            );
          } catch (error) {
            if (errorType(error) === 'ResourceInUseException') {
              throw new EntryAppearedError(
                'An access entry for the principal appeared before ours was created',
                {
                  cause: error,
                },
              );
            }
            throw translate('CreateAccessEntry', error);
          }
          created = true;
          break;
        case 'associate':
          await this.associate(client, key, action.policyArn, action.accessScope, created);
          break;
        case 'disassociate':
          try {
            await client.send(new DisassociateAccessPolicyCommand({ ...key, policyArn: action.policyArn }));
          } catch (error) {
            // Already gone (with the entry, or by hand): what we wanted is true.
            if (errorType(error) !== 'ResourceNotFoundException' || isClusterNotFound(error)) {
              throw translate('DisassociateAccessPolicy', error);
            }
          }
          break;
        case 'deleteEntry':
          try {
            await client.send(new DeleteAccessEntryCommand(key));
          } catch (error) {
            if (errorType(error) !== 'ResourceNotFoundException' || isClusterNotFound(error)) {
              throw translate('DeleteAccessEntry', error);
            }
          }
          break;
      }
    }
  }

  private async associate(
    client: EKSClient,
    key: { clusterName: string; principalArn: string },
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
        return;
      } catch (error) {
        const notFound = errorType(error) === 'ResourceNotFoundException' && !isClusterNotFound(error);
        if (notFound && justCreated && attempt < this.notFoundRetries) {
          // Full jitter: a 404 right after our own create is EKS catching up, not a missing entry.
          await this.sleep(this.random() * this.baseDelayMs * 2 ** attempt);
          continue;
        }
        if (notFound) {
          throw new ConcurrentModificationError(
            'The access entry disappeared before the policy was associated',
            {
              cause: error,
            },
          );
        }
        throw translate('AssociateAccessPolicy', error);
      }
    }
  }
}

function errorType(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

function isClusterNotFound(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('No cluster found');
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

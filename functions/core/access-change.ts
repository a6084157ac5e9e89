/**
 * A change someone made to an access entry, read from the event CloudTrail puts on the account's default bus
 * for an EKS API call ("AWS API Call via CloudTrail", source `aws.eks`). Only the fields the broker needs are
 * read, and nothing is trusted beyond naming which subject to look at: the broker then reads EKS itself.
 *
 * Shape, as CloudTrail records EKS's calls (the EventBridge User Guide, "AWS service events delivered via
 * AWS CloudTrail"; recorded examples in DataDog/stratus-red-team, eks.lateral-movement.create-access-entry):
 * `requestParameters.name` is the cluster, `requestParameters.principalArn` the entry's principal, written as
 * sent: plain when it travelled in the body (CreateAccessEntry), percent-encoded when it was a path label
 * (`arn%3Aaws%3Aiam%3A%3A...` for AssociateAccessPolicy). `errorCode` is present when the call failed.
 */
import type { Subject } from './model';
import { isRecord } from './validation';

export const CLOUDTRAIL_DETAIL_TYPE = 'AWS API Call via CloudTrail';
export const EKS_EVENT_SOURCE = 'aws.eks';
const EKS_ENDPOINT = 'eks.amazonaws.com';

/** The EKS calls that change what an access entry grants. */
export const ACCESS_ENTRY_EVENT_NAMES = [
  'CreateAccessEntry',
  'UpdateAccessEntry',
  'DeleteAccessEntry',
  'AssociateAccessPolicy',
  'DisassociateAccessPolicy',
] as const;
export type AccessEntryEventName = (typeof ACCESS_ENTRY_EVENT_NAMES)[number];

export interface AccessEntryChange extends Subject {
  readonly eventName: AccessEntryEventName;
  /** The caller's ARN as CloudTrail names it (an assumed-role session, a user); `unknown` when it names none. */
  readonly changedBy: string;
  /** Where the call was made: the region, and the account that owns the cluster. */
  readonly region: string;
  readonly accountId: string;
  /** CloudTrail's id of the call and its time, for the report. */
  readonly eventId?: string;
  readonly eventTime?: string;
}

export type ChangeReading = { readonly change: AccessEntryChange } | { readonly ignored: string };

/** The fields of an EventBridge event the reading needs. */
interface BusEvent {
  readonly source?: unknown;
  readonly 'detail-type'?: unknown;
  readonly region?: unknown;
  readonly account?: unknown;
  readonly detail?: unknown;
}

/** What the event says was changed, or why it names no change for the broker to look at. */
export function readAccessEntryChange(event: BusEvent): ChangeReading {
  if (event.source !== EKS_EVENT_SOURCE || event['detail-type'] !== CLOUDTRAIL_DETAIL_TYPE) {
    return { ignored: 'not a CloudTrail event of EKS' };
  }
  const detail = event.detail;
  if (!isRecord(detail) || detail.eventSource !== EKS_ENDPOINT) {
    return { ignored: 'not a CloudTrail event of EKS' };
  }
  const eventName = detail.eventName;
  if (!(ACCESS_ENTRY_EVENT_NAMES as readonly unknown[]).includes(eventName)) {
    return { ignored: `${String(eventName)} changes no access entry` };
  }
  if (detail.errorCode !== undefined && detail.errorCode !== null) {
    return { ignored: `the call failed (${String(detail.errorCode)}): nothing changed` };
  }
  const request = isRecord(detail.requestParameters) ? detail.requestParameters : {};
  const response = isRecord(detail.responseElements) ? detail.responseElements : {};
  const entry = isRecord(response.accessEntry) ? response.accessEntry : {};
  const clusterName = firstString(request.name, request.clusterName, entry.clusterName);
  const principalArn = decodedArn(firstString(request.principalArn, entry.principalArn));
  if (clusterName === undefined || principalArn === undefined) {
    return { ignored: 'the event names no cluster and principal' };
  }
  const region = firstString(detail.awsRegion, event.region);
  const accountId = firstString(detail.recipientAccountId, event.account);
  if (region === undefined || accountId === undefined) {
    return { ignored: 'the event names no region and account' };
  }
  const identity = isRecord(detail.userIdentity) ? detail.userIdentity : {};
  const eventId = firstString(detail.eventID);
  const eventTime = firstString(detail.eventTime);
  return {
    change: {
      clusterName,
      principalArn,
      eventName: eventName as AccessEntryEventName,
      changedBy: firstString(identity.arn, identity.principalId, identity.invokedBy) ?? 'unknown',
      region,
      accountId,
      ...(eventId === undefined ? {} : { eventId }),
      ...(eventTime === undefined ? {} : { eventTime }),
    },
  };
}

function firstString(...values: unknown[]): string | undefined {
  for (const value of values) if (typeof value === 'string' && value !== '') return value;
  return undefined;
}

/** A principal ARN as sent, decoded when it was a percent-encoded path label; undefined when it is no ARN. */
function decodedArn(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.startsWith('arn:')) return value;
  try {
    const decoded = decodeURIComponent(value);
    return decoded.startsWith('arn:') ? decoded : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What CloudTrail puts on the account's default bus for a mutating EKS call ("AWS API Call via CloudTrail",
 * source `aws.eks`), built from a call the emulator carried out, so that the broker's drift-event function runs
 * locally on the event it gets in AWS. The record follows CloudTrail's (the CloudTrail User Guide's record
 * contents and userIdentity element): path labels in `requestParameters` as they travelled, percent-encoded
 * (`principalArn` of AssociateAccessPolicy in DataDog/stratus-red-team's recorded event), the body's members as
 * sent, the answer in `responseElements`.
 */
import { randomUUID } from 'node:crypto';
import { CLOUDTRAIL_DETAIL_TYPE, EKS_EVENT_SOURCE } from '../../../functions/core/access-change';
import type { PutEventsEntry } from '../eventbridge/types';
import type { AuthenticatedCaller } from '../identities';
import type { CommittedEksCall } from './routes';

/** The PutEvents entry for `call`, made by `caller`, on the default bus of `accountId` in `region`. */
export function cloudTrailEntry(
  call: CommittedEksCall,
  caller: AuthenticatedCaller,
  where: { readonly accountId: string; readonly region: string; readonly now?: Date },
): PutEventsEntry {
  const time = where.now ?? new Date();
  const detail = {
    eventVersion: '1.09',
    userIdentity: userIdentity(caller),
    eventTime: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    eventSource: 'eks.amazonaws.com',
    eventName: call.operation,
    awsRegion: where.region,
    sourceIPAddress: '127.0.0.1',
    userAgent: headerOf(call.request.headers['user-agent']) ?? 'unknown',
    requestParameters: requestParameters(call),
    responseElements: isEmpty(call.result) ? null : call.result,
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: false,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: where.accountId,
    eventCategory: 'Management',
  };
  return {
    Source: EKS_EVENT_SOURCE,
    DetailType: CLOUDTRAIL_DETAIL_TYPE,
    Detail: JSON.stringify(detail),
    EventBusName: 'default',
    Time: time,
  };
}

/** A role's key signs as a session of the role (see identities.ts): CloudTrail names its issuer. */
function userIdentity(caller: AuthenticatedCaller): Record<string, unknown> {
  if (caller.arn === caller.principalArn) {
    return {
      type: 'IAMUser',
      principalId: caller.userId,
      arn: caller.arn,
      accountId: caller.account,
      accessKeyId: caller.accessKeyId,
      userName: caller.principalArn.split('/').at(-1),
    };
  }
  const roleId = caller.userId.split(':')[0];
  return {
    type: 'AssumedRole',
    principalId: caller.userId,
    arn: caller.arn,
    accountId: caller.account,
    accessKeyId: caller.accessKeyId,
    sessionContext: {
      sessionIssuer: {
        type: 'Role',
        principalId: roleId,
        arn: caller.principalArn,
        accountId: caller.account,
        userName: caller.principalArn.split('/').at(-1),
      },
      attributes: { mfaAuthenticated: 'false' },
    },
  };
}

function requestParameters(call: CommittedEksCall): Record<string, unknown> {
  const [first, principal, policy] = call.rawLabels;
  if (call.operation === 'TagResource' || call.operation === 'UntagResource') {
    return { resourceArn: first, ...call.body, ...queryOf(call) };
  }
  // CreateAccessEntry sends the principal in its body; the others name it in the path.
  return {
    ...call.body,
    name: first,
    ...(principal === undefined ? {} : { principalArn: principal }),
    ...(policy === undefined ? {} : { policyArn: policy }),
  };
}

function queryOf(call: CommittedEksCall): Record<string, unknown> {
  const keys = call.request.query.getAll('tagKeys');
  return keys.length > 0 ? { tagKeys: keys } : {};
}

function headerOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function isEmpty(value: unknown): boolean {
  return typeof value !== 'object' || value === null || Object.keys(value).length === 0;
}

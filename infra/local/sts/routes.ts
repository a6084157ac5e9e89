import type { ServerResponse } from 'node:http';
import type { EdgeRequest } from '../http';
import { escapeXml, QUERY_SERVICES, queryParameters, sendQueryError, sendQueryResult } from '../query-xml';

/**
 * STS GetCallerIdentity (query protocol: a form POST, or a presigned GET), answering who signed the request.
 * Shape from the STS API reference (docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html):
 * `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn/><UserId/><Account/></…Result><ResponseMetadata>`.
 */
export async function handleSts(req: EdgeRequest, res: ServerResponse): Promise<void> {
  const action = queryParameters(req).get('Action') ?? '';
  if (action !== 'GetCallerIdentity') {
    sendQueryError(
      res,
      'sts',
      400,
      'InvalidAction',
      `Could not find operation ${action} for version ${QUERY_SERVICES.sts.version}`,
    );
    return;
  }
  const caller = req.caller;
  if (!caller) throw new Error('STS reached without an authenticated caller');
  sendQueryResult(
    res,
    'sts',
    action,
    `    <Arn>${escapeXml(caller.arn)}</Arn>\n` +
      `    <UserId>${escapeXml(caller.userId)}</UserId>\n` +
      `    <Account>${escapeXml(caller.account)}</Account>\n`,
  );
}

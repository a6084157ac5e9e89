import type { ServerResponse } from 'node:http';
import type { EdgeRequest } from '../http';
import type { LocalIdentities } from '../identities';
import { escapeXml, QUERY_SERVICES, queryParameters, sendQueryError, sendQueryResult } from '../query-xml';

/** Roles are reported as created at this fixed time: the local IAM has no history, and tests like stable output. */
const ROLE_CREATE_DATE = '2024-01-01T00:00:00Z';

/**
 * IAM GetRole (query protocol) for the roles of the local identities: what the broker reads at cold start to
 * turn its integrations' role ARNs into the RoleIds SQS puts in SenderId. Shape from the IAM API reference
 * (docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html): `<GetRoleResponse><GetRoleResult><Role>` with
 * Path, RoleName, RoleId, Arn, CreateDate, AssumeRolePolicyDocument (URL-encoded), MaxSessionDuration; an
 * unknown role is 404 NoSuchEntity "The role with name X cannot be found.".
 */
export function createIamHandler(identities: LocalIdentities) {
  return async (req: EdgeRequest, res: ServerResponse): Promise<void> => {
    const params = queryParameters(req);
    const action = params.get('Action') ?? '';
    if (action !== 'GetRole') {
      sendQueryError(
        res,
        'iam',
        400,
        'InvalidAction',
        `Could not find operation ${action} for version ${QUERY_SERVICES.iam.version}`,
      );
      return;
    }
    const roleName = params.get('RoleName');
    if (!roleName) {
      sendQueryError(
        res,
        'iam',
        400,
        'ValidationError',
        "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null",
      );
      return;
    }
    const role = identities.role(roleName);
    if (!role) {
      sendQueryError(res, 'iam', 404, 'NoSuchEntity', `The role with name ${roleName} cannot be found.`);
      return;
    }
    const trust = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${role.account}:root` },
          Action: 'sts:AssumeRole',
        },
      ],
    };
    sendQueryResult(
      res,
      'iam',
      action,
      '    <Role>\n' +
        `      <Path>${escapeXml(role.path)}</Path>\n` +
        `      <AssumeRolePolicyDocument>${escapeXml(encodeURIComponent(JSON.stringify(trust)))}</AssumeRolePolicyDocument>\n` +
        '      <MaxSessionDuration>3600</MaxSessionDuration>\n' +
        `      <RoleId>${escapeXml(role.uniqueId)}</RoleId>\n` +
        `      <RoleName>${escapeXml(role.name)}</RoleName>\n` +
        `      <Arn>${escapeXml(role.principalArn)}</Arn>\n` +
        `      <CreateDate>${ROLE_CREATE_DATE}</CreateDate>\n` +
        '    </Role>\n',
    );
  };
}

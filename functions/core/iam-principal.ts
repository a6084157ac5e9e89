/**
 * The IAM principals an access entry can name: a role or a user, path kept whole, judged the way EKS judges
 * them. Used by the request contract (principalArn) and by the access rules (a cluster's roleArn, plain
 * principal entries).
 */
import { PARTITIONS } from './access-policies';

const IAM_NAME = /^[\w+=,.@-]{1,64}$/;
const IAM_PATH_SEGMENT = /^[\w+=,.@-]+$/;
/** For the JSON Schema only: the parser gives a specific reason for each way a principal ARN can be wrong. */
export const PRINCIPAL_ARN_PATTERN = `^arn:(?:${PARTITIONS.join('|')}):iam::\\d{12}:(?:role/(?!aws-service-role/)|user/)(?:[\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$`;

interface IamPrincipal {
  readonly partition: string;
  readonly accountId: string;
  readonly kind: 'role' | 'user';
  /** The name without its path: `AWSReservedSSO_x` for `role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_x`. */
  readonly name: string;
}

type PrincipalCheck =
  | ({ readonly ok: true } & IamPrincipal)
  | { readonly ok: false; readonly reason: string };

/**
 * Judges a principal ARN the way EKS does for a STANDARD access entry, and narrower where the broker chooses
 * to (the account root, which EKS accepts): an IAM role or user of any account, path kept whole. Each refusal says what to send instead, because the usual mistake (a session ARN copied
 * from `aws sts get-caller-identity`) has a precise fix.
 */
export function checkPrincipalArn(arn: string): PrincipalCheck {
  const parts = /^arn:([^:]*):([^:]*):([^:]*):([^:]*):(.*)$/s.exec(arn);
  if (!parts) {
    return {
      ok: false,
      reason: 'is not an ARN (expected arn:aws:iam::<account>:role/<name> or :user/<name>)',
    };
  }
  const [, partition = '', service = '', region = '', accountId = '', resource = ''] = parts;
  if (!(PARTITIONS as readonly string[]).includes(partition)) {
    return { ok: false, reason: `has an unknown partition (expected one of ${PARTITIONS.join(', ')})` };
  }
  if (service === 'sts') {
    if (resource.startsWith('assumed-role/')) {
      const role = (resource.split('/')[1] ?? '').slice(0, 64) || '<name>';
      return {
        ok: false,
        reason: `is an STS assumed-role session: use the role ARN, not a session (arn:${partition}:iam::${accountId}:role/${role}, with the role's path if it has one)`,
      };
    }
    return { ok: false, reason: 'is an STS session ARN: use the ARN of the IAM role or user, not a session' };
  }
  if (service !== 'iam')
    return { ok: false, reason: 'is not an IAM ARN: an access entry takes an IAM role or user' };
  if (region !== '') return { ok: false, reason: 'is malformed: IAM ARNs have no region' };
  if (!/^\d{12}$/.test(accountId))
    return { ok: false, reason: 'is malformed: the account id must be 12 digits' };
  // EKS takes the root for a STANDARD entry (a public runbook shows create-access-entry succeeding with it); the
  // broker does not grant to it: whoever signs in as the root would hold the grant.
  if (resource === 'root') {
    return {
      ok: false,
      reason: 'is the account root: EKS would take it, but the broker grants only to IAM roles and users',
    };
  }
  const [kind = '', ...path] = resource.split('/');
  if (kind === 'group') {
    return {
      ok: false,
      reason: 'is an IAM group, which cannot have an access entry: grant each role or user',
    };
  }
  if (kind !== 'role' && kind !== 'user') {
    return { ok: false, reason: 'is not an IAM role or user ARN: an access entry takes only those' };
  }
  if (kind === 'role' && path[0] === 'aws-service-role') {
    return {
      ok: false,
      reason: 'is a service-linked role: EKS refuses access entries for service-linked roles',
    };
  }
  const name = path[path.length - 1] ?? '';
  if (!IAM_NAME.test(name) || !path.slice(0, -1).every((segment) => IAM_PATH_SEGMENT.test(segment))) {
    return { ok: false, reason: `is malformed: not a valid IAM ${kind} name and path` };
  }
  return { ok: true, partition, accountId, kind, name };
}

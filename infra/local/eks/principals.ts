import { errors } from './errors';

export interface IamPrincipal {
  readonly arn: string;
  readonly partition: string;
  readonly accountId: string;
  readonly kind: 'role' | 'user' | 'root';
  /** The name without the path: `AWSReservedSSO_x` for `role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_x`. */
  readonly name: string;
}

const IAM_ARN = /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):(iam|sts)::(\d{12}):(.+)$/;
const NAME = /^[\w+=,.@-]{1,128}$/;

/**
 * The 400 EKS answers, on every operation that names a principal, for a principalArn that is no IAM ARN at
 * all or an STS session ARN: "The principalArn parameter format is not valid". A well-formed ARN that has no
 * entry (a group, a deleted role) is a 404 on the operations that address an entry, not a 400.
 */
export function checkPrincipalFormat(arn: string): void {
  const match = IAM_ARN.exec(arn);
  if (!match || match[2] === 'sts') throw errors.principalFormat();
}

/**
 * Parses a principal ARN the way EKS judges it for a new access entry. STS session ARNs and anything that is
 * not an ARN are a format error; service-linked roles have their own refusal; groups and policies are not
 * principals an entry can take. The account root is one: a public transcript of create-access-entry and
 * associate-access-policy with `arn:aws:iam::<account>:root` shows both succeed (see fidelity.md).
 */
export function parsePrincipalArn(arn: string): IamPrincipal {
  checkPrincipalFormat(arn);
  const [, partition = '', , accountId = '', resource = ''] = IAM_ARN.exec(arn) ?? [];
  if (resource === 'root') return { arn, partition, accountId, kind: 'root', name: 'root' };
  const [kind, ...path] = resource.split('/');
  if ((kind !== 'role' && kind !== 'user') || path.length === 0) throw errors.invalidPrincipal();
  if (kind === 'role' && path[0] === 'aws-service-role') throw errors.serviceLinkedRole();
  const name = path[path.length - 1] ?? '';
  if (!NAME.test(name) || path.slice(0, -1).some((segment) => !/^[\w+=,.@-]+$/.test(segment))) {
    throw errors.invalidPrincipal();
  }
  return { arn, partition, accountId, kind, name };
}

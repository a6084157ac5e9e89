import { errors } from './errors';

export interface IamPrincipal {
  readonly arn: string;
  readonly partition: string;
  readonly accountId: string;
  readonly kind: 'role' | 'user';
  /** The name without the path: `AWSReservedSSO_x` for `role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_x`. */
  readonly name: string;
}

const IAM_ARN = /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):(iam|sts)::(\d{12}):(.+)$/;
const NAME = /^[\w+=,.@-]{1,128}$/;

/**
 * Parses a principal ARN the way EKS judges it for an access entry. STS session ARNs and anything that is not
 * an ARN are a format error; service-linked roles have their own refusal; groups, policies and `root` are not
 * principals an entry can take.
 */
export function parsePrincipalArn(arn: string): IamPrincipal {
  const match = IAM_ARN.exec(arn);
  if (!match) throw errors.principalFormat();
  const [, partition = '', service, accountId = '', resource = ''] = match;
  if (service === 'sts') throw errors.principalFormat();
  const [kind, ...path] = resource.split('/');
  if ((kind !== 'role' && kind !== 'user') || path.length === 0) throw errors.invalidPrincipal();
  if (kind === 'role' && path[0] === 'aws-service-role') throw errors.serviceLinkedRole();
  const name = path[path.length - 1] ?? '';
  if (!NAME.test(name) || path.slice(0, -1).some((segment) => !/^[\w+=,.@-]+$/.test(segment))) {
    throw errors.invalidPrincipal();
  }
  return { arn, partition, accountId, kind, name };
}

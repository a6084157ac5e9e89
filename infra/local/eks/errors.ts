/** An error the EKS API answers, with the status and type real AWS uses. */
export class EksApiError extends Error {
  override readonly name = 'EksApiError';
  constructor(
    readonly type: EksErrorType,
    message: string,
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }

  get status(): number {
    return STATUS[this.type];
  }
}

const STATUS = {
  InvalidParameterException: 400,
  InvalidRequestException: 400,
  ClientException: 400,
  ResourceLimitExceededException: 400,
  BadRequestException: 400,
  AccessDeniedException: 403,
  ResourceNotFoundException: 404,
  NotFoundException: 404,
  ResourceInUseException: 409,
  ResourcePropagationDelayException: 428,
  ThrottlingException: 429,
  ServerException: 500,
  ServiceUnavailableException: 503,
  UnknownOperationException: 404,
} as const;

export type EksErrorType = keyof typeof STATUS;

// Messages real AWS returns (fidelity.md beside this file names the source of each).
export const errors = {
  entryInUse: () =>
    new EksApiError(
      'ResourceInUseException',
      'The specified access entry resource is already in use on this cluster.',
    ),
  entryNotFound: () =>
    new EksApiError(
      'ResourceNotFoundException',
      "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.",
    ),
  clusterNotFound: (name: string) =>
    new EksApiError('ResourceNotFoundException', `No cluster found for name: ${name}.`, {
      clusterName: name,
    }),
  configMapOnly: (name: string) =>
    new EksApiError(
      'InvalidRequestException',
      "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
      { clusterName: name },
    ),
  invalidPrincipal: () =>
    new EksApiError('InvalidParameterException', 'The specified principalArn is invalid: invalid principal.'),
  principalFormat: () =>
    new EksApiError('InvalidParameterException', 'The principalArn parameter format is not valid'),
  serviceLinkedRole: () =>
    new EksApiError(
      'InvalidParameterException',
      'The caller is not allowed to modify access entries with a principalArn value of a Service Linked Role',
    ),
  systemGroup: (group: string) =>
    new EksApiError(
      'InvalidParameterException',
      `The kubernetes group name ${group} is invalid, it cannot start with system:`,
    ),
  reservedUsername: (prefix: string) =>
    new EksApiError('InvalidParameterException', `The username must not begin with ${prefix}`),
  notStandard: () =>
    new EksApiError(
      'InvalidParameterException',
      'This operation can only be performed on Access Entries with a type of "STANDARD".',
    ),
  clusterName: () =>
    new EksApiError(
      'InvalidParameterException',
      'The cluster name provided should conform to the regular expression "^[0-9A-Za-z][A-Za-z0-9-_]*"',
    ),
  // An unknown policy, a malformed ARN or one of another partition: the aws CLI's answer quoted in public
  // runbooks ("An error occurred (ResourceNotFoundException) when calling the AssociateAccessPolicy operation:
  // The specified policyArn could not be found.").
  policyNotFound: () =>
    new EksApiError('ResourceNotFoundException', 'The specified policyArn could not be found.'),
  // The messages below are not documented anywhere (unverified): the type is the likely one, the text ours.
  invalidParameter: (message: string) => new EksApiError('InvalidParameterException', message),
  policyNotAssociated: () =>
    new EksApiError(
      'ResourceNotFoundException',
      'The specified policyArn is not associated with this access entry.',
    ),
  /** The alternative for a missing cluster on access-entry calls (fault `unsettled.missingCluster`). */
  clusterNotFoundLikeEntry: (name: string) =>
    new EksApiError(
      'ResourceNotFoundException',
      "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.",
      { clusterName: name },
    ),
  sessionNameColon: () =>
    new EksApiError(
      'InvalidParameterException',
      'The username must include a colon before {{SessionName}} or {{SessionNameRaw}}.',
    ),
  serviceLinkedOnlyPolicy: (name: string) =>
    new EksApiError(
      'InvalidParameterException',
      `The access policy ${name} can only be associated with access entries of service-linked roles.`,
    ),
  reservedTagValue: (key: string) =>
    new EksApiError(
      'InvalidParameterException',
      `Tag value for ${key} is invalid: the aws: prefix is reserved for AWS use.`,
    ),
  tooManyEntries: (limit: number) =>
    new EksApiError(
      'ResourceLimitExceededException',
      `You have reached the maximum number of access entries (${limit}) for this cluster.`,
    ),
  tokenReused: () =>
    new EksApiError(
      'InvalidRequestException',
      'The clientRequestToken was already used for a request with different parameters.',
    ),
  badNextToken: () => new EksApiError('InvalidParameterException', 'The nextToken provided is not valid.'),
  maxResults: () =>
    new EksApiError('InvalidParameterException', 'maxResults must be an integer between 1 and 100.'),
  resourceNotFound: (arn: string) => new EksApiError('NotFoundException', `Resource not found: ${arn}`),
  badRequest: (message: string) => new EksApiError('BadRequestException', message),
} as const;

import { describe, expect, it } from 'vitest';
import { CliError, type CliTarget, EXIT_CODES, explainError } from '../../functions/cli/errors';
import { errorLine } from '../../functions/cli/main';
import { ConfigurationError, RetryableError } from '../../functions/core/errors';

const AWS: CliTarget = {
  endpoint: undefined,
  region: 'eu-west-1',
  tableName: 'eks-access-broker-prod-leases',
  busName: 'eks-access-broker-prod-bus',
};
const LOCAL: CliTarget = { ...AWS, endpoint: 'http://127.0.0.1:4566', region: 'us-east-1' };

/** An error as the SDK throws it: its name is the service's error code. */
function sdkError(name: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { name }, extra);
}

describe('explainError: one line that says what to do', () => {
  it.each([
    [
      'credentials AWS refuses',
      sdkError('InvalidClientTokenId', 'The security token included in the request is invalid.'),
      'AWS refused your credentials (InvalidClientTokenId): check AWS_PROFILE',
    ],
    [
      'expired credentials',
      sdkError('ExpiredTokenException', 'The security token included in the request is expired'),
      'Your AWS credentials have expired (ExpiredTokenException): sign in again',
    ],
    [
      'no credentials at all',
      sdkError('CredentialsProviderError', 'Could not load credentials from any providers'),
      'No AWS credentials: set AWS_PROFILE',
    ],
    [
      'access denied, with what AWS says',
      sdkError(
        'AccessDeniedException',
        'User: arn:aws:sts::111122223333:assumed-role/dev/me is not authorized to perform: dynamodb:Query',
      ),
      'User: arn:aws:sts::111122223333:assumed-role/dev/me is not authorized to perform: dynamodb:Query. Use credentials allowed',
    ],
    [
      'a table that is not there',
      sdkError('ResourceNotFoundException', 'Requested resource not found'),
      'Lease table eks-access-broker-prod-leases not found in region eu-west-1: pass --stage STAGE or --table NAME, in the region the stage is deployed to (AWS_REGION).',
    ],
    [
      'a bus that is not there',
      sdkError('ResourceNotFoundException', 'Event bus eks-access-broker-prod-bus does not exist.'),
      'Event bus eks-access-broker-prod-bus not found in region eu-west-1: pass --stage STAGE or --bus NAME.',
    ],
    [
      'AWS out of reach',
      sdkError('Error', 'getaddrinfo ENOTFOUND dynamodb.eu-west-1.amazonaws.com', { code: 'ENOTFOUND' }),
      'Cannot reach AWS in region eu-west-1 (ENOTFOUND): check your network or proxy',
    ],
    ['no region', new Error('Region is missing'), 'No AWS region: export AWS_REGION and AWS_DEFAULT_REGION'],
    [
      'a region that is none',
      new Error('Region not accepted: region="us east 1" is not a valid hostname component.'),
      '"us east 1" is not an AWS region: export AWS_REGION and AWS_DEFAULT_REGION as one, e.g. us-east-1.',
    ],
    [
      'an access rules file that cannot be read',
      new ConfigurationError('cannot read access rules file nope.yaml: ENOENT: no such file or directory'),
      'cannot read access rules file nope.yaml: ENOENT: no such file or directory: pass --rules FILE, the access rules the stage was deployed with.',
    ],
    [
      // The lease table's adapter wraps what the SDK threw: the cause decides.
      'throttling, wrapped by an adapter',
      new RetryableError('ListLive: DynamoDB is throttling or unavailable (ThrottlingException)', {
        cause: sdkError('ThrottlingException', 'Rate exceeded'),
      }),
      'AWS is throttling or unavailable (ThrottlingException): try again in a moment.',
    ],
  ])('%s', (_case, error, expected) => {
    const explained = explainError(error, AWS);

    expect(explained).toBeInstanceOf(CliError);
    expect(explained?.message).toContain(expected);
    expect(explained?.message).not.toContain('\n');
    expect(explained?.exitCode).toBe(EXIT_CODES.error);
    expect(explained?.cause).toBe(error);
  });

  it('points at npm start and its keys when the local broker is the target', () => {
    const refused = explainError(sdkError('UnrecognizedClientException', 'invalid token'), LOCAL);
    const down = explainError(
      sdkError('Error', 'connect ECONNREFUSED 127.0.0.1:4566', { code: 'ECONNREFUSED' }),
      LOCAL,
    );
    const noKeys = explainError(sdkError('CredentialsProviderError', 'Could not load credentials'), LOCAL);

    expect(refused?.message).toContain('AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test');
    expect(down?.message).toBe(
      'Nothing answers at http://127.0.0.1:4566 (ECONNREFUSED): start the local broker with `npm start`, or fix AWS_ENDPOINT_URL.',
    );
    expect(noKeys?.message).toContain('export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test');
  });

  it('leaves what it does not know to runCli, which still prints one line', () => {
    const unknown = sdkError('SomethingNewException', 'first line\n    at somewhere (file.ts:1:1)');

    expect(explainError(unknown, AWS)).toBeUndefined();
    expect(errorLine(unknown)).toBe(
      'SomethingNewException: first line (unexpected: EKS_ACCESS_BROKER_DEBUG=1 prints the whole error; please report it)',
    );
    expect(errorLine(new CliError('Missing --reason.'))).toBe('Missing --reason.');
  });
});

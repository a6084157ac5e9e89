import { describe, expect, it } from 'vitest';
import { readAccessEntryChange } from '../../functions/core/access-change';
import { sampleEvent } from '../support/fixtures';

const DEVELOPER = 'arn:aws:iam::111122223333:role/developer';

/** A sample CloudTrail event (events/cloudtrail/) with some detail fields replaced. */
function withTrail(file: string, changes: Record<string, unknown>) {
  const event = sampleEvent(`cloudtrail/${file}`);
  return { ...event, detail: { ...event.detail, ...changes } };
}

describe('readAccessEntryChange', () => {
  it('reads the subject, the call and who made it; a path label comes percent-encoded', () => {
    // Arrange
    const event = sampleEvent('cloudtrail/delete-access-entry.json');

    // Act
    const reading = readAccessEntryChange(event);

    // Assert
    expect(reading).toEqual({
      change: {
        clusterName: 'demo',
        principalArn: DEVELOPER,
        eventName: 'DeleteAccessEntry',
        changedBy: 'arn:aws:sts::111122223333:assumed-role/dev-bob/bob',
        region: 'us-east-1',
        accountId: '111122223333',
        eventId: 'c2a1f0e4-5b6c-4d7e-8f90-a1b2c3d4e5f6',
        eventTime: '2026-06-01T09:30:11Z',
      },
    });
  });

  it('reads a principal sent in the body as it is, and a user as the one who changed it', () => {
    // Act
    const created = readAccessEntryChange(sampleEvent('cloudtrail/create-access-entry.json'));
    const associated = readAccessEntryChange(sampleEvent('cloudtrail/associate-access-policy.json'));

    // Assert
    expect(created).toMatchObject({ change: { principalArn: DEVELOPER, eventName: 'CreateAccessEntry' } });
    expect(associated).toMatchObject({
      change: { principalArn: DEVELOPER, changedBy: 'arn:aws:iam::111122223333:user/admin' },
    });
  });

  it('falls back on the answer for the principal, and on the envelope for the region and account', () => {
    // Arrange
    const event = withTrail('create-access-entry.json', {
      requestParameters: { name: 'demo' },
      awsRegion: undefined,
      recipientAccountId: undefined,
    });

    // Act
    const reading = readAccessEntryChange(event);

    // Assert
    expect(reading).toMatchObject({
      change: { principalArn: DEVELOPER, region: 'us-east-1', accountId: '111122223333' },
    });
  });

  it.each([
    ['a failed call', withTrail('delete-access-entry.json', { errorCode: 'ResourceNotFoundException' })],
    ['a call that changes no entry', withTrail('delete-access-entry.json', { eventName: 'TagResource' })],
    ['another service', withTrail('delete-access-entry.json', { eventSource: 'iam.amazonaws.com' })],
    ['no principal', withTrail('delete-access-entry.json', { requestParameters: { name: 'demo' } })],
    [
      'a principal that is no ARN',
      withTrail('delete-access-entry.json', {
        requestParameters: { name: 'demo', principalArn: '%E0%A4%A' },
      }),
    ],
    ['another detail-type', { ...sampleEvent('cloudtrail/delete-access-entry.json'), 'detail-type': 'x' }],
  ])('ignores %s', (_case, event) => {
    expect(readAccessEntryChange(event)).toEqual({ ignored: expect.any(String) });
  });
});

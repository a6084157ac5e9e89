import {
  EventBridgeClient,
  InternalException,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { caught } from '../support/aws';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { OutcomePublisher } from '../../functions/adapters/outcome-publisher';
import { PermanentError, RetryableError } from '../../functions/core/errors';
import { OUTCOME_SOURCE } from '../../functions/core/names';
import type { Outcome } from '../../functions/core/outcomes';

const BUS = 'broker-bus';
const OUTCOME: Outcome = { detailType: 'Access Revoked', detail: { requestId: 'req-1' } };

const eventBridgeMock = mockClient(EventBridgeClient);
const publisher = new OutcomePublisher({
  client: new EventBridgeClient({ region: 'us-east-1' }),
  eventBusName: BUS,
});

afterEach(() => {
  eventBridgeMock.reset();
});

describe('OutcomePublisher with a mocked EventBridge', () => {
  it('puts the outcomes on the bus ten at a time, as the broker', async () => {
    // Arrange
    eventBridgeMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
    const outcomes = Array.from({ length: 11 }, () => OUTCOME);
    const entry: PutEventsRequestEntry = {
      EventBusName: BUS,
      Source: OUTCOME_SOURCE,
      DetailType: 'Access Revoked',
      Detail: '{"requestId":"req-1"}',
    };

    // Act
    await publisher.publish(outcomes);

    // Assert
    expect(eventBridgeMock).toHaveReceivedCommandTimes(PutEventsCommand, 2);
    expect(eventBridgeMock).toHaveReceivedNthCommandWith(PutEventsCommand, 1, {
      Entries: Array.from({ length: 10 }, () => entry),
    });
    expect(eventBridgeMock).toHaveReceivedNthCommandWith(PutEventsCommand, 2, { Entries: [entry] });
  });

  it('throws an entry EventBridge refused as a RetryableError, so the outcome is never lost', async () => {
    // Arrange
    eventBridgeMock.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }],
    });

    // Act
    const error = await caught(() => publisher.publish([OUTCOME]));

    // Assert
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toBe(
      'EventBridge refused 1 outcome event(s): InternalFailure: try again',
    );
  });

  it.each([
    ['a 5xx', new InternalException({ message: 'oops', $metadata: { httpStatusCode: 500 } })],
    [
      'throttling',
      Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      }),
    ],
    ['a network failure', Object.assign(new Error('getaddrinfo ENOTFOUND events'), { code: 'ENOTFOUND' })],
  ])('turns %s into a RetryableError that keeps the cause', async (_, failure) => {
    // Arrange
    eventBridgeMock.on(PutEventsCommand).rejects(failure);

    // Act
    const error = await caught(() => publisher.publish([OUTCOME]));

    // Assert
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toBe(`Could not publish outcome events: ${failure.message}`);
    expect((error as Error).cause).toBe(failure);
  });

  it.each([
    ['a validation error', 'ValidationException', 400],
    ['access denied', 'AccessDeniedException', 403],
  ])('turns %s into a PermanentError that keeps the cause', async (_, name, status) => {
    // Arrange
    const failure = Object.assign(new Error('refused'), { name, $metadata: { httpStatusCode: status } });
    eventBridgeMock.on(PutEventsCommand).rejects(failure);

    // Act
    const error = await caught(() => publisher.publish([OUTCOME]));

    // Assert
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toBe(`Could not publish outcome events: ${name}: refused`);
    expect((error as Error).cause).toBe(failure);
  });
});

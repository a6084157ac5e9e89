import { DescribeAccessEntryCommand, EKSClient, ThrottlingException } from '@aws-sdk/client-eks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isThrottle } from '../../functions/adapters/aws-errors';
import { AdaptivePacer, pace } from '../../functions/adapters/eks-pacing';
import { type Edge, startEdge } from '../../infra/local/edge';
import { LOCAL_CREDENTIALS } from '../support/aws';

/** A pacer on a fake clock whose sleeps advance the clock and are recorded. */
function fakePacer(options: { decrease?: number; increasePerSecond?: number } = {}) {
  const clock = { ms: 1_000_000 };
  const sleeps: number[] = [];
  const pacer = new AdaptivePacer({
    ...options,
    now: () => clock.ms,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  // The pacer has been answering for a while: its rates are measured over full seconds.
  pacer.onAnswer();
  clock.ms += 5_000;
  /** `count` answers spread evenly over the last second. */
  const answers = (count: number) => {
    for (let i = 0; i < count; i++) {
      clock.ms += 1000 / count;
      pacer.onAnswer();
    }
  };
  return { pacer, clock, sleeps, answers };
}

describe('AdaptivePacer', () => {
  it('lets every call through at once until EKS throttles', async () => {
    // Arrange
    const { pacer, sleeps, answers } = fakePacer();
    answers(100);

    // Act
    await Promise.all(Array.from({ length: 50 }, () => pacer.acquire()));

    // Assert
    expect(pacer.rate()).toBeUndefined();
    expect(sleeps).toEqual([]);
  });

  it('after a throttle, hands out one slot every 1/rate at a little under the rate that got through', async () => {
    // Arrange
    const { pacer, sleeps, answers } = fakePacer();
    answers(40);

    // Act
    pacer.onThrottle();
    await pacer.acquire();
    await pacer.acquire();
    await pacer.acquire();

    // Assert
    expect(pacer.rate()).toBeCloseTo(36);
    expect(sleeps.map(Math.round)).toEqual([28, 56]);
  });

  it('makes one decrease of the throttles of one moment, and the next after the cooldown', () => {
    // Arrange
    const { pacer, clock, answers } = fakePacer({ increasePerSecond: 0.000001 });
    answers(40);

    // Act
    pacer.onThrottle();
    pacer.onThrottle();
    clock.ms += 500;
    pacer.onThrottle();
    const afterBurst = pacer.rate();
    answers(36);
    pacer.onThrottle();

    // Assert
    expect(afterBurst).toBeCloseTo(36);
    expect(pacer.rate()).toBeCloseTo(32.4);
  });

  it('grows back linearly while EKS does not throttle', () => {
    // Arrange
    const { pacer, clock, answers } = fakePacer();
    answers(40);
    pacer.onThrottle();

    // Act
    clock.ms += 2_000;

    // Assert
    expect(pacer.rate()).toBeCloseTo(36 * 1.1);
  });

  it('measures what got through over less than a second when EKS throttles in the first second', () => {
    // Arrange
    const clock = { ms: 0 };
    const pacer = new AdaptivePacer({ now: () => clock.ms });
    for (let i = 0; i < 5; i++) {
      pacer.onAnswer();
      clock.ms += 40;
    }

    // Act
    pacer.onThrottle();

    // Assert: 5 answers in 200 ms, 25 calls/s; a little under that.
    expect(pacer.rate()).toBeCloseTo(22.5);
  });

  it('recognises EKS throttling by its name or its 429', () => {
    expect(isThrottle(new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }))).toBe(true);
    expect(isThrottle(Object.assign(new Error('slow down'), { $metadata: { httpStatusCode: 429 } }))).toBe(
      true,
    );
    expect(isThrottle(Object.assign(new Error('nope'), { name: 'ResourceNotFoundException' }))).toBe(false);
    expect(isThrottle('ThrottlingException')).toBe(false);
  });
});

describe('pace', () => {
  let edge: Edge;

  beforeAll(async () => {
    edge = await startEdge({
      port: 0,
      dynamodb: false,
      eks: { faults: { rateLimit: { ratePerSecond: 20, burst: 5 }, operations: ['DescribeAccessEntry'] } },
    });
  });

  afterAll(async () => {
    await edge.close();
  });

  it('keeps concurrent callers of one client under EKS rate limit, every throttle absorbed by a retry', async () => {
    // Arrange
    const pacer = new AdaptivePacer();
    const client = pace(
      new EKSClient({
        endpoint: edge.url,
        region: 'us-east-1',
        credentials: LOCAL_CREDENTIALS,
        maxAttempts: 5,
      }),
      pacer,
    );
    const describe = () =>
      client
        .send(
          new DescribeAccessEntryCommand({
            clusterName: 'demo',
            principalArn: 'arn:aws:iam::111122223333:role/nobody',
          }),
        )
        .then(
          () => 'found',
          (error: Error) => error.name,
        );

    // Act: 10 callers, 6 calls each, back to back.
    const answers = (
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const mine: string[] = [];
          for (let i = 0; i < 6; i++) mine.push(await describe());
          return mine;
        }),
      )
    ).flat();

    // Assert: every call got EKS's own answer (the principal has no entry), none a throttle.
    // The limit was hit, the pacer learned a rate from it near the limit (20/s); how many throttles pacing
    // spares at scale is shown by `npm run bench` (benchmark 3), not by a count that depends on the machine.
    expect(answers).toEqual(Array(60).fill('ResourceNotFoundException'));
    expect(edge.eks.faults.counts.throttled).toBeGreaterThan(0);
    expect(pacer.rate()).toBeDefined();
    expect(pacer.rate()).toBeLessThan(25);
  });
});

import { describe, expect, it } from 'vitest';
import { CallBudget, type Timer } from '../../functions/app/call-budget';

/** Time that moves only by the waits asked of it, or when a test moves it. */
function steppedTimer(start = 0): Timer & { waits: number[]; advance(ms: number): void } {
  let ms = start;
  const waits: number[] = [];
  return {
    waits,
    now: () => ms,
    sleep: async (wait) => {
      waits.push(wait);
      ms += wait;
    },
    advance: (by) => {
      ms += by;
    },
  };
}

describe('CallBudget', () => {
  it('spreads its calls evenly up to the deadline, then takes no more', async () => {
    // Arrange: 4 calls over 2 s.
    const timer = steppedTimer();
    const budget = new CallBudget({ calls: 4, deadline: 2_000, timer });

    // Act
    const taken = [];
    for (let call = 0; call < 5; call++) taken.push(await budget.take());

    // Assert
    expect(taken).toEqual([true, true, true, true, false]);
    expect(timer.waits).toEqual([500, 500, 500]);
    expect(budget.used).toBe(4);
    expect(budget.spent()).toBe(true);
  });

  it('takes several calls at once only when the run has that many left', async () => {
    // Arrange
    const timer = steppedTimer();
    const budget = new CallBudget({ calls: 5, deadline: 5_000, timer });

    // Act
    const first = await budget.take(4);
    const second = await budget.take(2);
    const third = await budget.take(1);

    // Assert
    expect([first, second, third]).toEqual([true, false, true]);
    expect(timer.waits).toEqual([4_000]);
  });

  it('refuses a call whose slot would come after the deadline, and never waits past it', async () => {
    // Arrange: one call taken, then the run's time runs out.
    const timer = steppedTimer();
    const budget = new CallBudget({ calls: 2, deadline: 2_000, timer });
    await budget.take();
    timer.advance(2_500);

    // Act
    const late = await budget.take();

    // Assert
    expect(late).toBe(false);
    expect(budget.used).toBe(1);
  });

  it('never waits without a limit', async () => {
    // Arrange
    const timer = steppedTimer();
    const budget = new CallBudget({
      calls: Number.POSITIVE_INFINITY,
      deadline: Number.POSITIVE_INFINITY,
      timer,
    });

    // Act
    for (let call = 0; call < 100; call++) await budget.take();

    // Assert
    expect(timer.waits).toEqual([]);
    expect(budget.spent()).toBe(false);
  });
});

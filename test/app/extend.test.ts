import { describe, expect, it } from 'vitest';
import { appDeps, START_MS } from '../support/fakes/app-deps';
import { auditTypes, extendEvent, grantEvent, requestIdOf, SAMPLE_SECONDS, send } from './scenario';

const START = START_MS / 1000;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

describe('extend', () => {
  it('moves the expiry within the rule cap and publishes Access Extended', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();
    const requestId = requestIdOf(event);
    await send(world, event);
    world.clock.advance(3_000);

    // Act
    const result = await send(world, extendEvent(requestId, 3_600));

    // Assert
    expect(result.status).toBe('extended');
    const lease = await world.table.findLease(requestId);
    expect(lease).toMatchObject({
      status: 'active',
      expiresAt: START + SAMPLE_SECONDS + 3_600,
      durationSeconds: SAMPLE_SECONDS + 3_600,
      version: 3,
    });
    expect(lease?.extensions).toHaveLength(1);
    expect(world.outcomes.published[1]).toEqual({
      detailType: 'Access Extended',
      detail: expect.objectContaining({
        requestId,
        previousExpiresAt: iso(START + SAMPLE_SECONDS),
        expiresAt: iso(START + SAMPLE_SECONDS + 3_600),
      }),
    });
    expect(auditTypes(world, requestId)).toEqual(['requested', 'granted', 'extended']);
    expect(world.emulator.mutations()).toHaveLength(2);
    expect(world.metrics.total('AccessExtended')).toBe(1);
  });

  it('applies a repeated extend delivery once', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();
    await send(world, event);
    const extension = extendEvent(requestIdOf(event), 3_600);
    await send(world, extension);

    // Act
    const result = await send(world, { ...extension, id: crypto.randomUUID() });

    // Assert
    expect(result.status).toBe('duplicate');
    expect((await world.table.findLease(requestIdOf(event)))?.expiresAt).toBe(START + SAMPLE_SECONDS + 3_600);
    expect(world.outcomes.types().map(([type]) => type)).toEqual(['Access Granted', 'Access Extended']);
    expect(world.metrics.total('DuplicateRequests')).toBe(1);
  });

  it('rejects an extension past the rule cap counted from the grant, and keeps the expiry', async () => {
    // Arrange: 4 h granted under an 8 h cap; 4 h more reaches the cap exactly, one second more passes it.
    const world = appDeps();
    const event = grantEvent();
    const requestId = requestIdOf(event);
    await send(world, event);

    // Act
    const past = await send(world, extendEvent(requestId, 28_800 - SAMPLE_SECONDS + 1));
    const atCap = await send(world, extendEvent(requestId, 28_800 - SAMPLE_SECONDS));

    // Assert
    expect(past).toMatchObject({
      status: 'rejected',
      rejection: { code: 'EXTENSION_CAP_EXCEEDED', field: 'detail.durationSeconds' },
    });
    expect(atCap.status).toBe('extended');
    expect((await world.table.findLease(requestId))?.expiresAt).toBe(START + 28_800);
    expect(world.outcomes.published.map((o) => [o.detailType, o.detail.code])).toEqual([
      ['Access Granted', undefined],
      ['Access Grant Rejected', 'EXTENSION_CAP_EXCEEDED'],
      ['Access Extended', undefined],
    ]);
  });

  it('rejects extending an unknown request, and one that has already expired', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 600 });
    await send(world, event);
    world.clock.advance(601);

    // Act
    const unknown = await send(world, extendEvent('JIRA-OPS-404:grant', 600));
    const expired = await send(world, extendEvent(requestIdOf(event), 600));

    // Assert
    expect(unknown).toMatchObject({ status: 'rejected', rejection: { code: 'UNKNOWN_REQUEST' } });
    expect(expired).toMatchObject({ status: 'rejected', rejection: { code: 'LEASE_NOT_ACTIVE' } });
    expect((await world.table.findLease(requestIdOf(event)))?.expiresAt).toBe(START + 600);
  });

  it('arms a new timer for the new expiry of a lease within the timer window', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 300 });
    const requestId = requestIdOf(event);
    await send(world, event);

    // Act
    await send(world, extendEvent(requestId, 300));

    // Assert
    expect(world.timers.armed).toEqual([
      { timer: { requestId, expiresAt: START + 300 }, delaySeconds: 299 },
      { timer: { requestId, expiresAt: START + 600 }, delaySeconds: 599 },
    ]);
  });
});

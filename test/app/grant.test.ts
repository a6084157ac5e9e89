import { describe, expect, it } from 'vitest';
import { EksRequestError } from '../../functions/adapters/eks-access';
import { takeRequest } from '../../functions/app/intake';
import type { AccessApi } from '../../functions/app/ports';
import { OWNER_TAG_KEY } from '../../functions/core/model';
import { appDeps, START_MS } from '../support/fakes/app-deps';
import { freshRequestId, withDetail } from '../support/fixtures';
import {
  ADMIN,
  ALICE_SESSION,
  accessOf,
  appliedMutations,
  auditTypes,
  DEVELOPER,
  EDIT,
  entryOf,
  grantEvent,
  namespaces,
  ONCALL,
  proven,
  requestIdOf,
  revokeEvent,
  SAMPLE_SECONDS,
  seedEntry,
  send,
  VIEW,
} from './scenario';

const START = START_MS / 1000;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/** alice, on call, asks break-glass cluster admin for herself for 10 minutes. */
function breakGlassAdmin() {
  return grantEvent({
    principalArn: ONCALL,
    policyArn: 'AmazonEKSClusterAdminPolicy',
    accessScope: { type: 'cluster' },
    breakGlass: true,
    durationSeconds: 600,
    reason: 'SEV1: payments API down, rolling back by hand',
  });
}

describe('grant', () => {
  it('creates a tagged entry and the requested association with 2 EKS calls, no read first, and publishes Access Granted', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();
    const requestId = requestIdOf(event);

    // Act
    const result = await send(world, event);

    // Assert
    expect(result.status).toBe('granted');
    expect(entryOf(world, DEVELOPER)?.tags).toEqual({ [OWNER_TAG_KEY]: 'true' });
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    expect(world.emulator.totalCalls()).toBe(2);
    expect(appliedMutations(world)).toEqual(['CreateAccessEntry', 'AssociateAccessPolicy']);
    expect(world.outcomes.published).toEqual([
      {
        detailType: 'Access Granted',
        detail: expect.objectContaining({
          requestId,
          principalArn: DEVELOPER,
          policyArn: EDIT,
          effectiveScope: namespaces('team-a', 'team-b'),
          grantedAt: iso(START),
          expiresAt: iso(START + SAMPLE_SECONDS),
          durationSeconds: SAMPLE_SECONDS,
        }),
      },
    ]);
    expect(await world.table.findLease(requestId)).toMatchObject({
      status: 'active',
      ruleId: 'developers-view-edit',
      maxDurationSeconds: 28_800,
      grantedAt: START,
      expiresAt: START + SAMPLE_SECONDS,
      version: 2,
    });
    expect(auditTypes(world, requestId)).toEqual(['requested', 'granted']);
    expect(world.table.lockOf({ clusterName: 'demo', principalArn: DEVELOPER })).toBeUndefined();
    expect(world.timers.armed).toEqual([]);
    expect(world.metrics.total('AccessGranted')).toBe(1);
  });

  it('makes 4 lease-table requests on a fresh grant: the lease with the lock, one read, the state ahead, the last save', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();

    // Act
    const result = await send(world, event);

    // Assert: withLock ran on the lock createLease took (a `lock` would be the request taking it). The state is
    // written on its own, just before the create: recorded with the lease instead, it outlived a grant that
    // failed before its plan, and a later reconcile took another stage's entry (tagged alike) as its own (the
    // simulator, seed 114199343 run 1235).
    expect(result.status).toBe('granted');
    expect(Object.fromEntries(world.table.calls)).toEqual({
      createLease: 1,
      withLock: 1,
      readSubject: 1,
      saveSubjectState: 1,
      saveLease: 1,
    });
    expect(world.table.stateOf({ clusterName: 'demo', principalArn: DEVELOPER })).toEqual({
      entryOwned: true,
      touched: { [EDIT]: null },
    });
  });

  it('grants a subject afresh once its last lease ended: the broker holds nothing of it again, 2 EKS calls', async () => {
    // Arrange: a grant, revoked: the entry the broker created is gone, and its state holds nothing.
    const world = appDeps();
    const first = grantEvent();
    await send(world, first);
    await send(world, revokeEvent(requestIdOf(first)));
    world.table.calls.clear();
    const calls = world.emulator.totalCalls();

    // Act
    const again = await send(world, grantEvent());

    // Assert
    expect(again.status).toBe('granted');
    expect(world.emulator.totalCalls() - calls).toBe(2);
    expect(appliedMutations(world).slice(-2)).toEqual(['CreateAccessEntry', 'AssociateAccessPolicy']);
  });

  it('finishes a grant that died between its create and its association: the redelivery takes the entry as its own, and the revoke deletes it', async () => {
    // Arrange: EKS takes the entry, then the invocation dies (the association answers 500 every time).
    const world = appDeps();
    const event = grantEvent();
    world.emulator.faults.configure({ serverErrorRate: 1, operations: ['AssociateAccessPolicy'] });
    const died = await send(world, event).catch((error: unknown) => error);
    const afterDeath = world.table.stateOf({ clusterName: 'demo', principalArn: DEVELOPER });
    world.emulator.faults.configure({});

    // Act
    const redelivered = await send(world, event);
    const during = accessOf(world, DEVELOPER);
    await send(world, revokeEvent(requestIdOf(event)));

    // Assert
    expect(died).toMatchObject({ name: 'RetryableError' });
    expect(afterDeath).toEqual({ entryOwned: true, touched: { [EDIT]: null } });
    expect(redelivered.status).toBe('granted');
    expect(during).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    expect(entryOf(world, DEVELOPER)).toBeUndefined();
    expect(appliedMutations(world)).toEqual([
      'CreateAccessEntry',
      'AssociateAccessPolicy',
      'DeleteAccessEntry',
    ]);
    expect(world.outcomes.types().map(([type]) => type)).toEqual(['Access Granted', 'Access Revoked']);
  });

  it('changes nothing on a duplicate delivery: no EKS call, no second outcome', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();
    await send(world, event);
    const callsBefore = world.emulator.totalCalls();

    // Act
    const result = await send(world, { ...event, id: crypto.randomUUID() });

    // Assert
    expect(result.status).toBe('duplicate');
    expect(world.emulator.totalCalls()).toBe(callsBefore);
    expect(world.outcomes.types()).toEqual([['Access Granted', requestIdOf(event)]]);
    expect(auditTypes(world, requestIdOf(event))).toEqual(['requested', 'granted']);
    expect(world.table.calls.get('saveLease')).toBe(1);
  });

  it('rejects the same requestId with other content as IDEMPOTENCY_CONFLICT, and changes nothing', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();
    await send(world, event);
    const callsBefore = world.emulator.totalCalls();

    // Act
    const result = await send(world, grantEvent({ requestId: requestIdOf(event), durationSeconds: 60 }));

    // Assert
    expect(result).toMatchObject({ status: 'rejected', rejection: { code: 'IDEMPOTENCY_CONFLICT' } });
    expect(world.emulator.totalCalls()).toBe(callsBefore);
    expect(world.outcomes.published.map((o) => [o.detailType, o.detail.code])).toEqual([
      ['Access Granted', undefined],
      ['Access Grant Rejected', 'IDEMPOTENCY_CONFLICT'],
    ]);
    expect((await world.table.findLease(requestIdOf(event)))?.durationSeconds).toBe(SAMPLE_SECONDS);
  });

  it('rejects what no rule allows with the rule reason, recording nothing and calling no EKS API', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent({
      principalArn: ONCALL,
      policyArn: 'AmazonEKSClusterAdminPolicy',
      accessScope: { type: 'cluster' },
    });

    // Act
    const result = await send(world, event);

    // Assert
    // Cluster admin is not in the ticketing integration's ceiling: no rule it may use allows it.
    expect(result).toMatchObject({ status: 'rejected', rejection: { code: 'NOT_ALLOWED' } });
    expect(world.outcomes.published).toEqual([
      {
        detailType: 'Access Grant Rejected',
        detail: expect.objectContaining({
          requestId: requestIdOf(event),
          requestType: 'Access Grant Requested',
          code: 'NOT_ALLOWED',
          policyArn: ADMIN,
          origin: {
            integration: 'ticketing',
            sender: '111122223333:com.example.ticketing',
            requestedByProof: 'asserted',
          },
        }),
      },
    ]);
    expect(await world.table.findLease(requestIdOf(event))).toBeUndefined();
    expect(world.emulator.totalCalls()).toBe(0);
    expect(world.metrics.total('RequestRejected')).toBe(1);
  });

  it('grants break-glass admin with its own event, a WARN log and a timer for a lease within the window', async () => {
    // Arrange
    const world = appDeps();
    // Through the on-call integration, by alice herself, proven (break-glass rules require proof and self).
    const event = proven(world, breakGlassAdmin());
    const requestId = requestIdOf(event);

    // Act
    const result = await send(world, event);

    // Assert
    expect(result.status).toBe('granted');
    expect(accessOf(world, ONCALL)).toEqual([[ADMIN, { type: 'cluster' }]]);
    expect(world.outcomes.types()).toEqual([
      ['Access Granted', requestId],
      ['Break Glass Access Granted', requestId],
    ]);
    // Armed to arrive a second early: the timer function waits for the instant of expiry.
    expect(world.timers.armed).toEqual([{ timer: { requestId, expiresAt: START + 600 }, delaySeconds: 599 }]);
    expect(world.log.messages('warn')).toEqual(['break-glass grant requested', 'access granted']);
    expect(world.metrics.total('BreakGlassGranted')).toBe(1);
    expect((await world.table.findLease(requestId))?.origin).toEqual({
      integration: 'oncall',
      sender: '111122223333:com.example.oncall',
      requestedByProof: 'proven',
      provenBy: ALICE_SESSION,
    });
  });

  it('finishes a proven grant delivered again after its proof expired, with no second outcome; the proof serves no other request', async () => {
    // Arrange
    const world = appDeps();
    const event = proven(world, breakGlassAdmin());
    const first = await send(world, event);
    world.clock.advance(120);
    const replayed = withDetail(event, { requestId: freshRequestId('REPLAY') });

    // Act
    const again = await send(world, event);
    const other = await send(world, replayed);

    // Assert
    expect(first.status).toBe('granted');
    expect(again.status).toBe('duplicate');
    expect(other).toMatchObject({ status: 'rejected', rejection: { code: 'PROOF_WRONG_BODY' } });
    expect(world.outcomes.types()).toEqual([
      ['Access Granted', requestIdOf(event)],
      ['Break Glass Access Granted', requestIdOf(event)],
      ['Access Grant Rejected', requestIdOf(replayed)],
    ]);
  });

  it('merges two overlapping namespaced leases into one scope, then narrows it to the one left', async () => {
    // Arrange
    const world = appDeps();
    const first = grantEvent({ accessScope: namespaces('team-a') });
    const second = grantEvent({ accessScope: namespaces('team-b') });
    await send(world, first);

    // Act
    const merged = await send(world, second);
    const afterMerge = accessOf(world, DEVELOPER);
    await send(world, revokeEvent(requestIdOf(first)));

    // Assert
    expect(merged.status).toBe('granted');
    expect(afterMerge).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-b')]]);
    expect(world.outcomes.published[1]?.detail).toMatchObject({
      requestId: requestIdOf(second),
      accessScope: namespaces('team-b'),
      effectiveScope: namespaces('team-a', 'team-b'),
    });
    expect(appliedMutations(world)).toEqual([
      'CreateAccessEntry',
      'AssociateAccessPolicy',
      'AssociateAccessPolicy',
      'AssociateAccessPolicy',
    ]);
    expect(world.outcomes.types().map(([type]) => type)).toEqual([
      'Access Granted',
      'Access Granted',
      'Access Revoked',
    ]);
  });

  it('keeps a pre-existing entry and restores its baseline exactly when the lease ends', async () => {
    // Arrange
    const world = appDeps();
    seedEntry(world, DEVELOPER, [{ policyArn: VIEW, accessScope: namespaces('ops') }]);
    const seeded = world.emulator.mutations().length;
    const event = grantEvent({ policyArn: 'AmazonEKSViewPolicy', accessScope: namespaces('team-a') });

    // Act
    const granted = await send(world, event);
    const during = accessOf(world, DEVELOPER);
    await send(world, revokeEvent(requestIdOf(event)));

    // Assert
    expect(granted).toMatchObject({ status: 'granted' });
    expect(during).toEqual([[VIEW, namespaces('ops', 'team-a')]]);
    expect(accessOf(world, DEVELOPER)).toEqual([[VIEW, namespaces('ops')]]);
    expect(entryOf(world, DEVELOPER)?.tags).toEqual({ team: 'platform' });
    expect(appliedMutations(world, seeded)).toEqual(['AssociateAccessPolicy', 'AssociateAccessPolicy']);
    expect(world.table.stateOf({ clusterName: 'demo', principalArn: DEVELOPER })).toEqual({
      entryOwned: false,
      touched: {},
    });
  });

  it('reads an entry only once its create is refused (ResourceInUse), and never adopts it, tagged or not', async () => {
    // Arrange: an entry the broker holds no state of, tagged as the broker tags its own (another stage's).
    const world = appDeps();
    world.emulator.createAccessEntry({
      clusterName: 'demo',
      principalArn: DEVELOPER,
      tags: { [OWNER_TAG_KEY]: 'true' },
    });
    world.emulator.associateAccessPolicy({
      clusterName: 'demo',
      principalArn: DEVELOPER,
      policyArn: VIEW,
      accessScope: { type: 'namespace', namespaces: ['ops'] },
    });
    const seeded = world.emulator.mutations().length;
    const event = grantEvent({ policyArn: 'AmazonEKSViewPolicy', accessScope: namespaces('team-a') });

    // Act
    const granted = await send(world, event);
    const during = accessOf(world, DEVELOPER);
    const state = world.table.stateOf({ clusterName: 'demo', principalArn: DEVELOPER });
    await send(world, revokeEvent(requestIdOf(event)));

    // Assert
    expect(granted.status).toBe('granted');
    expect(world.emulator.mutations().slice(seeded)[0]).toMatchObject({
      operation: 'CreateAccessEntry',
      outcome: 'ResourceInUseException',
    });
    expect(during).toEqual([[VIEW, namespaces('ops', 'team-a')]]);
    expect(state).toEqual({ entryOwned: false, touched: { [VIEW]: namespaces('ops') } });
    expect(accessOf(world, DEVELOPER)).toEqual([[VIEW, namespaces('ops')]]);
    expect(appliedMutations(world, seeded)).toEqual(['AssociateAccessPolicy', 'AssociateAccessPolicy']);
  });

  it('grants a second lease with 2 EKS calls: the associations read alone, then the scope widened', async () => {
    // Arrange
    const world = appDeps();
    await send(world, grantEvent({ accessScope: namespaces('team-a') }));
    const calls = world.emulator.callCounts();
    const total = world.emulator.totalCalls();

    // Act
    const result = await send(world, grantEvent({ accessScope: namespaces('team-b') }));

    // Assert
    expect(result.status).toBe('granted');
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    expect(world.emulator.totalCalls() - total).toBe(2);
    expect(
      world.emulator.callCounts().ListAssociatedAccessPolicies - calls.ListAssociatedAccessPolicies,
    ).toBe(1);
  });

  it('fails a grant on a node entry, changing nothing there and remembering nothing of it', async () => {
    // Arrange
    const world = appDeps();
    world.emulator.createAccessEntry({ clusterName: 'demo', principalArn: DEVELOPER, type: 'EC2_LINUX' });
    const seeded = world.emulator.mutations().length;
    const event = grantEvent();

    // Act
    const result = await send(world, event);

    // Assert
    expect(result).toMatchObject({ status: 'failed', error: expect.stringContaining('EC2_LINUX') });
    expect(appliedMutations(world, seeded)).toEqual([]);
    expect(world.outcomes.types()).toEqual([['Access Grant Failed', requestIdOf(event)]]);
    expect(world.table.stateOf({ clusterName: 'demo', principalArn: DEVELOPER })).toEqual({
      entryOwned: false,
      touched: {},
    });
  });

  it('ends a grant EKS refuses for good with Access Grant Failed, leaving nothing applied', async () => {
    // Arrange
    const world = appDeps();
    world.emulator.setPrincipalMissing(DEVELOPER);
    const event = grantEvent();
    const requestId = requestIdOf(event);

    // Act
    const result = await send(world, event);

    // Assert
    expect(result).toMatchObject({ status: 'failed', error: expect.stringContaining('CreateAccessEntry') });
    expect(entryOf(world, DEVELOPER)).toBeUndefined();
    expect(world.outcomes.published).toEqual([
      {
        detailType: 'Access Grant Failed',
        detail: expect.objectContaining({
          requestId,
          error: expect.stringContaining('InvalidParameterException'),
        }),
      },
    ]);
    expect(await world.table.findLease(requestId)).toMatchObject({ status: 'ended', endReason: 'failed' });
    expect(auditTypes(world, requestId)).toEqual(['requested', 'failing', 'failed']);
    expect(world.metrics.total('GrantFailed')).toBe(1);
  });

  it('rolls back the entry it created when EKS refuses the association for good, with Access Grant Failed', async () => {
    // Arrange: EKS takes the entry, then refuses the association (as IAM would deny eks:AssociateAccessPolicy).
    const world = appDeps();
    const refusing: AccessApi = {
      readActual: (subject) => world.deps.eks.readActual(subject),
      readAssociations: (subject) => world.deps.eks.readAssociations(subject),
      apply: async (subject, actions) => {
        const refused = actions.findIndex((action) => action.kind === 'associate');
        if (refused < 0) return world.deps.eks.apply(subject, actions);
        await world.deps.eks.apply(subject, actions.slice(0, refused));
        throw new EksRequestError('AssociateAccessPolicy', 'AccessDeniedException', 'not authorized');
      },
    };
    const event = grantEvent();
    const requestId = requestIdOf(event);

    // Act
    const result = await takeRequest({ ...world.deps, eks: refusing }, { event });

    // Assert
    expect(result).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('AccessDeniedException'),
    });
    expect(appliedMutations(world)).toEqual(['CreateAccessEntry', 'DeleteAccessEntry']);
    expect(entryOf(world, DEVELOPER)).toBeUndefined();
    expect(world.outcomes.types()).toEqual([['Access Grant Failed', requestId]]);
    expect(await world.table.findLease(requestId)).toMatchObject({ status: 'ended', endReason: 'failed' });
    expect(world.table.stateOf({ clusterName: 'demo', principalArn: DEVELOPER })).toEqual({
      entryOwned: false,
      touched: {},
    });
    expect(world.table.lockOf({ clusterName: 'demo', principalArn: DEVELOPER })).toBeUndefined();
  });

  it('gives a grant back pending while EKS keeps failing, and its redelivery finishes it beside the other lease', async () => {
    // Arrange: a lease on team-a holds EDIT; the next grant asks VIEW on team-b while Associate answers 500.
    const world = appDeps();
    await send(world, grantEvent({ accessScope: namespaces('team-a') }));
    const edit = world.emulator.mutations().length;
    const event = grantEvent({ policyArn: 'AmazonEKSViewPolicy', accessScope: namespaces('team-b') });
    world.emulator.faults.configure({ serverErrorRate: 1, operations: ['AssociateAccessPolicy'] });

    // Act: EKS keeps failing (retryable): the grant is given back, pending, and its redelivery finishes it.
    const failed = await send(world, event).catch((error: unknown) => error);
    const pending = await world.table.findLease(requestIdOf(event));
    world.emulator.faults.configure({});
    const redelivered = await send(world, event);

    // Assert
    expect(failed).toMatchObject({ name: 'RetryableError' });
    expect(pending).toMatchObject({ status: 'pending', version: 1 });
    expect(redelivered.status).toBe('granted');
    expect(accessOf(world, DEVELOPER)).toEqual([
      [EDIT, namespaces('team-a')],
      [VIEW, namespaces('team-b')],
    ]);
    expect(appliedMutations(world, edit)).toEqual(['AssociateAccessPolicy']);
    expect(world.outcomes.types().map(([type]) => type)).toEqual(['Access Granted', 'Access Granted']);
  });

  it('gives the request back (SubjectBusyError) while another invocation holds the subject, then grants on redelivery', async () => {
    // Arrange
    const world = appDeps();
    const subject = { clusterName: 'demo', principalArn: DEVELOPER };
    let free: () => void = () => undefined;
    const holding = world.table.withLock(
      subject,
      'other-invocation',
      () => START,
      () =>
        new Promise<void>((resolve) => {
          free = resolve;
        }),
    );
    const event = grantEvent();

    // Act
    const busy = await send(world, event).catch((error: unknown) => error);
    free();
    await holding;
    const redelivered = await send(world, event);

    // Assert
    expect(busy).toMatchObject({ name: 'SubjectBusyError' });
    expect(redelivered.status).toBe('granted');
    expect(world.outcomes.types()).toEqual([['Access Granted', requestIdOf(event)]]);
    expect(auditTypes(world, requestIdOf(event))).toEqual(['requested', 'granted']);
  });
});

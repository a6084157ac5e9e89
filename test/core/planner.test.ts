import { describe, expect, it } from 'vitest';
import {
  type AccessScope,
  type ActualAccess,
  type Association,
  EMPTY_SUBJECT_STATE,
  OWNER_TAG_KEY,
  OWNER_TAG_VALUE,
  type SubjectState,
} from '../../functions/core/model';
import { type Action, plan } from '../../functions/core/planner';

const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
const EDIT = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy';
const ADMIN = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy';
const OURS = { [OWNER_TAG_KEY]: OWNER_TAG_VALUE };

const ns = (...namespaces: string[]): AccessScope => ({ type: 'namespace', namespaces });
const cluster: AccessScope = { type: 'cluster' };
const want = (policyArn: string, accessScope: AccessScope): Association => ({ policyArn, accessScope });
const entry = (
  associations: Association[],
  tags: Record<string, string> = OURS,
  entryType = 'STANDARD',
): ActualAccess => ({
  entryType,
  tags,
  associations,
});

/** What EKS would hold after the actions, as the emulator behaves (replace on associate, cascade on delete). */
function applyActions(actual: ActualAccess | null, actions: readonly Action[]): ActualAccess | null {
  let state = actual;
  for (const action of actions) {
    if (action.kind === 'createEntry') state = entry([]);
    else if (!state) throw new Error(`${action.kind} on a missing entry`);
    else if (action.kind === 'deleteEntry') state = null;
    else if (action.kind === 'associate') {
      state = entry(
        [
          ...state.associations.filter((a) => a.policyArn !== action.policyArn),
          want(action.policyArn, action.accessScope),
        ],
        state.tags,
      );
    } else
      state = entry(
        state.associations.filter((a) => a.policyArn !== action.policyArn),
        state.tags,
      );
  }
  return state;
}

/** Plans and applies, returning the new EKS state and the state to remember. */
function step(state: SubjectState, wanted: Association[], actual: ActualAccess | null) {
  const result = plan({ state, wanted, actual });
  if (!result.ok) throw new Error(result.message);
  return { ...result, actual: applyActions(actual, result.actions) };
}

describe('plan: a fresh subject', () => {
  it('creates the entry then associates the scope, and records ownership before acting', () => {
    const result = plan({ state: EMPTY_SUBJECT_STATE, wanted: [want(VIEW, ns('team-a'))], actual: null });

    expect(result).toEqual({
      ok: true,
      actions: [{ kind: 'createEntry' }, { kind: 'associate', policyArn: VIEW, accessScope: ns('team-a') }],
      stateBefore: { entryOwned: true, touched: { [VIEW]: null } },
      stateAfter: { entryOwned: true, touched: { [VIEW]: null } },
      effective: { [VIEW]: ns('team-a') },
    });
  });

  it('does nothing when nothing is wanted and nothing was touched', () => {
    const result = plan({ state: EMPTY_SUBJECT_STATE, wanted: [], actual: null });

    expect(result).toMatchObject({ ok: true, actions: [], stateAfter: EMPTY_SUBJECT_STATE });
  });
});

describe('plan: overlapping leases', () => {
  it('unions two namespace leases of one policy into one scope, and narrows back when one ends', () => {
    const first = step(EMPTY_SUBJECT_STATE, [want(VIEW, ns('b'))], null);

    const both = step(first.stateAfter, [want(VIEW, ns('b')), want(VIEW, ns('a'))], first.actual);
    const oneLeft = step(both.stateAfter, [want(VIEW, ns('a'))], both.actual);

    expect(both.actions).toEqual([{ kind: 'associate', policyArn: VIEW, accessScope: ns('a', 'b') }]);
    expect(oneLeft.actions).toEqual([{ kind: 'associate', policyArn: VIEW, accessScope: ns('a') }]);
    expect(oneLeft.actual?.associations).toEqual([want(VIEW, ns('a'))]);
  });

  it('lets cluster scope absorb namespaces, and returns to the namespaces when the cluster lease ends', () => {
    const start = step(EMPTY_SUBJECT_STATE, [want(EDIT, ns('a'))], null);

    const widened = step(start.stateAfter, [want(EDIT, ns('a')), want(EDIT, cluster)], start.actual);
    const narrowed = step(widened.stateAfter, [want(EDIT, ns('a'))], widened.actual);

    expect(widened.actions).toEqual([{ kind: 'associate', policyArn: EDIT, accessScope: cluster }]);
    expect(widened.effective).toEqual({ [EDIT]: cluster });
    expect(narrowed.actions).toEqual([{ kind: 'associate', policyArn: EDIT, accessScope: ns('a') }]);
  });

  it('keeps different policies apart and removes only the one whose lease ended', () => {
    const start = step(EMPTY_SUBJECT_STATE, [want(VIEW, ns('a')), want(EDIT, cluster)], null);

    const viewOnly = step(start.stateAfter, [want(VIEW, ns('a'))], start.actual);

    expect(start.actions).toEqual([
      { kind: 'createEntry' },
      { kind: 'associate', policyArn: VIEW, accessScope: ns('a') },
      { kind: 'associate', policyArn: EDIT, accessScope: cluster },
    ]);
    expect(viewOnly.actions).toEqual([{ kind: 'disassociate', policyArn: EDIT }]);
    expect(viewOnly.stateAfter).toEqual({ entryOwned: true, touched: { [VIEW]: null } });
  });

  it('deletes the entry it created with one call when the last lease ends, remembering it until done', () => {
    const start = step(EMPTY_SUBJECT_STATE, [want(VIEW, ns('a')), want(EDIT, cluster)], null);

    const end = step(start.stateAfter, [], start.actual);

    expect(end.actions).toEqual([{ kind: 'deleteEntry' }]);
    expect(end.stateBefore).toEqual(start.stateAfter);
    expect(end.stateAfter).toEqual(EMPTY_SUBJECT_STATE);
    expect(end.actual).toBeNull();
  });

  it('sends nothing when EKS already matches the desired state', () => {
    const start = step(EMPTY_SUBJECT_STATE, [want(VIEW, ns('a', 'b'))], null);

    const again = plan({
      state: start.stateAfter,
      wanted: [want(VIEW, ns('b', 'a', 'a'))],
      actual: start.actual,
    });

    expect(again).toMatchObject({ ok: true, actions: [] });
  });
});

describe('plan: the baseline', () => {
  const preExisting = entry([want(VIEW, ns('x'))], { team: 'platform' });

  it('adds to a pre-existing association and restores it exactly when the lease ends, entry kept', () => {
    const granted = step(EMPTY_SUBJECT_STATE, [want(VIEW, ns('a'))], preExisting);

    const ended = step(granted.stateAfter, [], granted.actual);

    expect(granted.actions).toEqual([{ kind: 'associate', policyArn: VIEW, accessScope: ns('a', 'x') }]);
    expect(granted.stateBefore).toEqual({ entryOwned: false, touched: { [VIEW]: ns('x') } });
    expect(ended.actions).toEqual([{ kind: 'associate', policyArn: VIEW, accessScope: ns('x') }]);
    expect(ended.actual).toEqual(preExisting);
    expect(ended.stateAfter).toEqual(EMPTY_SUBJECT_STATE);
  });

  it('never removes a policy it did not add to a pre-existing entry', () => {
    const granted = step(EMPTY_SUBJECT_STATE, [want(EDIT, ns('a'))], preExisting);

    const ended = step(granted.stateAfter, [], granted.actual);

    expect(granted.actions).toEqual([{ kind: 'associate', policyArn: EDIT, accessScope: ns('a') }]);
    expect(ended.actions).toEqual([{ kind: 'disassociate', policyArn: EDIT }]);
    expect(ended.actual).toEqual(preExisting);
  });

  it('keeps its own entry when someone added an association to it by hand', () => {
    const granted = step(EMPTY_SUBJECT_STATE, [want(VIEW, ns('a'))], null);
    const handAdded = entry([...(granted.actual?.associations ?? []), want(ADMIN, cluster)]);

    const ended = step(granted.stateAfter, [], handAdded);

    expect(ended.actions).toEqual([{ kind: 'disassociate', policyArn: VIEW }]);
    expect(ended.actual?.associations).toEqual([want(ADMIN, cluster)]);
  });

  it('never deletes nor narrows an entry that lost its ownership tag (replaced by someone else)', () => {
    const granted = step(EMPTY_SUBJECT_STATE, [want(VIEW, ns('a'))], null);
    const replaced = entry([want(VIEW, ns('a'))], {});

    const ended = step(granted.stateAfter, [], replaced);

    // What the broker recorded was of its own entry, gone with it: the replacement's association is its owner's.
    expect(ended.actions).toEqual([]);
    expect(ended.stateAfter).toEqual(EMPTY_SUBJECT_STATE);
  });

  it('takes the baseline of an entry that was there when its create was refused, whatever it saved ahead', () => {
    // Saved ahead of a create that EKS refused (ResourceInUse), then the process died.
    const claimed = plan({ state: EMPTY_SUBJECT_STATE, wanted: [want(VIEW, ns('a'))], actual: null });
    if (!claimed.ok) throw new Error('unexpected');
    const theirs = entry([want(VIEW, ns('ops'))], { team: 'platform' });

    const granted = step(claimed.stateBefore, [want(VIEW, ns('a'))], theirs);
    const ended = step(granted.stateAfter, [], granted.actual);

    expect(granted.actions).toEqual([{ kind: 'associate', policyArn: VIEW, accessScope: ns('a', 'ops') }]);
    expect(granted.stateAfter).toEqual({ entryOwned: false, touched: { [VIEW]: ns('ops') } });
    expect(ended.actions).toEqual([{ kind: 'associate', policyArn: VIEW, accessScope: ns('ops') }]);
    expect(ended.actual).toEqual(theirs);
  });

  it('treats a cluster-scoped baseline as covering a namespaced lease without changing it', () => {
    const clusterWide = entry([want(VIEW, cluster)], {});

    const granted = step(EMPTY_SUBJECT_STATE, [want(VIEW, ns('a'))], clusterWide);
    const ended = step(granted.stateAfter, [], granted.actual);

    expect(granted.actions).toEqual([]);
    expect(granted.effective).toEqual({ [VIEW]: cluster });
    expect(ended.actions).toEqual([]);
    expect(ended.actual).toEqual(clusterWide);
  });
});

describe('plan: entries the broker never touches', () => {
  it('refuses to plan changes on a non-STANDARD entry', () => {
    const node = entry([], {}, 'EC2_LINUX');

    const result = plan({ state: EMPTY_SUBJECT_STATE, wanted: [want(VIEW, cluster)], actual: node });

    expect(result).toMatchObject({ ok: false, code: 'NOT_STANDARD_ENTRY' });
  });

  it('leaves a non-STANDARD entry alone when nothing is wanted', () => {
    const result = plan({ state: EMPTY_SUBJECT_STATE, wanted: [], actual: entry([], {}, 'EC2_LINUX') });

    expect(result).toMatchObject({ ok: true, actions: [] });
  });

  it('forgets what it saved ahead of a create refused because a node entry was there', () => {
    const claimed = plan({ state: EMPTY_SUBJECT_STATE, wanted: [want(VIEW, cluster)], actual: null });
    if (!claimed.ok) throw new Error('unexpected');
    const node = entry([], {}, 'EC2_LINUX');

    const granted = plan({ state: claimed.stateBefore, wanted: [want(VIEW, cluster)], actual: node });
    const rolledBack = plan({ state: claimed.stateBefore, wanted: [], actual: node });

    expect(granted).toMatchObject({ ok: false, code: 'NOT_STANDARD_ENTRY' });
    expect(rolledBack).toMatchObject({ ok: true, actions: [], stateAfter: EMPTY_SUBJECT_STATE });
  });
});

describe('plan: drift and crashes', () => {
  it('recreates an entry deleted by hand while a lease is active, and forgets the baseline that went with it', () => {
    const granted = step(EMPTY_SUBJECT_STATE, [want(VIEW, ns('a'))], entry([want(VIEW, ns('x'))], {}));

    const repaired = step(granted.stateAfter, [want(VIEW, ns('a'))], null);
    const ended = step(repaired.stateAfter, [], repaired.actual);

    expect(repaired.actions).toEqual([
      { kind: 'createEntry' },
      { kind: 'associate', policyArn: VIEW, accessScope: ns('a') },
    ]);
    expect(ended.actions).toEqual([{ kind: 'deleteEntry' }]);
  });

  it('repairs a scope changed by hand', () => {
    const granted = step(EMPTY_SUBJECT_STATE, [want(VIEW, ns('a', 'b'))], null);

    const repaired = step(granted.stateAfter, [want(VIEW, ns('a', 'b'))], entry([want(VIEW, ns('a'))]));

    expect(repaired.actions).toEqual([{ kind: 'associate', policyArn: VIEW, accessScope: ns('a', 'b') }]);
  });

  it('finishes the job after a crash between saving stateBefore and the actions', () => {
    const granted = step(EMPTY_SUBJECT_STATE, [want(VIEW, ns('a')), want(EDIT, ns('a'))], null);
    const ending = plan({ state: granted.stateAfter, wanted: [want(VIEW, ns('a'))], actual: granted.actual });
    if (!ending.ok) throw new Error('unexpected');

    // The process died after saving stateBefore, before any action: the next plan starts from stateBefore.
    const retried = step(ending.stateBefore, [want(VIEW, ns('a'))], granted.actual);

    expect(retried.actions).toEqual(ending.actions);
    expect(retried.actual?.associations).toEqual([want(VIEW, ns('a'))]);
  });

  it('converges: planning again on its own result changes nothing', () => {
    const scenarios: Association[][] = [
      [want(VIEW, ns('a'))],
      [want(VIEW, ns('a')), want(VIEW, ns('b')), want(EDIT, cluster)],
      [want(VIEW, cluster), want(VIEW, ns('z'))],
      [],
    ];
    let state = EMPTY_SUBJECT_STATE;
    let actual: ActualAccess | null = entry([want(ADMIN, ns('ops'))], {});
    for (const wanted of scenarios) {
      const first = step(state, wanted, actual);
      const second = plan({ state: first.stateAfter, wanted, actual: first.actual });

      expect(second).toMatchObject({ ok: true, actions: [] });
      state = first.stateAfter;
      actual = first.actual;
    }
    expect(actual).toEqual(entry([want(ADMIN, ns('ops'))], {}));
  });
});

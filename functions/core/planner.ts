import {
  type AccessScope,
  type ActualAccess,
  type Association,
  EMPTY_SUBJECT_STATE,
  OWNER_TAG_KEY,
  OWNER_TAG_VALUE,
  type SubjectState,
} from './model';
import { normalizeScope, sameScope, unionScope } from './scope';

/** One change to EKS. Every mutation of EKS the broker makes is one of these, computed here. */
export type Action =
  | { readonly kind: 'createEntry' }
  | { readonly kind: 'associate'; readonly policyArn: string; readonly accessScope: AccessScope }
  | { readonly kind: 'disassociate'; readonly policyArn: string }
  | { readonly kind: 'deleteEntry' };

interface PlanInput {
  /** What the broker remembers of the subject (ownership and baseline). */
  readonly state: SubjectState;
  /** The access the subject's valid leases need, one item per lease. */
  readonly wanted: readonly Association[];
  /** What EKS holds now (null: no access entry). */
  readonly actual: ActualAccess | null;
}

export type Plan =
  | {
      readonly ok: true;
      /** In order: create the entry, then widen or narrow (one replace each), then remove, then delete. */
      readonly actions: readonly Action[];
      /**
       * Saved BEFORE the actions run: it already records every baseline captured and every ownership taken,
       * and still remembers everything being given back, so a crash half-way leaves a state from which the
       * next plan finishes the job instead of forgetting what the broker changed.
       */
      readonly stateBefore: SubjectState;
      /** Saved once all actions succeeded. */
      readonly stateAfter: SubjectState;
      /** The scope each wanted policy has once the actions ran. */
      readonly effective: Readonly<Record<string, AccessScope>>;
    }
  | { readonly ok: false; readonly code: 'NOT_STANDARD_ENTRY'; readonly message: string };

/**
 * Desired state = baseline + union of the wanted scopes per policy (cluster scope absorbs namespaces); the
 * plan is the difference from the actual state. The broker only ever changes a policy it has recorded a
 * baseline for, gives back exactly that baseline when nothing wants the policy any more, and deletes only an
 * entry it created, still tagged as its own, that would be left with nothing on it.
 */
export function plan(input: PlanInput): Plan {
  const { actual } = input;
  const wanted = wantedScopes(input.wanted);

  if (actual && actual.entryType !== 'STANDARD') {
    // What the broker remembers of an entry it created went with that entry: this one was never its own.
    const state = input.state.entryOwned ? EMPTY_SUBJECT_STATE : input.state;
    if (wanted.size === 0 && Object.keys(state.touched).length === 0) {
      return { ok: true, actions: [], stateBefore: state, stateAfter: state, effective: {} };
    }
    return {
      ok: false,
      code: 'NOT_STANDARD_ENTRY',
      message: `The principal's access entry has type ${actual.entryType}: the broker never changes entries that are not STANDARD.`,
    };
  }

  const touched: Record<string, AccessScope | null> = { ...input.state.touched };
  let entryOwned = input.state.entryOwned;
  const actions: Action[] = [];
  let current = new Map<string, AccessScope>();

  if (!actual) {
    // Whatever the baseline held went with the entry (deleted by hand): there is nothing left to restore.
    for (const policyArn of Object.keys(touched)) touched[policyArn] = null;
    entryOwned = false;
    if (wanted.size > 0) {
      actions.push({ kind: 'createEntry' });
      entryOwned = true;
    }
  } else {
    current = new Map(actual.associations.map((a) => [a.policyArn, normalizeScope(a.accessScope)]));
    // An entry without our tag is not ours, whatever we remember: someone replaced the one we created, or our
    // create was refused because this one was there first. What we recorded was of ours and went with it; what
    // this one holds is its owner's baseline.
    if (entryOwned && actual.tags[OWNER_TAG_KEY] !== OWNER_TAG_VALUE) {
      for (const policyArn of Object.keys(touched)) delete touched[policyArn];
      entryOwned = false;
    }
  }

  const effective: Record<string, AccessScope> = {};
  for (const [policyArn, scope] of wanted) {
    if (!(policyArn in touched)) touched[policyArn] = current.get(policyArn) ?? null;
    const desired = unionScope(touched[policyArn], scope) ?? scope;
    effective[policyArn] = desired;
    if (!sameScope(current.get(policyArn), desired))
      actions.push({ kind: 'associate', policyArn, accessScope: desired });
  }

  const stateBefore: SubjectState = { entryOwned, touched: { ...touched } };
  // What the entry holds once the plan ran: the wanted policies, restored baselines, and anything not ours.
  const held = new Set([...current.keys(), ...wanted.keys()]);
  const removals: Action[] = [];
  for (const [policyArn, baseline] of Object.entries(touched)) {
    if (wanted.has(policyArn)) continue;
    delete touched[policyArn];
    if (baseline) {
      held.add(policyArn);
      if (!sameScope(current.get(policyArn), baseline)) {
        actions.push({ kind: 'associate', policyArn, accessScope: normalizeScope(baseline) });
      }
    } else if (current.has(policyArn)) {
      held.delete(policyArn);
      removals.push({ kind: 'disassociate', policyArn });
    }
  }

  if (actual && entryOwned && held.size === 0) {
    // Delete cascades to the associations, so one call gives everything back.
    actions.push({ kind: 'deleteEntry' });
    entryOwned = false;
  } else {
    actions.push(...removals);
  }

  return { ok: true, actions, stateBefore, stateAfter: { entryOwned, touched }, effective };
}

function wantedScopes(wanted: readonly Association[]): Map<string, AccessScope> {
  const scopes = new Map<string, AccessScope>();
  for (const { policyArn, accessScope } of wanted) {
    scopes.set(policyArn, unionScope(scopes.get(policyArn), accessScope) ?? normalizeScope(accessScope));
  }
  return scopes;
}

import { DURATIONS, EXTENSIONS, SCOPES } from '../request-shapes';
import type { FaultRates } from './invocation';
import { Rng, seedOf } from './random';

/** dev-a, dev-b, platform (baseline entry), node (EC2_LINUX entry), oncall (test/support/subjects.ts). */
export const SUBJECTS = 5;
/** Subjects whose entry the broker may have created, so an operator may delete or narrow it by hand. */
export const HAND_EDITABLE = [0, 1, 4] as const;

/**
 * How a request no integration may make is sent (as in the soak): on the queue by a role of no integration or
 * by an on-call person's role (integration oncall may not use the queue), on the bus from another account or
 * with the on-call source but no proof, or by the ticketing integration outside its ceiling.
 */
export const INTRUSIONS = [
  'intruder-role',
  'oncall-on-queue',
  'other-account',
  'unproven-source',
  'ceiling',
] as const;
export type Intrusion = (typeof INTRUSIONS)[number];

interface Arrival {
  /** Its place in the run's list: what a shrunk replay names (SIM_KEEP). */
  readonly index: number;
  /** Milliseconds after the previous arrival. */
  readonly gapMs: number;
}

export type SimOp = Arrival &
  (
    | {
        readonly kind: 'grant';
        readonly subject: number;
        readonly policy: number;
        readonly scope: number;
        readonly duration: number;
        readonly breakGlass: boolean;
        /** Put on the bus by the ticketing integration's account instead of sent on the queue. */
        readonly bus: boolean;
        /** Every delivery hits a handler bug: it ends in the dead-letter queue. */
        readonly poison: boolean;
      }
    /** `target`: the index of the grant it names (a removed one is a request for an unknown id). */
    | { readonly kind: 'revoke'; readonly target: number; readonly poison: boolean }
    | {
        readonly kind: 'extend';
        readonly target: number;
        readonly extension: number;
        readonly poison: boolean;
      }
    /** The requester sends an earlier request again (the same body). */
    | { readonly kind: 'duplicate'; readonly target: number }
    | {
        readonly kind: 'intrude';
        readonly request: 'grant' | 'revoke' | 'extend';
        readonly via: Intrusion;
        readonly target: number;
        readonly subject: number;
        readonly policy: number;
        readonly scope: number;
        readonly duration: number;
        readonly breakGlass: boolean;
      }
    /** An operator changes EKS by hand: deletes the entry, or narrows an association (drift). */
    | { readonly kind: 'hand'; readonly subject: number; readonly action: 'delete' | 'narrow' }
  );

export interface RunConfig {
  readonly seed: number;
  readonly rates: FaultRates;
  /** A name for the table: calm, stormy, ... */
  readonly weather: string;
  readonly ops: readonly SimOp[];
}

const WEATHERS: readonly { readonly name: string; readonly weight: number; readonly rates: FaultRates }[] = [
  {
    name: 'calm',
    weight: 1,
    rates: {
      crash: 0.02,
      eksThrottle: 0,
      eks5xx: 0,
      eksDrop: 0,
      eksDropAfterCommit: 0,
      dynamodbThrottle: 0,
      dynamodbUnavailable: 0,
      dynamodbLost: 0,
      publishRefused: 0,
      publishLost: 0,
      sendFailed: 0,
      sendLost: 0,
      duplicateReceive: 0.01,
      invokeThrottled: 0,
      duplicateDelivery: 0.01,
    },
  },
  {
    name: 'unsettled',
    weight: 3,
    rates: {
      crash: 0.06,
      eksThrottle: 0.03,
      eks5xx: 0.02,
      eksDrop: 0.01,
      eksDropAfterCommit: 0.02,
      dynamodbThrottle: 0.005,
      dynamodbUnavailable: 0.005,
      dynamodbLost: 0.005,
      publishRefused: 0.01,
      publishLost: 0.01,
      sendFailed: 0.01,
      sendLost: 0.01,
      duplicateReceive: 0.02,
      invokeThrottled: 0.02,
      duplicateDelivery: 0.02,
    },
  },
  {
    name: 'stormy',
    weight: 2,
    rates: {
      crash: 0.12,
      eksThrottle: 0.12,
      eks5xx: 0.06,
      eksDrop: 0.03,
      eksDropAfterCommit: 0.05,
      dynamodbThrottle: 0.02,
      dynamodbUnavailable: 0.015,
      dynamodbLost: 0.015,
      publishRefused: 0.03,
      publishLost: 0.03,
      sendFailed: 0.03,
      sendLost: 0.03,
      duplicateReceive: 0.04,
      invokeThrottled: 0.05,
      duplicateDelivery: 0.03,
    },
  },
];

/**
 * A run's operations and weather, all from its seed: operation `i` from its own stream, so a shrunk run that
 * keeps operation `i` keeps it as it was. Requests arrive as a Poisson process (a few seconds apart), with a
 * pause of minutes now and then, so that leases expire, timers fire and the sweeper catches up.
 */
export function planRun(seed: number, count: number): RunConfig {
  const config = new Rng(seedOf(seed, 'weather'));
  const weather = WEATHERS[config.weighted(WEATHERS.map((w) => w.weight))] ?? (WEATHERS[0] as never);
  const ops: SimOp[] = [];
  const grants: number[] = [];
  const messages: number[] = [];
  for (let index = 0; index < count; index++) {
    const rng = new Rng(seedOf(seed, 'op', index));
    const op = drawOp(rng, index, grants, messages);
    ops.push(op);
    if (op.kind === 'grant') grants.push(index);
    if (op.kind === 'grant' || op.kind === 'revoke' || op.kind === 'extend') messages.push(index);
  }
  return { seed, rates: weather.rates, weather: weather.name, ops };
}

function drawOp(rng: Rng, index: number, grants: readonly number[], messages: readonly number[]): SimOp {
  const pause = rng.chance(0.015);
  const gapMs = Math.round(pause ? rng.int(300, 2_700) * 1000 : rng.exponential(12_000));
  const base = { index, gapMs };
  const target = (list: readonly number[]) => (list.length === 0 ? -1 : rng.pick(list.slice(-40)));
  const poison = rng.chance(1 / 40);
  switch (rng.weighted([30, 10, 8, 10, 8, 3])) {
    case 0:
      return {
        ...base,
        kind: 'grant',
        subject: rng.int(0, SUBJECTS - 1),
        policy: rng.weighted([5, 4, 1]),
        scope: rng.int(0, SCOPES.length - 1),
        // Short leases mostly, so that subjects empty and entries are deleted now and then.
        duration: rng.chance(1 / 13) ? DURATIONS.length - 1 : rng.weighted([3, 3, 3, 2, 2, 1, 1]),
        breakGlass: rng.chance(1 / 7),
        bus: rng.chance(1 / 5),
        poison,
      };
    case 1:
      return { ...base, kind: 'revoke', target: target(grants), poison };
    case 2:
      return {
        ...base,
        kind: 'extend',
        target: target(grants),
        extension: rng.int(0, EXTENSIONS.length - 1),
        poison,
      };
    case 3:
      return { ...base, kind: 'duplicate', target: target(messages) };
    case 4:
      return {
        ...base,
        kind: 'intrude',
        request: rng.pick(['grant', 'revoke', 'extend'] as const),
        via: rng.pick(INTRUSIONS),
        target: target(grants),
        subject: rng.int(0, SUBJECTS - 1),
        policy: rng.weighted([5, 4, 1]),
        scope: rng.int(0, SCOPES.length - 1),
        duration: rng.int(0, DURATIONS.length - 2),
        breakGlass: rng.chance(0.5),
      };
    default:
      return {
        ...base,
        kind: 'hand',
        subject: rng.pick(HAND_EDITABLE),
        action: rng.chance(0.5) ? 'delete' : 'narrow',
      };
  }
}

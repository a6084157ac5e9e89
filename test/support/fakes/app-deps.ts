import { fileURLToPath } from 'node:url';
import type { TicketIntakeDeps } from '../../../functions/app/deps';
import { readRulesYaml } from '../../../functions/config/access-rules-yaml';
import type { AccessRules } from '../../../functions/core/rules';
import type { EksEmulator } from '../../../infra/local/eks/emulator';
import { TICKETING_ROLE } from '../callers';
import { emulatedEks } from './emulated-access-api';
import { KnownSenders } from './known-senders';
import { MemoryLeaseTable } from './memory-lease-table';
import { MemoryTickets } from './memory-tickets';
import { RecordingIdentityProofs } from './recording-identity-proofs';
import { RecordingLog } from './recording-log';
import { RecordingMetrics } from './recording-metrics';
import { RecordingOutcomes } from './recording-outcome-sink';
import { RecordingTimers } from './recording-timers';

/** The reviewed rules file the broker ships with, read once: every use-case test decides with the real rules. */
const SHIPPED_RULES: AccessRules = readRulesYaml(
  fileURLToPath(new URL('../../../infra/access-rules.yaml', import.meta.url)),
);

/** Epoch milliseconds that move only when a test says so. */
export class ManualClock {
  constructor(private ms: number) {}

  readonly now = (): number => this.ms;

  seconds(): number {
    return Math.floor(this.ms / 1000);
  }

  advance(seconds: number): void {
    this.ms += Math.round(seconds * 1000);
  }
}

/** The audience of the fake world's broker, as stage `local`'s. */
export const TEST_AUDIENCE = 'eks-access-broker-local';

/** A mid-2026 instant, whole seconds: lease times in the assertions are then plain sums. */
export const START_MS = 1_780_000_000_000;

/** IntakeDeps on fakes, with the fakes themselves at hand for the Arrange and Assert steps. */
export interface FakeWorld {
  readonly deps: TicketIntakeDeps;
  readonly table: MemoryLeaseTable;
  readonly emulator: EksEmulator;
  readonly outcomes: RecordingOutcomes;
  readonly timers: RecordingTimers;
  /** STS for proofs: vouches only for calls a test signed with vouch(). */
  readonly proofs: RecordingIdentityProofs;
  readonly metrics: RecordingMetrics;
  readonly log: RecordingLog;
  readonly clock: ManualClock;
  /** The webhook integrations' vendors, in memory. */
  readonly tickets: MemoryTickets;
}

/**
 * The one builder of the use cases' deps for test/app: the memory lease table (kept honest by
 * test/support/lease-table-contract.ts), the real EKS adapter over the in-process emulator, recorders for the
 * rest, the shipped access rules, and a clock that stands still. `overrides` replaces any dep.
 */
/** The SQS sender id of the ticketing integration's role in the fake world. */
const TICKETING_ROLE_ID = 'AROAFAKETICKETING01';

/** The broker's webhook function's role, the only sender of ticket events, and its SQS sender id. */
export const WEBHOOK_ROLE = 'arn:aws:iam::111122223333:role/eks-access-broker-local-webhook';
export const WEBHOOK_SENDER_ID = 'AROAFAKEWEBHOOK0001:webhook';

export function appDeps(overrides: Partial<TicketIntakeDeps> = {}): FakeWorld {
  const clock = new ManualClock(START_MS);
  const table = new MemoryLeaseTable();
  // The emulator stamps its records with the same clock as the broker, so their times compare.
  const { eks, emulator } = emulatedEks({ now: clock.now });
  const outcomes = new RecordingOutcomes();
  const timers = new RecordingTimers();
  const proofs = new RecordingIdentityProofs();
  const metrics = new RecordingMetrics();
  const log = new RecordingLog();
  const tickets = new MemoryTickets();
  const deps: TicketIntakeDeps = {
    store: table,
    locks: table,
    eks,
    publisher: outcomes,
    timers,
    senders: new KnownSenders({
      [TICKETING_ROLE_ID]: TICKETING_ROLE,
      [WEBHOOK_SENDER_ID.split(':')[0] ?? '']: WEBHOOK_ROLE,
    }),
    rules: SHIPPED_RULES,
    clock: clock.now,
    log,
    metrics,
    // Short: a busy subject gives up within a test's time, as integration tests set LOCK_WAIT_MS.
    lockWaitMs: 50,
    revocationBudget: 3,
    proofs,
    nonces: table,
    audience: TEST_AUDIENCE,
    tickets,
    webhookSender: WEBHOOK_ROLE,
    ...overrides,
  };
  return { deps, table, emulator, outcomes, timers, proofs, metrics, log, clock, tickets };
}

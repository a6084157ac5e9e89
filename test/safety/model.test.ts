import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScenario, type Scenario, scenarioArb } from '../support/model-runner';
import { ModelStats } from '../support/model-stats';
import { type SafetyWorld, startSafetyWorld } from '../support/safety-world';

/**
 * Model-based random testing: random scenarios of grants, revokes, extensions, clock advances, duplicate and
 * out-of-order deliveries over five subjects (one with a baseline entry and association, one node entry),
 * with EKS faults on and crashes between side effects, and an intruder actor sending requests no integration
 * may make (test/support/model-runner.ts), checked against the six safety invariants (invariants.ts).
 * CI size: 250 operations (scenarios of up to 60). Soak: `npm run soak` (SOAK_OPS=5000 by default).
 * Replay a failure with SAFETY_SEED=<seed> (and SAFETY_PATH=<path> to go straight to the shrunk case).
 * Some of the intruder's messages fail on every delivery and reach the dead-letter queue, where they must be
 * refused too (SAFETY_INTRUDER_OUTAGES=0 keeps them out).
 */
const TARGET_OPS = Number(process.env.SOAK_OPS ?? 0) || 250;
const OPS_PER_RUN = 60;
/** Scenarios have random lengths: enough runs are asked for, and those past the target are skipped. */
const MAX_RUNS = Math.ceil(TARGET_OPS / OPS_PER_RUN) * 6;
const SEED = process.env.SAFETY_SEED ? Number(process.env.SAFETY_SEED) : Date.now() % 2_147_483_647;
/** Shrinking re-runs scenarios against real services: past this budget the smallest case so far is reported. */
const SHRINK_BUDGET_MS = 120_000;
const SCENARIOS = { intruderOutages: process.env.SAFETY_INTRUDER_OUTAGES !== '0' };

let world: SafetyWorld;
const stats = new ModelStats();

beforeAll(async () => {
  // A small revocation budget, so that leases turn irrevocable (and recover) within a scenario.
  world = await startSafetyWorld({ revocationBudget: 2 });
});

afterAll(async () => {
  console.log(`model-based safety run (seed ${SEED}):\n${stats.table()}`);
  await world?.close();
});

describe('model-based random testing with faults and crashes', () => {
  it(
    `keeps every invariant over ${TARGET_OPS} operations in random scenarios (up to ${OPS_PER_RUN} each)`,
    async () => {
      let firstFailureAt: number | undefined;
      let lastFailure = '';
      const property = fc.asyncProperty(scenarioArb(OPS_PER_RUN, SCENARIOS), async (scenario: Scenario) => {
        if (firstFailureAt === undefined && stats.operations >= TARGET_OPS) return true;
        if (firstFailureAt !== undefined && Date.now() - firstFailureAt > SHRINK_BUDGET_MS) return true;
        const report = await runScenario(world, scenario, stats);
        if (report.violations.length === 0) return true;
        firstFailureAt ??= Date.now();
        lastFailure = [
          ...report.violations.map((v) => `invariant ${v.invariant}: ${v.message}`),
          '--- trace ---',
          ...report.trace,
        ].join('\n');
        return false;
      });

      const details = await fc.check(property, {
        numRuns: MAX_RUNS,
        seed: SEED,
        ...(process.env.SAFETY_PATH ? { path: process.env.SAFETY_PATH } : {}),
      });

      if (details.failed) {
        console.error(
          [
            `counterexample (seed ${details.seed}, path ${details.counterexamplePath}):`,
            JSON.stringify(details.counterexample?.[0]),
            lastFailure,
          ].join('\n'),
        );
      }
      expect(details.failed, lastFailure.split('\n').slice(0, 20).join('\n')).toBe(false);
      expect(stats.operations).toBeGreaterThanOrEqual(TARGET_OPS);
    },
    Math.max(600_000, TARGET_OPS * 600),
  );
});

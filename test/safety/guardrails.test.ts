import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeRequest } from '../../functions/app/intake';
import { loadRulesYaml } from '../../functions/config/access-rules-yaml';
import { parseRequest } from '../../functions/core/contract';
import type { AccessScope, GrantRequest } from '../../functions/core/model';
import { evaluateGrant } from '../../functions/core/rule-decision';
import type { AccessRules } from '../../functions/core/rules';
import { coversScope, unionScope } from '../../functions/core/scope';
import {
  type GrantDetail,
  grantEnvelope,
  oracleRefusal,
  requestsFor,
  ruleCap,
  rulesYamlArb,
} from '../support/rules-oracle';
import { type SafetyWorld, startSafetyWorld } from '../support/safety-world';

/**
 * Guardrails: no request obtains a policy, namespace, cluster, duration or principal its rules do not allow,
 * whatever the combination. Property: over generated rules files (loaded with loadRulesYaml) and generated
 * requests, whenever evaluateGrant allows, an independent oracle (rules-oracle.ts) confirms that the rule it
 * names really covers the request. End to end: a few hundred requests through the broker on the local stack
 * with a generated rules file, then every lease and every association EKS holds is checked the same way,
 * and extensions never carry a lease past its rule's cap.
 * CI size: 400 rules files x 15 requests; 300 requests end to end.
 */
const RULE_FILES = Number(process.env.SAFETY_GUARDRAIL_RULE_FILES ?? 400);
const E2E_REQUESTS = Number(process.env.SAFETY_GUARDRAIL_REQUESTS ?? 300);
const SEED = Number(process.env.SAFETY_SEED ?? 424_242);
const SOURCES = { allowedSources: ['com.example.ticketing'] };

function parseGrant(detail: GrantDetail, requestId: string): GrantRequest | undefined {
  const parsed = parseRequest(grantEnvelope(detail, requestId), SOURCES);
  return parsed.ok && parsed.request.kind === 'grant' ? parsed.request : undefined;
}

describe('guardrails, property over generated rules and requests', () => {
  it(`never allows what the rule it names does not cover (${RULE_FILES} rules files)`, () => {
    let allowed = 0;
    let refused = 0;

    fc.assert(
      fc.property(
        rulesYamlArb.chain((yaml) =>
          fc.tuple(
            fc.constant(yaml),
            fc.array(requestsFor(loadRulesYaml(yaml, 'generated')), { minLength: 15, maxLength: 15 }),
          ),
        ),
        ([yaml, details]) => {
          const rules = loadRulesYaml(yaml, 'generated');
          details.forEach((detail, i) => {
            const request = parseGrant(detail, `G-${i}`);
            if (!request) return;
            const decision = evaluateGrant(rules, request);
            if (!decision.allowed) {
              refused++;
              return;
            }
            allowed++;
            expect(
              oracleRefusal(rules, decision.rule, request),
              `${decision.rule.id} allowed ${JSON.stringify(detail)}`,
            ).toBe(undefined);
            expect(decision.cluster.name).toBe(request.clusterName);
            expect(decision.maxDurationSeconds).toBeLessThanOrEqual(ruleCap(rules, decision.rule));
            expect(request.durationSeconds).toBeLessThanOrEqual(decision.maxDurationSeconds);
          });
        },
      ),
      { numRuns: RULE_FILES, seed: SEED },
    );

    console.log(
      `guardrails: ${allowed} allowed and ${refused} refused, every allowed one confirmed by the oracle`,
    );
    expect(allowed).toBeGreaterThan(RULE_FILES);
    expect(refused).toBeGreaterThan(RULE_FILES);
  });
});

describe('guardrails end to end', () => {
  let world: SafetyWorld;
  let rules: AccessRules;
  let folder: string;

  beforeAll(async () => {
    // The generated file (of a few) under which the most sample requests are allowed: a strict test needs grants.
    const candidates = fc.sample(rulesYamlArb, { numRuns: 40, seed: SEED });
    const score = (yaml: string) => {
      const loaded = loadRulesYaml(yaml, 'candidate');
      const probes = fc.sample(requestsFor(loaded), { numRuns: 100, seed: SEED + 1 });
      return probes.filter((d) => {
        const request = parseGrant(d, 'probe');
        return request !== undefined && evaluateGrant(loaded, request).allowed;
      }).length;
    };
    const best = candidates.reduce((a, b) => (score(b) > score(a) ? b : a));
    folder = mkdtempSync(join(tmpdir(), 'guardrails-'));
    const file = join(folder, 'access-rules.yaml');
    writeFileSync(file, best);
    rules = loadRulesYaml(best, file);
    world = await startSafetyWorld({ rulesFile: file, lockWaitMs: 500 });
  });

  afterAll(async () => {
    await world?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it(`grants through the broker only what the rules allow, and extends no lease past its cap (${E2E_REQUESTS} requests)`, async () => {
    const details = fc.sample(requestsFor(rules), { numRuns: E2E_REQUESTS, seed: SEED + 2 });
    const granted: string[] = [];
    const extensions = new Map<string, number>();

    for (const [i, detail] of details.entries()) {
      const requestId = `GUARD-${process.pid}-${i}`;
      const result = await takeRequest(world.deps, {
        sqsBody: JSON.stringify(grantEnvelope(detail, requestId)),
      });
      if (result.status === 'granted') granted.push(requestId);
      else expect(['rejected', 'failed'], JSON.stringify(detail)).toContain(result.status);
      // Ask for more: each extension is capped by the rule's maximum counted from the grant.
      if (result.status === 'granted' && i % 2 === 0) {
        for (const seconds of [600, 3600, 28_800]) {
          const extension = await takeRequest(world.deps, {
            sqsBody: JSON.stringify({
              source: 'com.example.ticketing',
              'detail-type': 'Access Extend Requested',
              detail: {
                requestId,
                durationSeconds: seconds,
                requestedBy: 'alice@example.com',
                reason: `+${seconds}`,
              },
            }),
          });
          const outcome =
            extension.status === 'rejected' ? extension.rejection.code : String(extension.status);
          extensions.set(outcome, (extensions.get(outcome) ?? 0) + 1);
        }
      }
    }

    // Both sides of the cap were exercised: extensions applied, and extensions refused for going past it.
    expect(extensions.get('extended') ?? 0, JSON.stringify([...extensions])).toBeGreaterThan(0);
    expect(extensions.get('EXTENSION_CAP_EXCEEDED') ?? 0, JSON.stringify([...extensions])).toBeGreaterThan(0);
    const now = world.clock.seconds();
    const wanted = new Map<string, AccessScope>();
    for (const requestId of granted) {
      const lease = await world.deps.store.findLease(requestId);
      const rule = rules.rules.find((r) => r.id === lease?.ruleId);
      expect(lease && rule, requestId).toBeTruthy();
      if (!lease || !rule) continue;
      const request = parseGrant(details[Number(requestId.split('-').at(-1))] as GrantDetail, requestId);
      expect(request, requestId).toBeDefined();
      expect(request && oracleRefusal(rules, rule, request), requestId).toBeUndefined();
      expect(lease.expiresAt - (lease.grantedAt ?? 0), requestId).toBeLessThanOrEqual(ruleCap(rules, rule));
      if (lease.status === 'active' && lease.expiresAt > now) {
        const key = `${lease.clusterName}|${lease.principalArn}|${lease.policyArn}`;
        wanted.set(key, unionScope(wanted.get(key), lease.accessScope) ?? lease.accessScope);
      }
    }
    // Everything EKS holds is covered by an active lease the rules allowed (nothing else was there before).
    for (const cluster of world.local.edge.eks.snapshot()) {
      for (const entry of cluster.entries) {
        for (const association of entry.policies) {
          const scope: AccessScope =
            association.accessScope.type === 'cluster'
              ? { type: 'cluster' }
              : { type: 'namespace', namespaces: [...association.accessScope.namespaces] };
          const key = `${cluster.clusterName}|${entry.principalArn}|${association.policyArn}`;
          expect(coversScope(wanted.get(key), scope), `${key} holds ${JSON.stringify(scope)}`).toBe(true);
        }
      }
    }
    console.log(`guardrails end to end: ${granted.length} of ${details.length} requests granted`);
    expect(granted.length).toBeGreaterThan(10);
  }, 120_000);
});

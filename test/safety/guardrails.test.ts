import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeRequest } from '../../functions/app/intake';
import { loadRulesYaml } from '../../functions/config/access-rules-yaml';
import { parseRequest } from '../../functions/core/contract';
import type { AccessScope, Caller, GrantRequest } from '../../functions/core/model';
import { evaluateGrant } from '../../functions/core/rule-decision';
import type { AccessRules } from '../../functions/core/rules';
import { coversScope, unionScope } from '../../functions/core/scope';
import { KnownSenders } from '../support/fakes/known-senders';
import {
  attemptsFor,
  documentedFlags,
  type GrantDetail,
  grantEnvelope,
  openToQueue,
  oracleDecision,
  oracleRefusal,
  provenAs,
  QUEUE_ROLE,
  QUEUE_ROLE_ID,
  requestsFor,
  ruleCap,
  rulesYamlArb,
} from '../support/rules-oracle';
import { type SafetyWorld, startSafetyWorld } from '../support/safety-world';

/**
 * Guardrails: no request obtains a policy, namespace, cluster, duration or principal its rules do not allow,
 * and no caller obtains more than its integration may ask, whatever the combination. Property: over generated
 * rules files (loaded with loadRulesYaml) with generated integrations, and generated requests from generated
 * callers (an integration, a source of its own or not, proven as the beneficiary, as someone else, or not),
 * evaluateGrant decides as an independent oracle (rules-oracle.ts) does: the same allowed rule, the same code
 * for a refusal before any rule, and a proof or self refusal only where a proof of the beneficiary would have
 * been allowed. End to end: a few hundred requests through the broker on the local stack, sent on the queue
 * as the generated file's queue integration, then every lease and every association EKS holds is checked
 * against the oracle, and extensions never carry a lease past its rule's cap.
 * CI size: 400 rules files x 15 requests; 300 requests end to end.
 */
const RULE_FILES = Number(process.env.SAFETY_GUARDRAIL_RULE_FILES ?? 400);
const E2E_REQUESTS = Number(process.env.SAFETY_GUARDRAIL_REQUESTS ?? 300);
const SEED = Number(process.env.SAFETY_SEED ?? 424_242);
/** The generated files' queue integration, as its role sends on the requests queue, asserted. */
const QUEUE_CALLER: Caller = { integration: 'queue', sender: QUEUE_ROLE };

function parseGrant(
  rules: AccessRules,
  detail: GrantDetail,
  requestId: string,
  source?: string,
): GrantRequest | undefined {
  // Every source any integration owns parses, so that the decision, not the contract, meets a foreign one.
  const parsed = parseRequest(grantEnvelope(detail, requestId, source), {
    allowedSources: [...rules.sources, 'com.example.nobody'],
  });
  return parsed.ok && parsed.request.kind === 'grant' ? parsed.request : undefined;
}

describe('guardrails, property over generated rules, integrations, requests and callers', () => {
  it(`decides every request as the oracle does (${RULE_FILES} rules files)`, () => {
    const outcomes = new Map<string, number>();
    const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);

    fc.assert(
      fc.property(
        rulesYamlArb.chain((yaml) =>
          fc.tuple(
            fc.constant(yaml),
            fc.array(attemptsFor(loadRulesYaml(yaml, 'generated')), { minLength: 15, maxLength: 15 }),
          ),
        ),
        ([yaml, attempts]) => {
          const rules = loadRulesYaml(yaml, 'generated');
          const documented = documentedFlags(yaml);
          expect([...rules.sources]).toEqual(documented.sources);
          expect(rules.rules.map(({ id, requireProof, self }) => ({ id, requireProof, self }))).toEqual(
            documented.rules,
          );
          expect(rules.integrations.map(({ id, queue, breakGlass }) => ({ id, queue, breakGlass }))).toEqual(
            documented.integrations,
          );
          attempts.forEach(({ detail, source, caller }, i) => {
            const request = parseGrant(rules, detail, `G-${i}`, source);
            if (!request) return;
            const what = `${JSON.stringify(caller)} asked ${JSON.stringify(request)}`;
            const decision = evaluateGrant(rules, request, caller);
            const oracle = oracleDecision(rules, request, caller);
            expect(decision.allowed, what).toBe(oracle.allowed);
            if (decision.allowed) {
              count(caller.proven === undefined ? 'allowed' : 'allowed with a proof');
              expect(oracle.allowed && oracle.ruleId, what).toBe(decision.rule.id);
              expect(oracleRefusal(rules, decision.rule, request, caller), what).toBe(undefined);
              expect(decision.cluster.name).toBe(request.clusterName);
              expect(decision.maxDurationSeconds).toBeLessThanOrEqual(ruleCap(rules, decision.rule));
              expect(request.durationSeconds).toBeLessThanOrEqual(decision.maxDurationSeconds);
              return;
            }
            const { code } = decision.rejection;
            count(code);
            if (!oracle.allowed && oracle.code !== undefined) expect(code, what).toBe(oracle.code);
            else if (code === 'PROOF_REQUIRED' || code === 'NOT_SELF') {
              // A proof or self refusal is true: proven as the beneficiary, the same request is allowed.
              const proven = { ...caller, proven: provenAs(request.principalArn) };
              expect(oracleDecision(rules, request, proven).allowed, what).toBe(true);
            }
          });
        },
      ),
      { numRuns: RULE_FILES, seed: SEED },
    );

    console.log(
      `guardrails: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}, as the oracle decides`,
    );
    // Both sides of every integration condition were tried.
    for (const outcome of [
      'allowed',
      'allowed with a proof',
      'NOT_ALLOWED',
      'SOURCE_NOT_ALLOWED',
      'BREAK_GLASS_NOT_ALLOWED',
      'PROOF_REQUIRED',
      'NOT_SELF',
    ]) {
      expect(outcomes.get(outcome) ?? 0, outcome).toBeGreaterThan(RULE_FILES / 20);
    }
    expect((outcomes.get('allowed') ?? 0) + (outcomes.get('allowed with a proof') ?? 0)).toBeGreaterThan(
      RULE_FILES,
    );
  });
});

describe('guardrails end to end', () => {
  let world: SafetyWorld;
  let rules: AccessRules;
  let deps: SafetyWorld['deps'];
  let folder: string;
  const senderId = `${QUEUE_ROLE_ID}:guardrails`;

  beforeAll(async () => {
    // The generated file (of a few) under which the most sample requests are allowed: a strict test needs grants.
    const candidates = fc.sample(rulesYamlArb, { numRuns: 40, seed: SEED }).map(openToQueue);
    const score = (yaml: string) => {
      const loaded = loadRulesYaml(yaml, 'candidate');
      const probes = fc.sample(requestsFor(loaded, ceilingOfQueue(loaded)), { numRuns: 100, seed: SEED + 1 });
      return probes.filter((d) => {
        const request = parseGrant(loaded, d, 'probe');
        return request !== undefined && evaluateGrant(loaded, request, QUEUE_CALLER).allowed;
      }).length;
    };
    const best = candidates.reduce((a, b) => (score(b) > score(a) ? b : a));
    folder = mkdtempSync(join(tmpdir(), 'guardrails-'));
    const file = join(folder, 'access-rules.yaml');
    writeFileSync(file, best);
    rules = loadRulesYaml(best, file);
    world = await startSafetyWorld({ rulesFile: file, lockWaitMs: 500 });
    // The queue integration's role is who sends; the broker resolves its sender id, as IAM would.
    deps = { ...world.deps, rules, senders: new KnownSenders({ [QUEUE_ROLE_ID]: QUEUE_ROLE }) };
  });

  afterAll(async () => {
    await world?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it(`grants through the broker only what the rules allow, and extends no lease past its cap (${E2E_REQUESTS} requests)`, async () => {
    const details = fc.sample(requestsFor(rules, ceilingOfQueue(rules)), {
      numRuns: E2E_REQUESTS,
      seed: SEED + 2,
    });
    const granted: string[] = [];
    const extensions = new Map<string, number>();

    for (const [i, detail] of details.entries()) {
      const requestId = `GUARD-${process.pid}-${i}`;
      const result = await takeRequest(deps, {
        sqsBody: JSON.stringify(grantEnvelope(detail, requestId)),
        senderId,
      });
      if (result.status === 'granted') granted.push(requestId);
      else expect(['rejected', 'failed'], JSON.stringify(detail)).toContain(result.status);
      // Ask for more: each extension is capped by the rule's maximum counted from the grant.
      if (result.status === 'granted' && i % 2 === 0) {
        for (const seconds of [600, 3600, 28_800]) {
          const extension = await takeRequest(deps, {
            senderId,
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
      const request = parseGrant(
        rules,
        details[Number(requestId.split('-').at(-1))] as GrantDetail,
        requestId,
      );
      expect(request, requestId).toBeDefined();
      expect(request && oracleRefusal(rules, rule, request, QUEUE_CALLER), requestId).toBeUndefined();
      expect(lease.origin, requestId).toMatchObject({ integration: 'queue', sender: QUEUE_ROLE });
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

/** The rules the generated queue integration may use. */
function ceilingOfQueue(rules: AccessRules): AccessRules['rules'] {
  const queue = rules.integrations.find((integration) => integration.id === 'queue');
  return rules.rules.filter((rule) => queue?.rules.includes(rule.id));
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EKSClient } from '@aws-sdk/client-eks';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { takeRequest } from '../../functions/app/intake';
import { compileRules } from '../../functions/config/access-rules-yaml';
import { createRuntime, intakeDeps, type Runtime } from '../../functions/runtime';
import { TICKETING_ROLE } from '../support/callers';
import { KnownSenders } from '../support/fakes/known-senders';
import { BAD_INPUT_SENDER_ID, type BadCase, badCaseArb, fieldMatches } from '../support/malformed';

/**
 * Bad input, generated: every malformed request (wrong types, missing fields, huge strings, unicode, invalid
 * ARNs, namespaces and durations, injection strings, deep nesting, extra fields, wrong envelopes, and
 * well-formed requests the rules refuse) is rejected with its code and field, through the real intake code
 * (takeRequest: the contract parser, the rules, the broker), with the AWS SDK clients mocked so that every
 * call would be seen: one `Access Grant Rejected` event each, and not one EKS or DynamoDB call.
 * CI size: 2,500 cases (SAFETY_BAD_INPUT_CASES to change it). The real handlers get theirs in
 * bad-input-handlers.test.ts.
 */
const CASES = Number(process.env.SAFETY_BAD_INPUT_CASES ?? 2500);

const dynamodb = mockClient(DynamoDBDocumentClient);
const eks = mockClient(EKSClient);
const events = mockClient(EventBridgeClient);
const sqs = mockClient(SQSClient);
let runtime: Runtime;
let rulesDir = '';
/** The ticketing integration's role sends the SQS cases: what gets them refused is the input itself. */
const TICKETING = new KnownSenders({ [BAD_INPUT_SENDER_ID.split(':')[0] ?? '']: TICKETING_ROLE });

beforeAll(() => {
  process.env.AWS_REGION ??= 'us-east-1';
  rulesDir = mkdtempSync(join(tmpdir(), 'eks-access-broker-bad-input-'));
  const accessRulesFile = join(rulesDir, 'access-rules.json');
  compileRules('infra/access-rules.yaml', accessRulesFile);
  runtime = createRuntime({
    leaseTableName: 'leases',
    eventBusName: 'default',
    accessRulesFile,
    timerQueueUrl: 'https://sqs.us-east-1.amazonaws.com/111122223333/timers',
    lockWaitMs: 0,
    eksRatePerSecond: 40,
    driftEksShare: 0.1,
    stage: 'test',
    audience: 'eks-access-broker-test',
    ticketApiUrls: {},
  });
});

beforeEach(() => {
  dynamodb.reset();
  eks.reset();
  sqs.reset();
  events.reset();
  events.on(PutEventsCommand).callsFake((input: { Entries?: unknown[] }) => ({
    FailedEntryCount: 0,
    Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `event-${i}` })),
  }));
});

afterAll(() => {
  rmSync(rulesDir, { recursive: true, force: true });
  dynamodb.restore();
  eks.restore();
  events.restore();
  sqs.restore();
});

function published(): { detailType: string; detail: Record<string, unknown> }[] {
  return events.commandCalls(PutEventsCommand).flatMap((call) =>
    (call.args[0].input.Entries ?? []).map((entry) => ({
      detailType: String(entry.DetailType),
      detail: JSON.parse(String(entry.Detail)) as Record<string, unknown>,
    })),
  );
}

describe('bad input through the intake', () => {
  it(`rejects ${CASES} generated malformed requests, each with its code and field, touching nothing`, async () => {
    const seen = new Map<string, number>();

    await fc.assert(
      fc.asyncProperty(badCaseArb, async (bad: BadCase) => {
        dynamodb.resetHistory();
        eks.resetHistory();
        sqs.resetHistory();
        events.resetHistory();

        const result = await takeRequest(intakeDeps(runtime, TICKETING), bad.input);

        const outcomes = published();
        expect(result.status, bad.description).toBe('rejected');
        expect(outcomes, bad.description).toHaveLength(1);
        const [outcome] = outcomes;
        expect(outcome?.detailType, bad.description).toBe('Access Grant Rejected');
        expect(outcome?.detail.code, bad.description).toBe(bad.code);
        expect(
          fieldMatches(bad.field, outcome?.detail.field),
          `${bad.description}: field ${String(outcome?.detail.field)}`,
        ).toBe(true);
        expect(String(outcome?.detail.reason).length, bad.description).toBeGreaterThan(5);
        // Nothing of a hostile request is echoed back unbounded.
        expect(JSON.stringify(outcome?.detail).length, bad.description).toBeLessThan(4096);
        expect(dynamodb.calls(), bad.description).toHaveLength(0);
        expect(eks.calls(), bad.description).toHaveLength(0);
        expect(sqs.calls(), bad.description).toHaveLength(0);
        seen.set(bad.code, (seen.get(bad.code) ?? 0) + 1);
      }),
      { numRuns: CASES },
    );

    console.log(`bad input: ${CASES} cases, by code ${JSON.stringify(Object.fromEntries(seen))}`);
    expect([...seen.keys()]).toEqual(
      expect.arrayContaining([
        'INVALID_FIELD',
        'INVALID_ENVELOPE',
        'SOURCE_NOT_ALLOWED',
        'UNKNOWN_DETAIL_TYPE',
        'UNKNOWN_CLUSTER',
        'NOT_ALLOWED',
        'DURATION_TOO_LONG',
      ]),
    );
  }, 120_000);
});

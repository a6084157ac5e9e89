import { describe, expect, it } from 'vitest';
import { sourceFor } from '../../functions/cli/commands';
import { readRulesYaml } from '../../functions/config/access-rules-yaml';

const rules = readRulesYaml('infra/access-rules.yaml');

describe('the source the CLI sends with', () => {
  it('is the source of the integration that lists your role, whatever your session name', () => {
    expect(sourceFor(rules, 'arn:aws:sts::111122223333:assumed-role/dev-bob/any-session', false)).toBe(
      'com.example.self-service',
    );
    expect(sourceFor(rules, 'arn:aws:sts::111122223333:assumed-role/ticketing-integration/test', false)).toBe(
      'com.example.ticketing',
    );
  });

  it('is an integration allowed break-glass for a break-glass request', () => {
    expect(sourceFor(rules, 'arn:aws:sts::111122223333:assumed-role/oncall-alice/oncallalice', true)).toBe(
      'com.example.oncall',
    );
  });

  it("falls back to the rules' first source for a caller no integration lists (the broker refuses it)", () => {
    expect(sourceFor(rules, 'arn:aws:sts::111122223333:assumed-role/intruder/intruder', false)).toBe(
      'com.example.ticketing',
    );
    expect(sourceFor(rules, 'arn:aws:sts::444455556666:assumed-role/dev-bob/bob', false)).toBe(
      'com.example.ticketing',
    );
  });
});

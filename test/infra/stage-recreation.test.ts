/**
 * A stage removed and deployed again: the lease table (the audit trail, and the leases still live) was retained,
 * and has the stage's fixed name, so a stack that creates it again fails ("already exists"). Param
 * leaseTable=existing takes the retained table back instead (README, Deploy).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readRulesYaml } from '../../functions/config/access-rules-yaml';
import { buildStack, type LeaseTableMode } from '../../infra/stack/resources';
import { serverlessResources } from '../../infra/stack/serverless-stack';
import { iamStatements, type Template } from './template-audit';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The example rules, with the webhook integrations: their roles read the lease table too. */
const RULES = readRulesYaml(join(ROOT, 'infra/access-rules.yaml'));
const TABLE_ARN = {
  'Fn::Sub': `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/eks-access-broker-prod-leases`,
};
const compiledDir = mkdtempSync(join(tmpdir(), 'eks-access-broker-stage-'));

afterAll(() => {
  rmSync(compiledDir, { recursive: true, force: true });
});

function stack(leaseTable?: LeaseTableMode): Template & { Conditions?: Record<string, unknown> } {
  return buildStack({
    stage: 'prod',
    rules: RULES,
    eventBusName: 'eks-access-broker-prod-bus',
    ...(leaseTable ? { leaseTable } : {}),
    timeoutSeconds: { sqsIntake: 30, expiryTimer: 30, deadLetter: 30, writeBack: 20 },
  }) as unknown as Template & { Conditions?: Record<string, unknown> };
}

/** The Resource of every statement that names a DynamoDB action, by role. */
function tableResources(template: Template): unknown[] {
  return iamStatements(template)
    .filter(({ statement }) => JSON.stringify(statement.Action).includes('dynamodb:'))
    .flatMap(({ statement }) => statement.Resource as unknown[]);
}

describe('the lease table of a stage deployed again', () => {
  it('is created, and retained when the stage is removed, by default', () => {
    const created = stack();

    expect(created.Resources.LeaseTable).toMatchObject({
      Type: 'AWS::DynamoDB::Table',
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    expect(created.Resources.LeaseTable).not.toHaveProperty('Condition');
    expect(created.Conditions).toEqual({ CreatesLeaseTable: { 'Fn::Equals': ['create', 'create'] } });
    expect(created.Outputs?.LeaseTableName).toMatchObject({ Value: { Ref: 'LeaseTable' } });
    expect(tableResources(created).every((r) => JSON.stringify(r).includes('LeaseTable'))).toBe(true);
  });

  it('is taken back with leaseTable=existing: not created, used by its name, still never deleted', () => {
    const adopted = stack('existing');

    // A false condition: CloudFormation creates nothing (and a Ref to it inside Fn::If stays valid).
    expect(adopted.Conditions).toEqual({ CreatesLeaseTable: { 'Fn::Equals': ['existing', 'create'] } });
    expect(adopted.Resources.LeaseTable).toMatchObject({
      Condition: 'CreatesLeaseTable',
      DeletionPolicy: 'Retain',
    });
    expect(adopted.Outputs?.LeaseTableName).toMatchObject({ Value: 'eks-access-broker-prod-leases' });
    const resources = tableResources(adopted);
    expect(resources.length).toBeGreaterThan(0);
    expect(JSON.stringify(resources)).not.toContain('LeaseTable');
    for (const resource of resources) {
      expect([TABLE_ARN, { 'Fn::Sub': `${TABLE_ARN['Fn::Sub']}/index/due` }]).toContainEqual(resource);
    }
  });

  it('refuses a leaseTable param that is neither create nor existing', () => {
    const settings = {
      serviceDir: ROOT,
      service: 'eks-access-broker',
      stage: 'prod',
      accessRulesFile: 'infra/access-rules.yaml',
      compiledAccessRulesFile: join(compiledDir, 'access-rules.json'),
      eventBusName: 'eks-access-broker-prod-bus',
      operatorRoleArns: '',
      alarmTopicArn: '',
      timeoutSeconds: { sqsIntake: 30, expiryTimer: 30, deadLetter: 30, writeBack: 20 },
    };

    expect(() => serverlessResources({ ...settings, leaseTable: 'keep' })).toThrow(
      'param leaseTable must be create or existing, got "keep"',
    );
    expect(serverlessResources({ ...settings, leaseTable: 'existing' }).Conditions).toEqual({
      CreatesLeaseTable: { 'Fn::Equals': ['existing', 'create'] },
    });
  });
});

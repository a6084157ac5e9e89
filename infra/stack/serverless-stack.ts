/**
 * Entry point of infra/serverless-resources.cjs: turns what serverless.yml says (service, stage, params,
 * function timeouts) into the `resources:` fragment. The access rules are read here, once per package: validated
 * by the same code the functions run at cold start (a rules file that would stop the broker stops packaging),
 * compiled to the JSON every function ships, and turned into each role's EKS permissions, so the rules a
 * function enforces and the permissions it holds come from one reading of one file.
 */

import { resolve } from 'node:path';
import { compileRules, readRulesYaml } from '../../functions/config/access-rules-yaml';
import { SERVICE_NAME } from '../../functions/config/names';
import type { CfnValue, StackFragment } from './cloudformation';
import { buildStack, LEASE_TABLE_MODES, type LeaseTableMode, type StackOptions } from './resources';
import { WEBHOOK_FUNCTIONS, WEBHOOK_SENDER_ARN, webhookIntegrations } from './webhook-resources';

export interface ServerlessSettings {
  readonly serviceDir: string;
  readonly service: string;
  readonly stage: string;
  /** The YAML rules file (param accessRulesFile). */
  readonly accessRulesFile: string;
  /** Where the JSON the functions load is written (custom.compiledAccessRulesFile; in every zip). */
  readonly compiledAccessRulesFile: string;
  /** The stage's own bus name (the stack creates it) or an existing bus's name or ARN. */
  readonly eventBusName: string;
  /** Comma-separated role ARNs that may also publish the broker's outcome events; empty: none. */
  readonly operatorRoleArns: string;
  /** Empty: the stack creates its own topic. */
  readonly alarmTopicArn: string;
  /** `create` (the default) or `existing`: the stage's table retained from an earlier deployment (README, Deploy). */
  readonly leaseTable: string;
  readonly timeoutSeconds: StackOptions['timeoutSeconds'];
}

const BUS_NAME = /^(?:arn:[\w-]+:events:[\w-]+:\d{12}:event-bus\/)?[A-Za-z0-9._\-/]{1,256}$/;
const TOPIC_ARN = /^arn:[\w-]+:sns:[\w-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
const ROLE_ARN = /^arn:[\w-]+:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export function serverlessResources(settings: ServerlessSettings): StackFragment {
  if (settings.service !== SERVICE_NAME) {
    // The functions, the CLI and the local broker find the stack's resources by names built from it.
    throw new Error(
      `serverless.yml service must be ${SERVICE_NAME} (functions/config/names.ts), got ${JSON.stringify(settings.service)}`,
    );
  }
  if (!BUS_NAME.test(settings.eventBusName)) {
    throw new Error(
      `param eventBusName must be an event bus name or ARN, got ${JSON.stringify(settings.eventBusName)}`,
    );
  }
  if (settings.alarmTopicArn !== '' && !TOPIC_ARN.test(settings.alarmTopicArn)) {
    throw new Error(
      `param alarmTopicArn must be empty or an SNS topic ARN, got ${JSON.stringify(settings.alarmTopicArn)}`,
    );
  }
  if (!(LEASE_TABLE_MODES as readonly string[]).includes(settings.leaseTable)) {
    throw new Error(
      `param leaseTable must be ${LEASE_TABLE_MODES.join(' or ')}, got ${JSON.stringify(settings.leaseTable)}`,
    );
  }
  const operatorRoleArns = settings.operatorRoleArns
    .split(',')
    .map((arn) => arn.trim())
    .filter((arn) => arn !== '');
  for (const arn of operatorRoleArns) {
    if (!ROLE_ARN.test(arn)) {
      throw new Error(`param operatorRoleArns must list IAM role ARNs, got ${JSON.stringify(arn)}`);
    }
  }
  const rules = compileRules(
    resolve(settings.serviceDir, settings.accessRulesFile),
    resolve(settings.serviceDir, settings.compiledAccessRulesFile),
  );
  return buildStack({
    stage: settings.stage,
    rules,
    eventBusName: settings.eventBusName,
    operatorRoleArns,
    ...(settings.alarmTopicArn === '' ? {} : { alarmTopicArn: settings.alarmTopicArn }),
    leaseTable: settings.leaseTable as LeaseTableMode,
    timeoutSeconds: settings.timeoutSeconds,
  });
}

/** What serverless.yml takes from infra/serverless-webhooks.cjs. */
export interface ServerlessWebhooks {
  /** serverless.yml's custom.webhookFunctions, or none: osls drops a function whose definition is null. */
  readonly functions: Readonly<Record<string, unknown>>;
  /** The environment the SQS intake and the dead-letter function add to the provider's. */
  readonly senderEnvironment: Readonly<Record<string, CfnValue>>;
}

/**
 * The webhook integrations' functions exist only when the access rules declare a webhook integration, like the
 * resources they need (webhook-resources.ts): a deployment without one has no public URL and no write-back.
 */
export function serverlessWebhooks(
  settings: Pick<ServerlessSettings, 'serviceDir' | 'accessRulesFile'>,
  definitions: Readonly<Record<string, unknown>>,
): ServerlessWebhooks {
  const rules = readRulesYaml(resolve(settings.serviceDir, settings.accessRulesFile));
  if (webhookIntegrations(rules).length === 0) return { functions: {}, senderEnvironment: {} };
  const missing = WEBHOOK_FUNCTIONS.filter((name) => definitions[name] === undefined);
  if (missing.length > 0) {
    throw new Error(`serverless.yml custom.webhookFunctions must define ${missing.join(', ')}`);
  }
  return { functions: definitions, senderEnvironment: { WEBHOOK_SENDER_ARN } };
}

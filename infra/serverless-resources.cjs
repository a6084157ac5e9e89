/**
 * serverless.yml's `resources: ${file(./infra/serverless-resources.cjs)}`. osls loads JavaScript variable files
 * with require(), and package.json makes .js files ES modules, hence .cjs; the stack itself is TypeScript
 * (infra/stack/), imported through tsx so that it shares the lease table definition and the access rules
 * validator with the functions instead of copying them. Resolving it also writes the compiled access rules
 * (custom.compiledAccessRulesFile) that package.patterns puts in every zip: variables are resolved before
 * any function is packaged.
 */
const path = require('node:path');

/** Serverless's own default when neither the function nor the provider sets a timeout. */
const DEFAULT_TIMEOUT_SECONDS = 6;

module.exports = async ({ resolveVariable, resolveConfigurationProperty }) => {
  const timeoutOf = async (name) =>
    Number(
      (await resolveConfigurationProperty(['functions', name, 'timeout'])) ??
        (await resolveConfigurationProperty(['provider', 'timeout'])) ??
        DEFAULT_TIMEOUT_SECONDS,
    );
  // The ESM build of tsx's API: its CommonJS build registers a loader path that does not exist (tsx 4.23).
  const { tsImport } = await import('tsx/esm/api');
  const { serverlessResources } = await tsImport('./stack/serverless-stack.ts', __filename);
  return serverlessResources({
    serviceDir: path.resolve(__dirname, '..'),
    service: await resolveVariable('self:service'),
    stage: await resolveVariable('sls:stage'),
    accessRulesFile: await resolveVariable('param:accessRulesFile'),
    compiledAccessRulesFile: await resolveVariable('self:custom.compiledAccessRulesFile'),
    eventBusName: await resolveVariable('param:eventBusName'),
    operatorRoleArns: await resolveVariable('param:operatorRoleArns'),
    alarmTopicArn: await resolveVariable('param:alarmTopicArn'),
    leaseTable: await resolveVariable('param:leaseTable'),
    timeoutSeconds: {
      sqsIntake: await timeoutOf('sqsIntake'),
      expiryTimer: await timeoutOf('expiryTimer'),
      deadLetter: await timeoutOf('deadLetter'),
      writeBack: await timeoutOf('writeBack'),
    },
  });
};

/**
 * serverless.yml's `${file(./infra/serverless-webhooks.cjs):…}`: the webhook integrations' functions
 * (`functions.webhook`, `functions.writeBack`, defined in custom.webhookFunctions) and the intake's
 * WEBHOOK_SENDER_ARN (`senderEnvironment`), or nothing when the access rules declare no webhook integration
 * (infra/stack/serverless-stack.ts, serverlessWebhooks). A .cjs loaded through tsx for the same reasons as
 * serverless-resources.cjs.
 */
const path = require('node:path');

module.exports = async ({ resolveVariable, resolveConfigurationProperty }) => {
  const { tsImport } = await import('tsx/esm/api');
  const { serverlessWebhooks } = await tsImport('./stack/serverless-stack.ts', __filename);
  return serverlessWebhooks(
    {
      serviceDir: path.resolve(__dirname, '..'),
      accessRulesFile: await resolveVariable('param:accessRulesFile'),
    },
    (await resolveConfigurationProperty(['custom', 'webhookFunctions'])) ?? {},
  );
};

/**
 * What the Lambda bundles use in place of `@aws-sdk/credential-provider-node`, the SDK's default credential
 * chain (serverless.yml `custom.esbuild.alias`). Lambda hands a function its role's credentials in environment
 * variables, the first link of that chain; the other links (profiles, SSO, web identity, containers, instance
 * metadata) never answer there, and bundled they cost ~80 KiB of every function's 600 KiB budget. Only the
 * bundles see this substitution: `npm start`, the tests and the CLI run the SDK's own chain.
 *
 * Every client built without explicit credentials, and the STS client behind fromTemporaryCredentials (the
 * cross-account role), takes its credentials from here.
 */
import { fromEnv } from '@aws-sdk/credential-providers';

/** Same name and call shape as the default chain's export: each SDK client calls it with its own config. */
export const defaultProvider: typeof fromEnv = (init) => fromEnv(init);

#!/usr/bin/env node
// `npx eks-access-broker ...`: runs the TypeScript CLI through tsx, so there is no build step to forget.
import { register } from 'tsx/esm/api';

// Lambda runs Node 22; the SDK's notice about Node 20 would only clutter a terminal.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { runCli } = await import('./main.ts');
await runCli(process.argv.slice(2));

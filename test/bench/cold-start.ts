import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { parse } from 'yaml';
import { bundleBudgetKiB } from '../support/bundle-budget';
import { type BenchContext, median, round, row } from './support';

const run = promisify(execFile);

/**
 * serverless.yml `custom.esbuild`, read from the file so the bench bundles exactly what `npm run package`
 * ships, less the keys that are serverless-esbuild's own (not esbuild options).
 */
function packagingOptions(): BuildOptions {
  const config = parse(readFileSync('serverless.yml', 'utf8')) as { custom?: { esbuild?: unknown } };
  const {
    exclude: _exclude,
    packager: _packager,
    outputFileExtension: _extension,
    ...options
  } = (config.custom?.esbuild ?? {}) as Record<string, unknown>;
  return { ...(options as BuildOptions), metafile: true, logLevel: 'error' };
}

/** The SDK clients and commands the functions use, and nothing else. */
const SDK_FLOOR = `
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { AssociateAccessPolicyCommand, CreateAccessEntryCommand, DeleteAccessEntryCommand,
  DescribeAccessEntryCommand, DisassociateAccessPolicyCommand, EKSClient,
  ListAssociatedAccessPoliciesCommand } from '@aws-sdk/client-eks';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { BatchGetCommand, DynamoDBDocumentClient, GetCommand, QueryCommand, TransactWriteCommand,
  UpdateCommand } from '@aws-sdk/lib-dynamodb';
export const used = [DynamoDBDocumentClient.from(new DynamoDBClient({})), new EKSClient({}),
  new EventBridgeClient({}), new SQSClient({}), fromTemporaryCredentials, AssociateAccessPolicyCommand,
  CreateAccessEntryCommand, DeleteAccessEntryCommand, DescribeAccessEntryCommand,
  DisassociateAccessPolicyCommand, ListAssociatedAccessPoliciesCommand, PutEventsCommand, SendMessageCommand,
  BatchGetCommand, GetCommand, QueryCommand, TransactWriteCommand, UpdateCommand];
`;
const BENCH = '7 cold start';
const HANDLERS_DIR = 'functions/handlers';
const STARTS = 10;

/**
 * Each function bundled on its own, as serverless-esbuild packages it (serverless.yml `custom.esbuild`):
 * platform node, target node20, ESM, minified, everything bundled (the AWS SDK too), `module` before `main`
 * so the SDK's ES builds tree-shake, the credential chain cut to its environment link, and a createRequire
 * banner for the CommonJS dependencies. Then:
 * - the bundle's size, and where it comes from (esbuild's metafile, grouped by package);
 * - module init: the wall time of `node <bundle>` (loading it runs every module's top level, as Lambda's
 *   init phase does, without invoking the handler) over that of `node -e ''`, medians of 10 starts taken in
 *   turns, so the ratio holds whatever the machine.
 */
export async function coldStart(ctx: BenchContext): Promise<void> {
  const options = packagingOptions();
  const outdir = mkdtempSync(join(tmpdir(), 'eks-access-broker-bundles-'));
  try {
    const handlers = readdirSync(HANDLERS_DIR)
      .filter((file) => file.endsWith('.ts'))
      .filter((file) => /export const handler\b/.test(readFileSync(join(HANDLERS_DIR, file), 'utf8')))
      .sort();
    const bundles: { name: string; file: string; bytes: number; metafile: Metafile }[] = [];
    for (const file of handlers) {
      const name = basename(file, '.ts');
      const outfile = join(outdir, `${name}.mjs`);
      const result = await build({ ...options, entryPoints: [join(HANDLERS_DIR, file)], outfile });
      bundles.push({
        name,
        file: outfile,
        bytes: statSync(outfile).size,
        metafile: result.metafile ?? { inputs: {}, outputs: {} },
      });
    }

    // What bounds the size: the SDK clients the functions use, bundled alone with the same options.
    const floorFile = join(outdir, 'sdk-floor.mjs');
    await build({
      ...options,
      stdin: { contents: SDK_FLOOR, resolveDir: process.cwd(), loader: 'ts' },
      outfile: floorFile,
    });

    const bare: number[] = [];
    const starts = new Map<string, number[]>(bundles.map((b) => [b.name, []]));
    for (let i = 0; i < STARTS; i++) {
      bare.push(await wallMs(['-e', '']));
      for (const bundle of bundles) starts.get(bundle.name)?.push(await wallMs([bundle.file]));
    }
    const bareMs = median(bare);

    for (const bundle of bundles) {
      const kib = bundle.bytes / 1024;
      const budget = bundleBudgetKiB(bundle.name);
      row(ctx.rows, BENCH, `${bundle.name}: bundle size (KiB, minified, SDK bundled)`, round(kib, 1), {
        bar: `<= ${budget}`,
        pass: kib <= budget,
      });
      const initMs = median(starts.get(bundle.name) ?? []);
      row(
        ctx.rows,
        BENCH,
        `${bundle.name}: node <bundle> / node -e '' (median of ${STARTS})`,
        round(initMs / bareMs),
      );
    }
    row(ctx.rows, BENCH, `node -e '' (ms, this machine)`, round(bareMs, 1));
    row(
      ctx.rows,
      BENCH,
      'floor: the SDK clients and commands used, alone (KiB)',
      round(statSync(floorFile).size / 1024, 1),
    );
    const largest = bundles.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    row(ctx.rows, BENCH, `${largest.name}: where the bytes come from (KiB)`, breakdown(largest.metafile));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

async function wallMs(args: readonly string[]): Promise<number> {
  const t0 = performance.now();
  await run(process.execPath, [...args], { env: { PATH: process.env.PATH }, timeout: 60_000 });
  return performance.now() - t0;
}

/** Output bytes per origin: the AWS SDK, Powertools, zod, yaml, middy, this project, and the rest. */
function breakdown(metafile: Metafile): string {
  const groups = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const group = groupOf(path);
      groups.set(group, (groups.get(group) ?? 0) + input.bytesInOutput);
    }
  }
  return [...groups.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([group, bytes]) => `${group} ${Math.round(bytes / 1024)}`)
    .join(', ');
}

function groupOf(path: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (!match) return 'this project';
  const name = match[1] ?? '';
  if (name.startsWith('@aws-sdk/') || name.startsWith('@smithy/') || name.startsWith('@aws/'))
    return 'AWS SDK';
  if (name.startsWith('@aws-lambda-powertools/')) return 'Powertools';
  if (name === 'mnemonist' || name === 'obliterator') return 'AWS SDK';
  return name;
}

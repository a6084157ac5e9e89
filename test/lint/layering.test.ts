/**
 * The layering README.md describes is enforced by Biome's noRestrictedImports (biome.json, one override per
 * folder), which `npm test` runs over the tree. Here each rule is tried on a probe file placed where the rule
 * applies, with biome.json as it is: an import that breaks the layering must fail the lint, and one the
 * layering allows must pass (so a rule that forbids everything would be caught too).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIOME = join(process.cwd(), 'node_modules', '.bin', 'biome');

// [where the importing file is, what it imports, whether the layering allows it]
const CASES: readonly (readonly [string, string, boolean])[] = [
  ['functions/core/probe.ts', 'zod', true],
  ['functions/core/probe.ts', './model', true],
  ['functions/core/probe.ts', '@aws-sdk/client-eks', false],
  ['functions/core/probe.ts', '@aws-lambda-powertools/logger', false],
  ['functions/core/probe.ts', '../app/ports', false],
  ['functions/core/probe.ts', '../adapters/eks-access', false],
  ['functions/core/probe.ts', '../runtime', false],
  ['functions/core/probe.ts', '../../infra/local/edge', false],
  ['functions/app/probe.ts', './ports', true],
  ['functions/app/probe.ts', '../core/planner', true],
  ['functions/app/probe.ts', '../adapters/lease-table', false],
  ['functions/app/probe.ts', '@aws-sdk/client-dynamodb', false],
  ['functions/app/probe.ts', '../runtime', false],
  ['functions/app/probe.ts', '../config/environment', false],
  ['functions/adapters/probe.ts', '../app/ports', true],
  ['functions/adapters/probe.ts', '@aws-sdk/client-eks', true],
  ['functions/adapters/probe.ts', '../app/grant', false],
  ['functions/adapters/lease-table/probe.ts', '../../app/ports', true],
  ['functions/adapters/lease-table/probe.ts', '../../app/deps', false],
  ['functions/adapters/lease-table/probe.ts', '../../../infra/local/lease-table', false],
  ['functions/handlers/probe.ts', '../app/intake', true],
  ['functions/handlers/probe.ts', '../runtime', true],
  ['functions/handlers/probe.ts', '../adapters/eks-access', false],
  ['functions/config/probe.ts', '../core/errors', true],
  ['functions/config/probe.ts', '../app/deps', false],
  ['functions/cli/probe.ts', '../adapters/lease-table', true],
  ['functions/cli/probe.ts', '../../infra/local/broker', false],
  ['functions/probe.ts', '../infra/lease-table', false],
  ['infra/stack/probe.ts', '../../functions/adapters/lease-table/schema', true],
];

let root = '';

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'eks-access-broker-layering-'));
  // The project's own configuration, less what needs a git checkout.
  const config = JSON.parse(readFileSync('biome.json', 'utf8')) as Record<string, unknown>;
  delete config.vcs;
  delete config.$schema;
  writeFileSync(join(root, 'biome.json'), JSON.stringify(config));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Lints a one-import file at `path`; true when Biome passes it. */
async function lintPasses(path: string, specifier: string): Promise<boolean> {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `import * as imported from '${specifier}';\n\nexport const probe = imported;\n`);
  try {
    await run(BIOME, ['lint', '--max-diagnostics=0', path], { cwd: root });
    return true;
  } catch (error) {
    const output =
      String((error as { stdout?: unknown }).stdout) + String((error as { stderr?: unknown }).stderr);
    // Only a layering refusal counts as a refusal: any other lint failure is a broken probe.
    expect(output, `${path} importing ${specifier}`).not.toMatch(/lint\/(?!style\/noRestrictedImports)/);
    return false;
  } finally {
    rmSync(file);
  }
}

describe('the layering, as the linter enforces it', () => {
  it.each(CASES)('%s importing %s: allowed %s', async (path, specifier, allowed) => {
    await expect(lintPasses(path, specifier)).resolves.toBe(allowed);
  });
});

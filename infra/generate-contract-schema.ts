/**
 * Writes events/schema/request-contract.schema.json from the zod schemas the parser uses, so integrators get a
 * JSON Schema that cannot disagree with the broker. Run after any change to functions/core/contract.ts:
 *   npx tsx infra/generate-contract-schema.ts
 * test/core/contract.test.ts fails while the committed file is stale.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { contractJsonSchema } from '../functions/core/contract';

export const CONTRACT_SCHEMA_PATH = fileURLToPath(
  new URL('../events/schema/request-contract.schema.json', import.meta.url),
);

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(CONTRACT_SCHEMA_PATH, `${JSON.stringify(contractJsonSchema(), null, 2)}\n`);
  // Biome folds short arrays; formatting here keeps `npm run lint` clean after a regeneration.
  execFileSync('npx', ['biome', 'format', '--write', CONTRACT_SCHEMA_PATH], { stdio: 'inherit' });
  console.log(`wrote ${CONTRACT_SCHEMA_PATH}`);
}

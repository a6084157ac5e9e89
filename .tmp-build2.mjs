import { build } from 'esbuild';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
const variant = process.argv[2];
const plugin = { name: 'rewrite', setup(b) { b.onLoad({ filter: /functions\/core\/(contract|rules)\.ts$/ }, (a) => {
  let src = readFileSync(a.path, 'utf8');
  if (variant.includes('ns')) src = src.replace("import { z } from 'zod';", "import * as z from 'zod';");
  if (variant.includes('v4core')) src = src.replace("import { z } from 'zod';", "import * as z from 'zod/v4/classic/external.js';");
  return { contents: src, loader: 'ts' }; }); } };
const r = await build({ entryPoints: ['functions/handlers/sqs-intake.ts'], bundle: true, minify: true, platform: 'node', target: 'node20', format: 'esm', outfile: '/tmp/bb/x.mjs', metafile: true, mainFields: ['module','main'], plugins: [plugin], logLevel: 'error' });
writeFileSync('/tmp/bb/x.meta.json', JSON.stringify(r.metafile));
console.log((statSync('/tmp/bb/x.mjs').size/1024).toFixed(1));
const out=Object.values(r.metafile.outputs)[0]; let zs=0; for (const [f,v] of Object.entries(out.inputs)) if (f.includes('zod')) zs+=v.bytesInOutput; console.log('zod', (zs/1024).toFixed(1));

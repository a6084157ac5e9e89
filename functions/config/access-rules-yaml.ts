/**
 * The access rules as people write them: YAML (infra/access-rules.yaml). Read here by packaging, the local
 * broker and the CLI, and compiled to the JSON document the functions load at cold start
 * (access-rules-file.ts), so the Lambda bundles carry no YAML parser: no handler imports this module. Both
 * ends validate with the same core (validateRules): a file that would stop a cold start stops packaging first.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseDocument } from 'yaml';
import { type AccessRules, rulesError, validateRules } from '../core/rules';
import { readRulesText } from './access-rules-file';

/** Parses YAML rules text and validates it; ConfigurationError lists every problem, syntax ones first. */
export function loadRulesYaml(yamlText: string, origin: string): AccessRules {
  return validateRules(parseRulesYaml(yamlText, origin), origin);
}

/** Reads and validates a YAML rules file. */
export function readRulesYaml(path: string): AccessRules {
  return loadRulesYaml(readRulesText(path), path);
}

/**
 * Validates the YAML rules file at `source` and writes its document as JSON to `target` (atomically: a reader
 * never sees half a file). Returns the validated rules.
 */
export function compileRules(source: string, target: string): AccessRules {
  const document = parseRulesYaml(readRulesText(source), source);
  const rules = validateRules(document, source);
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.${process.pid}.tmp`;
  writeFileSync(partial, `${JSON.stringify(document, null, 2)}\n`);
  renameSync(partial, target);
  return rules;
}

/**
 * YAML to plain data. Duplicate keys, syntax errors and warnings are problems (a duplicated key silently
 * dropping a rule would be a hole); aliases are capped against expansion bombs.
 */
function parseRulesYaml(yamlText: string, origin: string): unknown {
  const document = parseDocument(yamlText, { prettyErrors: true, uniqueKeys: true });
  const syntax = [...document.errors, ...document.warnings].map((error) => firstLine(error.message));
  if (syntax.length > 0) throw rulesError(origin, syntax);
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw rulesError(origin, [error instanceof Error ? firstLine(error.message) : String(error)]);
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]?.replace(/:$/, '') ?? message;
}

/**
 * Reads the access rules at cold start: the JSON document compiled from the YAML rules file at package time
 * (access-rules-yaml.ts), so no YAML parser ships in the bundle. Kept out of functions/core so the core stays
 * free of I/O: the core validates the document (validateRules), this file only finds, reads and parses it,
 * and names the path when it cannot.
 */
import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../core/errors';
import { type AccessRules, rulesError, validateRules } from '../core/rules';

export function loadRulesFile(path: string): AccessRules {
  const text = readRulesText(path);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    const hint = /\.ya?ml$/i.test(path)
      ? ' (the functions read the JSON compiled from the YAML rules file: `npm run package` writes it)'
      : '';
    throw rulesError(path, [`not a JSON document${hint}: ${detail}`]);
  }
  return validateRules(document, path);
}

/** The text of a rules file (JSON or YAML); ConfigurationError naming the path when it cannot be read. */
export function readRulesText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ConfigurationError(`cannot read access rules file ${path}: ${detail}`, { cause: error });
  }
}

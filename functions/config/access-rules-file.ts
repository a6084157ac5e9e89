/**
 * Reads the access rules file from disk. Kept out of functions/core so the core stays free of I/O: the core
 * parses text (loadRules), this file only finds and reads it, and names the path when it cannot.
 */
import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../core/errors';
import { type AccessRules, loadRules } from '../core/rules';

export function loadRulesFile(path: string): AccessRules {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ConfigurationError(`cannot read access rules file ${path}: ${detail}`, { cause: error });
  }
  return loadRules(text, path);
}

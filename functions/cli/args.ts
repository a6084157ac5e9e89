import { parseArgs } from 'node:util';
import { CliError } from './errors';

const OPTIONS = {
  cluster: { type: 'string' },
  principal: { type: 'string' },
  policy: { type: 'string' },
  namespace: { type: 'string', multiple: true },
  'cluster-wide': { type: 'boolean' },
  duration: { type: 'string' },
  by: { type: 'string' },
  reason: { type: 'string' },
  ticket: { type: 'string' },
  'request-id': { type: 'string' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  stage: { type: 'string' },
  table: { type: 'string' },
  bus: { type: 'string' },
  source: { type: 'string' },
  rules: { type: 'string' },
  'requested-by': { type: 'string' },
  'no-proof': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The options after the command, as given (main.ts's USAGE explains each). */
export type CliOptions = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>['values'];

/** Reads the arguments after the command; an unknown option fails with parseArgs's own sentence. */
export function parseOptions(args: readonly string[]): { options: CliOptions; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    return { options: values, positionals };
  } catch (error) {
    throw new CliError(`${(error as Error).message}. See npx eks-access-broker --help`);
  }
}

export function requireId(positionals: readonly string[], command: string): string {
  const [id, ...extra] = positionals;
  if (!id || extra.length > 0) throw new CliError(`Usage: npx eks-access-broker ${command} <requestId> ...`);
  return id;
}

export function need<T>(value: T | undefined, what: string): T {
  return value ?? missing(what);
}

export function missing(what: string): never {
  throw new CliError(`Missing ${what}. See npx eks-access-broker --help`);
}

/** `90`, `90s`, `30m`, `2h`, `1h30m`. */
export function parseDuration(text: string, option: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$/.exec(text.trim());
  const total = match
    ? Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0)
    : Number.NaN;
  if (!match || !text.trim() || !(total > 0)) {
    throw new CliError(
      `${option} ${JSON.stringify(text)} is not a duration: use e.g. 90s, 30m, 2h or 1h30m.`,
    );
  }
  return total;
}

export function parseTicket(text: string): { system: string; key: string } {
  const [system, ...key] = text.split(':');
  if (!system || key.length === 0 || !key.join(':'))
    throw new CliError(`--ticket ${JSON.stringify(text)}: use system:key, e.g. jira:OPS-123.`);
  return { system, key: key.join(':') };
}

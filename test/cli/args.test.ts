import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../functions/cli/args';
import { CliError } from '../../functions/cli/errors';

describe('the CLI arguments', () => {
  it('reads durations as people write them', () => {
    expect([
      parseDuration('90', 'd'),
      parseDuration('90s', 'd'),
      parseDuration('30m', 'd'),
      parseDuration('1h30m', 'd'),
    ]).toEqual([90, 90, 1800, 5400]);
    expect(() => parseDuration('soon', '--duration')).toThrow(/use e.g. 90s, 30m, 2h or 1h30m/);
    expect(() => parseDuration('0m', '--duration')).toThrow(CliError);
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sampleEvent } from '../support/fixtures';

interface PutEventsEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
}

describe('events/put-events', () => {
  const files = readdirSync('events/put-events').filter((f) => f.endsWith('.json'));

  it.each(files)('%s is the PutEvents form of the sample event of the same name', (file) => {
    const entries = JSON.parse(readFileSync(`events/put-events/${file}`, 'utf8')) as PutEventsEntry[];
    const sample = sampleEvent(file);

    expect(entries).toHaveLength(1);
    expect(entries[0]?.Source).toBe(sample.source);
    expect(entries[0]?.DetailType).toBe(sample['detail-type']);
    expect(JSON.parse(entries[0]?.Detail ?? '{}')).toEqual(sample.detail);
  });

  it('covers every request sample', () => {
    expect(files.sort()).toEqual([
      'extend.json',
      'grant-break-glass.json',
      'grant-cluster.json',
      'grant-namespaced.json',
      'revoke.json',
    ]);
  });
});

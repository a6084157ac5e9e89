import { describe, expect, it } from 'vitest';
import { fieldTexts } from '../../../functions/core/tickets/fields';

describe('a Jira field read as text', () => {
  it.each([
    ['a text field, trimmed', '  demo ', ['demo']],
    ['a number field', 4, ['4']],
    ['a select option', { self: 'https://x/option/1', value: 'demo', id: '1' }, ['demo']],
    ['a component or version', { name: 'payments' }, ['payments']],
    ['labels', ['team-a', 'team-b'], ['team-a', 'team-b']],
    ['a multi-select', [{ value: 'team-a' }, { value: 'team-b' }], ['team-a', 'team-b']],
    ['an absent field', undefined, []],
    ['a field Jira answers null', null, []],
    ['blank text', '   ', []],
  ])('reads %s', (_, value, expected) => {
    expect(fieldTexts(value)).toEqual({ ok: true, values: expected });
  });

  it('reads a paragraph field (Atlassian Document Format), a line per block', () => {
    const document = {
      type: 'doc',
      version: 1,
      content: [
        {
          type: 'paragraph',
          content: [
            { type: 'text', text: 'team-' },
            { type: 'text', text: 'a' },
          ],
        },
        {
          type: 'bulletList',
          content: [
            {
              type: 'listItem',
              content: [{ type: 'paragraph', content: [{ type: 'text', text: 'team-b' }] }],
            },
          ],
        },
        {
          type: 'paragraph',
          content: [
            { type: 'text', text: 'team-c' },
            { type: 'hardBreak' },
            { type: 'text', text: 'team-d' },
          ],
        },
      ],
    };

    expect(fieldTexts(document)).toEqual({ ok: true, values: ['team-a\nteam-b\nteam-c\nteam-d'] });
  });

  it.each([
    ['a boolean', true, 'a boolean'],
    ['a user picker', { accountId: 'acc-1', displayName: 'Carol' }, 'an object without a value or a name'],
    ['an infinite number', Number.POSITIVE_INFINITY, 'a number that is not finite'],
    ['an array holding an object without text', ['team-a', { id: 1 }], 'an object without a value or a name'],
    [
      'values nested beyond reason',
      JSON.parse(`${'['.repeat(40)}"x"${']'.repeat(40)}`),
      'values nested too deep',
    ],
  ])('says what it holds instead of text for %s', (_, value, holds) => {
    expect(fieldTexts(value)).toEqual({ ok: false, holds });
  });
});

import { describe, expect, it } from 'vitest';
import { plainText, ticketFor } from '../../../functions/core/tickets/ticket-request';

describe('free text a ticket lends a request', () => {
  it('becomes one line without control characters', () => {
    expect(plainText('Disk\tfull\r\n on  node\u0000 7\u007f', 100)).toBe('Disk full on node 7');
  });

  it('replaces a lone surrogate, which has no UTF-8 encoding', () => {
    expect(plainText('a\uD800b', 10)).toBe('a\uFFFDb');
  });

  it('is cut to the limit with an ellipsis, never splitting a surrogate pair', () => {
    expect(plainText('abcdef', 4)).toBe('abc…');
    expect(plainText('ab😀cdef', 4)).toBe('ab…');
    expect(plainText('abcd', 4)).toBe('abcd');
  });
});

describe('the ticket a request names', () => {
  it('keeps an https link and leaves out any other', () => {
    expect(ticketFor('jira', 'ACCESS-1', 'https://example.atlassian.net/browse/ACCESS-1')).toEqual({
      system: 'jira',
      key: 'ACCESS-1',
      url: 'https://example.atlassian.net/browse/ACCESS-1',
    });
    expect(ticketFor('jira', 'ACCESS-1', 'http://127.0.0.1:4580/browse/ACCESS-1')).toEqual({
      system: 'jira',
      key: 'ACCESS-1',
    });
    expect(ticketFor('jira', 'ACCESS-1', undefined)).toEqual({ system: 'jira', key: 'ACCESS-1' });
  });
});

/**
 * Every value placed in a Graph URL is one path segment of the collection it is meant for (issue 11, item 4).
 */
import t from 'tap';
import { InvalidGraphSegment, graphSegment } from '../../daemon/directory/graph-path.js';

t.test('a value becomes exactly one segment under its collection', async (t) => {
  const base = 'https://graph.example/v1.0/users/';
  for (const value of ['alice@contoso.com', 'a/b', 'a\\b', '%2e%2e', '..a', 'a?b#c', "o'brien@contoso.com", 'x(1)', 'a b', 'é@contoso.com', '😀']) {
    const url = new URL(base + graphSegment(value) + '?$select=id');
    t.equal(url.origin + url.pathname.slice(0, '/v1.0/users/'.length), 'https://graph.example/v1.0/users/', `${value}: stays under /users/`);
    const segments = url.pathname.slice('/v1.0/users/'.length).split('/');
    t.equal(segments.length, 1, `${value}: one segment`);
    t.equal(decodeURIComponent(segments[0]!), value, `${value}: decodes to itself`);
    t.equal(url.search, '?$select=id', `${value}: the query is ours`);
  }
});

t.test('values that cannot name one object are refused, saying why', async (t) => {
  for (const [value, reason] of [
    ['', /empty/],
    [' ', /empty/],
    ['\t', /empty/],
    ['.', /names no object/],
    ['..', /names no object/],
    [' .. ', /names no object/],
    ['a\nb', /control character/],
    ['\ud800', /surrogate/],
    ['$count', /OData feature/],
  ] as const) {
    t.throws(() => graphSegment(value), InvalidGraphSegment, JSON.stringify(value));
    t.throws(() => graphSegment(value), { message: reason });
  }
});

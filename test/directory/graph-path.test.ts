/**
 * Every value placed in a Graph URL is one path segment of the collection it is meant for (issue 11, item 4).
 */
import fc from 'fast-check';
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

t.test('an id of letters, digits, - and _ is its own segment, as the full encoding makes it', async (t) => {
  t.equal(graphSegment('0f5a4ab1-3c8d-4e2f-9a6b-7c1d2e3f4a5b'), '0f5a4ab1-3c8d-4e2f-9a6b-7c1d2e3f4a5b');
  fc.assert(fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/), (value) => graphSegment(value) === encodeURIComponent(value)), { numRuns: 500, seed: 20261201 });
  t.pass('500 ids');
});

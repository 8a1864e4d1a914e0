import fc from 'fast-check';
import t from 'tap';
import { decodeLapsPassword, toLapsCredentials } from '../../daemon/directory/laps.js';

const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const utf16 = (s: string) => Buffer.from(s, 'utf16le').toString('base64');

t.test('passwords decode whether Graph sent UTF-8 or UTF-16LE', async (t) => {
  for (const password of ['Xy7#kP2m!q', 'correct-horse-battery', 'ab', 'Zürich-2026!']) {
    t.equal(decodeLapsPassword(utf8(password)), password, `UTF-8 ${password}`);
  }
  for (const password of ['Xy7#kP2m!q', 'correct-horse-battery', 'ab']) {
    t.equal(decodeLapsPassword(utf16(password)), password, `UTF-16LE ${password}`);
  }
  t.equal(decodeLapsPassword(''), '');
});

t.test('credentials come out newest first; only the current one has an expiration', async (t) => {
  const credentials = toLapsCredentials({
    id: 'dev-1',
    deviceName: 'PC01',
    refreshDateTime: '2026-12-01T00:00:00Z',
    credentials: [
      { accountName: 'OldAdmin', backupDateTime: '2026-10-01T00:00:00Z', passwordBase64: utf16('oldest') },
      { accountName: 'LapsAdmin', backupDateTime: '2026-11-20T08:30:00Z', passwordBase64: utf8('current') },
      { accountName: 'LapsAdmin', backupDateTime: '2026-11-01T00:00:00Z', passwordBase64: utf8('previous') },
    ],
  });
  t.same(credentials, [
    { account: 'LapsAdmin', password: 'current', passwordUpdateTime: '2026-11-20T08:30:00.000Z', passwordExpirationTime: '2026-12-01T00:00:00.000Z' },
    { account: 'LapsAdmin', password: 'previous', passwordUpdateTime: '2026-11-01T00:00:00.000Z' },
    { account: 'OldAdmin', password: 'oldest', passwordUpdateTime: '2026-10-01T00:00:00.000Z' },
  ]);
  t.same(toLapsCredentials({ id: 'dev-2', deviceName: 'PC02' }), [], 'no credentials selected, none returned');
});

t.test('a read of the current password decodes that one only', async (t) => {
  const info = {
    id: 'dev-1',
    deviceName: 'PC01',
    credentials: [
      { accountName: 'LapsAdmin', backupDateTime: '2026-11-01T00:00:00Z', passwordBase64: utf8('previous') },
      { accountName: 'LapsAdmin', backupDateTime: '2026-11-20T08:30:00Z', passwordBase64: utf8('current') },
    ],
  };
  t.same(toLapsCredentials(info, 1), [{ account: 'LapsAdmin', password: 'current', passwordUpdateTime: '2026-11-20T08:30:00.000Z' }]);
});

t.test('the current password alone is the first of the whole list, whatever the order and ties Graph sends', async (t) => {
  const credential = fc.record({
    accountName: fc.constantFrom('LapsAdmin', 'OldAdmin'),
    backupDateTime: fc.integer({ min: Date.parse('2026-01-01T00:00:00Z'), max: Date.parse('2026-01-01T00:00:09Z') }).map((ms) => new Date(ms - (ms % 1000)).toISOString()),
    passwordBase64: fc.string({ minLength: 1, maxLength: 12 }).map(utf8),
  });
  const info = fc.record({ id: fc.constant('dev-1'), deviceName: fc.constant('PC01'), refreshDateTime: fc.constant('2026-12-01T00:00:00Z'), credentials: fc.array(credential, { maxLength: 8 }) });
  fc.assert(fc.property(info, (i) => JSON.stringify(toLapsCredentials(i, 1)) === JSON.stringify(toLapsCredentials(i).slice(0, 1))), { numRuns: 500, seed: 20261201 });
  t.pass('500 lists');
});

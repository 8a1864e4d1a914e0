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

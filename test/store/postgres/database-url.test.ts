/**
 * Database URLs in messages: the password never shown, whether it is in the user part or the query,
 * and a string that is no PostgreSQL URL refused without being repeated.
 */
import t from 'tap';
import { DatabaseUrlError, checkDatabaseUrl, redactDatabaseUrl, redactPassword } from '../../../daemon/store/postgres/database-url.js';

t.test('the password is replaced by ***, wherever the URL holds it', async (t) => {
  t.equal(redactDatabaseUrl('postgres://amsd:s3cret@db:5432/amsd'), 'postgres://amsd:***@db:5432/amsd');
  t.equal(redactDatabaseUrl('postgresql://amsd@db/amsd?password=s3cret&sslmode=require'), 'postgresql://amsd@db/amsd?password=***&sslmode=require');
  t.equal(redactDatabaseUrl('postgres://amsd@db/amsd'), 'postgres://amsd@db/amsd', 'nothing to hide: unchanged');
  t.equal(redactDatabaseUrl('not a url s3cret'), '(a database URL that cannot be parsed)', 'what cannot be parsed is not shown at all');
  const url = 'postgres://amsd:p%40ss%20word@db/amsd';
  t.equal(redactPassword(`could not connect to ${url}: password p@ss word refused`, url), 'could not connect to postgres://amsd:***@db/amsd: password *** refused', 'in any text, encoded or not');
  t.equal(redactPassword('no password here', 'postgres://amsd@db/amsd'), 'no password here');
  t.equal(redactPassword('x not a url s3cret y', 'not a url s3cret'), 'x (a database URL that cannot be parsed) y');
});

t.test('only postgres:// and postgresql:// URLs with a host are taken; the refusal never repeats the URL', async (t) => {
  t.equal(checkDatabaseUrl('postgres://db/amsd'), 'postgres://db/amsd');
  t.equal(checkDatabaseUrl('postgresql://u:p@db:6543/amsd'), 'postgresql://u:p@db:6543/amsd');
  for (const [given, problem] of [
    ['db.contoso.com:5432/amsd?password=s3cret', /is not a URL|has the scheme db\.contoso\.com/],
    ['mysql://root:s3cret@db/amsd', /has the scheme mysql, not postgres or postgresql/],
    ['postgres:///amsd?password=s3cret', /names no host/],
  ] as const) {
    const error = t.throws(() => checkDatabaseUrl(given)) as Error;
    t.type(error, DatabaseUrlError);
    t.match(error.message, problem, given.split(':')[0]!);
    t.notMatch(error.message, 's3cret');
  }
});

/**
 * The domain errors: what each kind carries, and that the errors module stays a leaf (nothing of the
 * daemon below it) and the one way services report failures (none of them imports http/).
 */
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import t from 'tap';
import { ConflictError, DomainError, NotFoundError, ValidationError } from '../../daemon/common/errors.js';

const DAEMON = join(import.meta.dirname, '..', '..', 'daemon');

t.test('a refusal keeps the kind, detail and candidates of the error it answers with', async (t) => {
  const ambiguous = new ConflictError('ambiguous-device', '2 devices match', { candidates: [{ deviceName: 'PC', deviceId: 'a', tenantId: 't' }] });
  const refusal = ambiguous.withResultCode('AmbiguousDevice');
  t.ok(refusal instanceof ConflictError && refusal instanceof DomainError, 'still a conflict');
  t.match(refusal, { reason: 'ambiguous-device', message: '2 devices match', resultCode: 'AmbiguousDevice', candidates: [{ deviceName: 'PC' }] });
  t.equal(ambiguous.resultCode, undefined, 'the error answered with is left as it was');
  t.equal(new NotFoundError('x', 'y', { resultCode: 'DeviceNotFound' }).name, 'NotFoundError');
});

t.test('a validation error names every field in its detail', async (t) => {
  const error = new ValidationError([
    { path: 'body/name', message: 'must contain more than spaces' },
    { path: 'body/role', message: 'must be one of: admin, user' },
  ]);
  t.equal(error.reason, 'validation-failed');
  t.equal(error.message, 'The request is invalid: body/name must contain more than spaces; body/role must be one of: admin, user.');
});

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name));
}

t.test('errors.ts imports nothing of the daemon, and no service or handler imports http/', async (t) => {
  const leaf = await readFile(join(DAEMON, 'common', 'errors.ts'), 'utf8');
  t.same([...leaf.matchAll(/from '([^']+)'/g)].map((m) => m[1]).filter((from) => !from!.startsWith('node:') && from !== '../../openapi/ams.js'), []);
  const importers: string[] = [];
  for (const file of await sources(DAEMON)) {
    const where = relative(DAEMON, file);
    if (where.startsWith('http/') || !where.includes('/')) continue;
    // Spec loading is http/spec.ts until it moves under openapi/ (issue 13, item 5).
    const imported = [...(await readFile(file, 'utf8')).matchAll(/from '(?:\.\.\/)+http\/([^']+)'/g)].map((m) => m[1]).filter((module) => module !== 'spec.js');
    if (imported.length > 0) importers.push(`${where}: ${imported.join(', ')}`);
  }
  t.same(importers, [], 'only http/ and the top (app.ts, daemon.ts, cli.ts) import http/');
});

import t from 'tap';
import { randomBytes } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSealer, loadMasterKey } from '../../daemon/store/sealing.js';
import { tempDir } from '../helpers.js';

t.test('sealed values open only with the same key and context, and hide the plaintext', async (t) => {
  const sealer = createSealer(randomBytes(32));
  const secret = 'client-secret-~Q8~value';
  const sealed = sealer.seal(secret, 'tenant:1:clientSecret');
  t.notOk(sealed.includes(secret));
  t.not(sealer.seal(secret, 'tenant:1:clientSecret'), sealed, 'a fresh IV every time');
  t.equal(sealer.unseal(sealed, 'tenant:1:clientSecret'), secret);
  t.throws(() => sealer.unseal(sealed, 'tenant:2:clientSecret'), 'bound to its context');
  t.throws(() => createSealer(randomBytes(32)).unseal(sealed, 'tenant:1:clientSecret'), 'bound to its key');
  const [v, iv, tag, ct] = sealed.split('.');
  const flipped = Buffer.from(ct!, 'base64url');
  flipped[0]! ^= 1;
  t.throws(() => sealer.unseal([v, iv, tag, flipped.toString('base64url')].join('.'), 'tenant:1:clientSecret'), 'tampering is detected');
});

t.test('the master key is generated once with mode 0600, then reused', async (t) => {
  const dir = await tempDir(t);
  const first = await loadMasterKey(dir, undefined);
  t.equal(first.generated, true);
  t.equal(first.key.length, 32);
  t.equal((await stat(join(dir, 'master.key'))).mode & 0o777, 0o600);
  const second = await loadMasterKey(dir, undefined);
  t.equal(second.generated, false);
  t.same(second.key, first.key);
});

t.test('$AMS_MASTER_KEY_FILE may hold raw, hex or base64 bytes; anything else is refused', async (t) => {
  const dir = await tempDir(t);
  const bytes = randomBytes(32);
  for (const [name, content] of [['raw', bytes], ['hex', bytes.toString('hex') + '\n'], ['base64', bytes.toString('base64')]] as const) {
    const file = join(dir, `${name}.key`);
    await writeFile(file, content, { mode: 0o600 });
    const loaded = await loadMasterKey(dir, file);
    t.same(loaded.key, bytes, name);
    t.equal(loaded.warning, undefined);
  }
  const loose = join(dir, 'loose.key');
  await writeFile(loose, bytes.toString('hex'), { mode: 0o644 });
  t.match((await loadMasterKey(dir, loose)).warning, /can be read by other users.*chmod 600/);
  const short = join(dir, 'short.key');
  await writeFile(short, 'too-short');
  await t.rejects(loadMasterKey(dir, short), /must hold 32 bytes/);
  await t.rejects(loadMasterKey(dir, join(dir, 'missing.key')), /Cannot read the master key file/);
});

/**
 * The Node the README and package.json name is one every installed package supports: `npm install`
 * on it gives no EBADENGINE warning (a dependency that wants Node 22 would be a broken promise).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import t from 'tap';
import { packageRoot } from '../../openapi/package-root.js';

const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(packageRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };

t.test('every package in the lock file runs on the oldest Node we say we support', async (t) => {
  const oldest = semver.minVersion(manifest.engines.node)!.version;
  const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
  t.match(readme, new RegExp(`Node\\.js ${oldest.replace(/\.0$/, '').replace(/\./g, '\\.')} or later`), `the README names Node ${oldest}`);
  const refusing = Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.engines && !Array.isArray(entry.engines) && entry.engines.node && !semver.satisfies(oldest, entry.engines.node))
    .map(([path, entry]) => `${path.replace(/^node_modules\//, '')}@${entry.version} wants Node ${(entry.engines as { node: string }).node}`);
  t.same(refusing, [], `packages that would warn EBADENGINE on Node ${oldest}`);
});

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding amsd's package.json. Found by walking up, because this file runs both from
 * `openapi/` (tests, through tsx) and from `dist/openapi/` (production), at different depths.
 * The contract, the generator's templates and the generated module are all found from it.
 */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'amsd') return dir;
    } catch {
      // no package.json here: keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('amsd: cannot find the package root (package.json named "amsd")');
    dir = parent;
  }
}

export const packageRoot = findPackageRoot();

export const packageVersion: string = (
  JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }
).version;

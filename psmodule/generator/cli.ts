#!/usr/bin/env node
/**
 * `node dist/psmodule/generator/cli.js [--spec FILE|URL] [--out DIR] [--check]`: what `npm run generate`
 * and `npm run check:generated` run. `--check` writes nothing and exits 1 when the module in DIR is not
 * what the spec generates.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { checkModule, DEFAULT_OUT_DIR, generateModule } from './index.js';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const USAGE = 'usage: generate-module [--spec FILE|URL] [--out DIR] [--check]';

export async function runGeneratorCli(argv: string[], io: CliIo = { out: console.log, err: console.error }): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { spec: { type: 'string' }, out: { type: 'string' }, check: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const options = { ...(values.spec ? { spec: values.spec } : {}), outDir: values.out ?? DEFAULT_OUT_DIR };
  try {
    if (values.check) {
      const { outDir, stale, warnings } = await checkModule(options);
      for (const warning of warnings) io.err(`warning: ${warning}`);
      if (stale.length > 0) {
        io.err(`The PowerShell module in ${outDir} is stale (run npm run generate):\n${stale.map((s) => `  ${s}`).join('\n')}`);
        return 1;
      }
      io.out(`The PowerShell module in ${outDir} is up to date.`);
      return 0;
    }
    const { outDir, files, warnings } = await generateModule(options);
    for (const warning of warnings) io.err(`warning: ${warning}`);
    io.out(`Wrote the AccessManager module (${files.length} files) to ${outDir}`);
    return 0;
  } catch (error) {
    io.err((error as Error).message);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runGeneratorCli(process.argv.slice(2));
}

/**
 * A build step (`npm run build`, after tsc): writes the contract as JSON beside the compiled loader
 * (dist/openapi/ams.json), so that starting the daemon parses JSON rather than 113 KB of YAML. The
 * file is rewritten only when its content changes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { builtSpecPath, specAsJson } from '../openapi/contract.js';

const json = specAsJson();
let current: string | undefined;
try {
  current = readFileSync(builtSpecPath, 'utf8');
} catch {
  // not built yet
}
if (current !== json) writeFileSync(builtSpecPath, json);

#!/usr/bin/env node
/**
 * `npm run test:reliability`: runs test/reliability/*.test.ts with tap (seeded, bounded: the same requests
 * every run), then prints the figures each file recorded as one table. Exits with tap's exit code.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const files = readdirSync(here).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test', 'reliability', f));
const dir = mkdtempSync(join(tmpdir(), 'amsd-reliability-'));
const figuresFile = join(dir, 'figures.jsonl');
const tap = spawnSync('npx', ['tap', '--jobs', '1', '--timeout', '600', '--disable-coverage', ...files], {
  stdio: 'inherit',
  env: { ...process.env, AMS_RELIABILITY_FIGURES: figuresFile },
});

let rows = [];
try {
  rows = readFileSync(figuresFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
} catch {
  // no file recorded anything (they failed before their end)
}
rmSync(dir, { recursive: true, force: true });
const lines = rows.flatMap(({ source, figures }) => Object.entries(figures).map(([name, value]) => [source, name, String(value)]));
const widths = [0, 1, 2].map((i) => Math.max(...[['suite', 'figure', 'value'], ...lines].map((row) => row[i].length)));
const format = (row) => row.map((cell, i) => (i === 2 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ');
process.stdout.write(`\nReliability figures\n${format(['suite', 'figure', 'value'])}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${lines.map(format).join('\n')}\n`);
if (lines.length === 0) process.stdout.write('(no figures: the suites did not reach their end)\n');
process.exit(tap.status ?? 1);

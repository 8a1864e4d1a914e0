/**
 * Start-up: `node dist/daemon/cli.js serve` spawned to its first 200 from /v1/health.
 * - `startupMs`: on a fresh data directory each time (a master key, a bootstrap key, an empty trail),
 *   beside a bare `node -e` spawned to its first line, in alternating rounds.
 * - `startupMs100kEvents`: on a data directory whose audit trail holds 100,000 events (made once per
 *   run, then started again after each clean stop, as an operator's restart would).
 * - `idleRssMb` (memory.ts), from the last fresh start.
 */
import { join } from 'node:path';
import { idleMemory } from './memory.js';
import { mergeResults, type GroupResult } from './report.js';
import { bareNodeStartupMs, removeDir, startServe, tempDir } from './processes.js';
import { seedAuditTrail } from './seed.js';
import { interleave, median, since } from './stats.js';

export const TRAIL_EVENTS = 100_000;

export async function runStartup(quick: boolean): Promise<GroupResult> {
  const fresh: number[] = [];
  const bare: number[] = [];
  const rounds = quick ? 2 : 5;
  let memory: GroupResult | undefined;
  await interleave(rounds, {
    fresh: async (round) => {
      const dir = tempDir('fresh');
      const serve = await startServe(join(dir, 'data'));
      fresh.push(serve.startupMs);
      try {
        if (round === rounds - 1) memory = await idleMemory(serve, quick);
      } finally {
        await serve.stop();
        removeDir(dir);
      }
    },
    bare: async () => void bare.push(await bareNodeStartupMs()),
  });

  const dir = tempDir('trail');
  const seeding = performance.now();
  await seedAuditTrail(join(dir, 'data'), TRAIL_EVENTS);
  const seedMs = since(seeding);
  const withTrail: number[] = [];
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    const serve = await startServe(join(dir, 'data'));
    withTrail.push(serve.startupMs);
    await serve.stop();
  }
  removeDir(dir);

  const startup: GroupResult = {
    figures: {
      startupMs: { value: median(fresh), reference: `bare node ${median(bare).toFixed(0)} ms` },
      startupMs100kEvents: { value: median(withTrail), reference: `fresh ${median(fresh).toFixed(0)} ms; bare node ${median(bare).toFixed(0)} ms` },
    },
    raw: { bareNodeStartupMs: median(bare), trailSeedMs100kEvents: seedMs },
  };
  return mergeResults([startup, memory!]);
}

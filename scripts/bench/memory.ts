/**
 * `idleRssMb`: the resident memory of `amsd serve` started on a fresh data directory, once it has
 * answered /v1/health and then sat idle for a few seconds; beside it, a bare Node process's. Taken
 * from the start-up group's last fresh start (the same process start-up timed), to spare a spawn.
 */
import type { GroupResult } from './report.js';
import { bareNodeIdle, residentMb, type ServeProcess } from './processes.js';

export async function idleMemory(serve: ServeProcess, quick: boolean): Promise<GroupResult> {
  const idleMs = quick ? 3_000 : 5_000;
  const bare = await bareNodeIdle();
  try {
    await new Promise((resolve) => setTimeout(resolve, idleMs));
    const rss = residentMb(serve.pid);
    const bareRss = residentMb(bare.pid);
    return {
      figures: { idleRssMb: { value: rss, reference: `bare node ${bareRss.toFixed(0)} MB; after ${idleMs / 1000} s idle` } },
      raw: { bareNodeRssMb: bareRss },
    };
  } finally {
    await bare.stop();
  }
}

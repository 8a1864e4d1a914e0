/**
 * The store figures, through the daemon's HTTP API:
 * - `ruleWriteMs10k`: p50 of one rule write (a create, then an update of the rule just created) on a
 *   daemon holding 10,000 rules, beside the same writes on one holding 100, in interleaved rounds.
 * - `readP99DuringWritesRatio`: on the 10,000-rule daemon, the p99 of reads (one caller, no added
 *   latency) while an administrator writes rules back to back, over the p99 of the same reads when
 *   nothing is written, in alternating blocks.
 */
import type { Lab, Stage } from './lab.js';
import type { GroupResult } from './report.js';
import { closedLoop, interleave, median, percentile, since } from './stats.js';

/** A writer of rules that change no decision the benchmark reads (see fillerRuleCsv). */
export function ruleWriter(stage: Stage, lab: Lab, label: string) {
  const targets = stage.tenant.directory.devices.filter((d) => d.deviceId !== stage.device.deviceId);
  let n = 0;
  let last: string | undefined;
  const check = (answer: { status: number; body: any }, status: number, what: string) => {
    if (answer.status !== status) throw new Error(`${what} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  /** One write, timed: creates and updates take turns. */
  return async (): Promise<{ ms: number; kind: 'create' | 'update' }> => {
    const start = performance.now();
    n++;
    if (last === undefined) {
      const device = targets[n % targets.length]!;
      const body = { description: `bench write ${label} ${n}`, tenantId: stage.tenant.tenantId, deviceId: device.deviceId, notes: 'Written by the amsd benchmark.' };
      last = check(await lab.admin('POST', '/v1/computer-authorization-rules', body), 201, 'creating a rule').id as string;
      return { ms: since(start), kind: 'create' };
    }
    check(await lab.admin('PATCH', `/v1/computer-authorization-rules/${last}`, { description: `bench write ${label} ${n} (updated)` }), 200, 'updating a rule');
    last = undefined;
    return { ms: since(start), kind: 'update' };
  };
}

export async function runStoreWrites(stage: Stage, lab100: Lab, lab10k: Lab, quick: boolean): Promise<GroupResult> {
  stage.setGraphLatency(0);
  const small = ruleWriter(stage, lab100, '100');
  const large = ruleWriter(stage, lab10k, '10k');
  for (let i = 0; i < 2; i++) await Promise.all([small(), large()]); // warm: the device cache, the connections
  const writes = { small: [] as number[], large: [] as number[], largeCreate: [] as number[], largeUpdate: [] as number[] };
  const perRound = quick ? 4 : 10;
  await interleave(quick ? 3 : 5, {
    small: async () => {
      for (let i = 0; i < perRound; i++) writes.small.push((await small()).ms);
    },
    large: async () => {
      for (let i = 0; i < perRound; i++) {
        const w = await large();
        writes.large.push(w.ms);
        (w.kind === 'create' ? writes.largeCreate : writes.largeUpdate).push(w.ms);
      }
    },
  });

  // Reads on the 10,000-rule daemon, quiet and during a stream of rule writes.
  const blockMs = quick ? 2_000 : 4_000;
  const quiet: number[] = [];
  const busy: number[] = [];
  let streamed = 0;
  for (let i = 0; i < 20; i++) await lab10k.read();
  // Unmeasured reads first in each block: the reads just after the last rule write can still meet its
  // tail (a fold in pieces, the index's copied shards), which belongs to the writes, not to the quiet
  // block that may follow them.
  const settle = async () => {
    for (let i = 0; i < 3; i++) await lab10k.read();
  };
  await interleave(quick ? 2 : 4, {
    quiet: async () => {
      await settle();
      quiet.push(...(await closedLoop(lab10k.read, { concurrency: 1, durationMs: blockMs })).latencies);
    },
    busy: async () => {
      await settle();
      let writing = true;
      const stream = (async () => {
        while (writing) {
          await large();
          streamed++;
        }
      })();
      busy.push(...(await closedLoop(lab10k.read, { concurrency: 1, durationMs: blockMs })).latencies);
      writing = false;
      await stream;
    },
  });
  const [quietP99, busyP99] = [percentile(quiet, 99), percentile(busy, 99)];
  return {
    figures: {
      ruleWriteMs10k: { value: median(writes.large), reference: `100 rules: ${median(writes.small).toFixed(1)} ms; p99 ${percentile(writes.large, 99).toFixed(0)} ms` },
      readP99DuringWritesRatio: {
        value: busyP99 / quietP99,
        reference: `p99 ${busyP99.toFixed(1)} vs quiet ${quietP99.toFixed(1)} ms; ${busy.length} vs ${quiet.length} reads, ${streamed} writes`,
      },
    },
    raw: {
      ruleWriteMs100: median(writes.small),
      ruleCreateMs10k: median(writes.largeCreate),
      ruleUpdateMs10k: median(writes.largeUpdate),
      ruleWriteP99Ms10k: percentile(writes.large, 99),
      readP99MsQuiet10k: quietP99,
      readP99MsDuringWrites10k: busyP99,
      readsDuringWritesRatio: busy.length / Math.max(1, quiet.length),
    },
  };
}

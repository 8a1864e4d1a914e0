/**
 * The read figures, each beside its reference in the same run:
 * - `warmGraphCallsPerRead`: Graph calls the simulated tenant saw per warm read (caches full).
 * - `coldRoundTripsByName`: the sequential Graph round trips of a read by name with every cache off,
 *   counted at the tenant as the longest chain of calls each starting after the previous one ended;
 *   the read's time at 20 ms per call, divided by 20 ms, is printed beside it as a cross-check.
 * - `latencyRatio20msC1` / `C8`: read p50 through the daemon / p50 of the direct Graph call for the
 *   secret, with 20 ms added to every Graph answer, at 1 and 8 callers.
 * - `throughputRatio0ms`: reads/s through the daemon / direct calls/s, 16 callers, no added latency;
 *   every read is checked to have its line in the audit trail. `cpuMsPerRead`: the daemon process's
 *   CPU time (/proc) over those reads, divided by their number.
 *
 * Beside each of the last four, the floor: the same measurement through a bare Fastify proxy that makes
 * the same Graph call and nothing else (bare-proxy.ts), so that what the daemon adds beyond its stack
 * is told apart from what the stack itself costs on this machine.
 */
import { readFileSync } from 'node:fs';
import { auditLogPath } from '../../daemon/audit/audit-log.js';
import { GRAPH_PREFIX, openBareProxy, type BareProxy, type Lab, type Stage } from './lab.js';
import { processCpuMs } from './processes.js';
import type { GroupResult } from './report.js';
import { closedLoop, interleave, median, percentile, sequentialRoundTrips } from './stats.js';

const ADDED_MS = 20;

export async function runReads(stage: Stage, lab: Lab, quick: boolean): Promise<GroupResult> {
  const proxy = await openBareProxy(stage);
  try {
    return await measureReads(stage, lab, proxy, quick);
  } finally {
    await proxy.close();
  }
}

async function measureReads(stage: Stage, lab: Lab, proxy: BareProxy, quick: boolean): Promise<GroupResult> {
  const { tenant } = stage;
  const graphCalls = () => tenant.calls.filter((c) => c.path.startsWith(GRAPH_PREFIX));
  const figures: GroupResult['figures'] = {};
  const raw: GroupResult['raw'] = {};

  // Warm: every cache full, no added latency.
  stage.setGraphLatency(0);
  for (let i = 0; i < 5; i++) await lab.read();
  const warmReads = quick ? 20 : 100;
  tenant.resetCalls();
  for (let i = 0; i < warmReads; i++) await lab.read();
  const warmCalls = graphCalls().length;
  figures.warmGraphCallsPerRead = { value: warmCalls / warmReads, reference: `${warmCalls} calls for ${warmReads} reads; floor 1` };

  // Cold, by name, 20 ms per Graph call.
  stage.setGraphLatency(ADDED_MS);
  await lab.setCaches('cold');
  const chains: number[] = [];
  const coldMs: number[] = [];
  const coldCalls: number[] = [];
  for (let i = 0; i < (quick ? 3 : 7); i++) {
    tenant.resetCalls();
    const start = performance.now();
    await lab.read();
    coldMs.push(performance.now() - start);
    chains.push(sequentialRoundTrips(graphCalls()));
    coldCalls.push(graphCalls().length);
  }
  await lab.setCaches('warm');
  await lab.read(); // fills the caches again
  figures.coldRoundTripsByName = {
    value: median(chains),
    reference: `${median(coldCalls)} Graph calls; ${median(coldMs).toFixed(0)} ms at ${ADDED_MS} ms each (÷${ADDED_MS}: ${(median(coldMs) / ADDED_MS).toFixed(1)})`,
  };
  Object.assign(raw, { coldGraphCallsByName: median(coldCalls), coldReadMs20ms: median(coldMs) });

  // p50 at 20 ms, daemon vs direct (and the bare proxy), 1 and 8 callers.
  for (let i = 0; i < 5; i++) await Promise.all([lab.read(), proxy.read(), stage.direct()]);
  for (const concurrency of [1, 8] as const) {
    const rounds = quick ? 3 : 5;
    const perRound = (quick ? 20 : 60) * concurrency;
    const daemon: number[] = [];
    const bare: number[] = [];
    const direct: number[] = [];
    await interleave(rounds, {
      daemon: async () => void daemon.push(...(await closedLoop(lab.read, { concurrency, count: perRound })).latencies),
      bare: async () => void bare.push(...(await closedLoop(proxy.read, { concurrency, count: perRound })).latencies),
      direct: async () => void direct.push(...(await closedLoop(stage.direct, { concurrency, count: perRound })).latencies),
    });
    const [d50, b50, r50] = [median(daemon), median(bare), median(direct)];
    figures[concurrency === 1 ? 'latencyRatio20msC1' : 'latencyRatio20msC8'] = {
      value: d50 / r50,
      reference: `p50 ${d50.toFixed(1)} vs direct ${r50.toFixed(1)} ms; bare proxy ${(b50 / r50).toFixed(2)}`,
    };
    Object.assign(raw, {
      [`readP50Ms20msC${concurrency}`]: d50,
      [`readP99Ms20msC${concurrency}`]: percentile(daemon, 99),
      [`directP50Ms20msC${concurrency}`]: r50,
      [`directP99Ms20msC${concurrency}`]: percentile(direct, 99),
      [`bareProxyP50Ms20msC${concurrency}`]: b50,
      [`bareProxyLatencyRatio20msC${concurrency}`]: b50 / r50,
    });
  }

  // Throughput at 0 ms, 16 callers, and the CPU per read of the daemon (and of the bare proxy).
  stage.setGraphLatency(0);
  await closedLoop(lab.read, { concurrency: 16, count: 200 });
  await closedLoop(proxy.read, { concurrency: 16, count: 200 });
  await closedLoop(stage.direct, { concurrency: 16, count: 200 });
  const auditFile = auditLogPath(lab.serve.dataDir);
  const auditedBefore = lineCount(auditFile);
  const durationMs = quick ? 2_000 : 5_000;
  const totals = { daemonReads: 0, daemonMs: 0, daemonCpuMs: 0, bareReads: 0, bareMs: 0, bareCpuMs: 0, directReads: 0, directMs: 0 };
  await interleave(quick ? 2 : 4, {
    daemon: async () => {
      const cpu = processCpuMs(lab.serve.pid);
      const run = await closedLoop(lab.read, { concurrency: 16, durationMs });
      totals.daemonCpuMs += processCpuMs(lab.serve.pid) - cpu;
      totals.daemonReads += run.latencies.length;
      totals.daemonMs += run.elapsedMs;
    },
    bare: async () => {
      const cpu = processCpuMs(proxy.pid);
      const run = await closedLoop(proxy.read, { concurrency: 16, durationMs });
      totals.bareCpuMs += processCpuMs(proxy.pid) - cpu;
      totals.bareReads += run.latencies.length;
      totals.bareMs += run.elapsedMs;
    },
    direct: async () => {
      const run = await closedLoop(stage.direct, { concurrency: 16, durationMs });
      totals.directReads += run.latencies.length;
      totals.directMs += run.elapsedMs;
    },
  });
  const audited = lineCount(auditFile) - auditedBefore;
  if (audited < totals.daemonReads) throw new Error(`${totals.daemonReads} reads were answered, but the audit trail grew by ${audited} lines only`);
  const daemonRate = (totals.daemonReads * 1000) / totals.daemonMs;
  const bareRate = (totals.bareReads * 1000) / totals.bareMs;
  const directRate = (totals.directReads * 1000) / totals.directMs;
  const bareCpuMs = totals.bareCpuMs / totals.bareReads;
  figures.throughputRatio0ms = {
    value: daemonRate / directRate,
    reference: `${daemonRate.toFixed(0)} vs direct ${directRate.toFixed(0)} reads/s, all ${totals.daemonReads} audited; bare proxy ${(bareRate / directRate).toFixed(2)}`,
  };
  figures.cpuMsPerRead = { value: totals.daemonCpuMs / totals.daemonReads, reference: `${totals.daemonCpuMs.toFixed(0)} ms CPU for ${totals.daemonReads} reads; bare proxy ${bareCpuMs.toFixed(2)}` };
  Object.assign(raw, { readsPerSecond0msC16: daemonRate, directPerSecond0msC16: directRate, bareProxyPerSecond0msC16: bareRate, bareProxyThroughputRatio0ms: bareRate / directRate, bareProxyCpuMsPerRead: bareCpuMs });
  return { figures, raw };
}

function lineCount(file: string): number {
  const bytes = readFileSync(file);
  let lines = 0;
  for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, i + 1)) lines++;
  return lines;
}

/**
 * `npm run bench` (or `npm run bench -- --quick`, the same with fewer rounds): the figures of issue 14,
 * each measured beside its reference in this run. Prints what it measures as it goes, then a table
 * (figure, value, reference, target), and ends with ONE JSON line on stdout holding every figure's name.
 * Progress goes to stderr. It asserts nothing about speed: a target not met is reported, not failed;
 * the exit status is 1 only when a measurement could not be made.
 *
 * `--only reads,startup` runs some groups only (evaluation, startup with idle memory, reads, writes, postgres);
 * `--serve-node-args "--cpu-prof --cpu-prof-dir=DIR"` profiles the daemons it starts (args.ts).
 */
import { availableParallelism, cpus } from 'node:os';
import { parseArgs, type Group } from './args.js';
import { runEvaluation } from './evaluation.js';
import { openLab, openStage, type Lab, type Stage } from './lab.js';
import { cleanUp, cleanUpOnExit, setServeNodeArgs } from './processes.js';
import { postgresMissing, runPostgres } from './postgres.js';
import { runReads } from './reads.js';
import { jsonLine, mergeResults, table, type GroupResult } from './report.js';
import { runStartup } from './startup.js';
import { runStoreWrites } from './store-writes.js';

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  setServeNodeArgs(args.serveNodeArgs);
  cleanUpOnExit();
  const started = performance.now();
  const machine = `${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), node ${process.version}, ${process.platform}/${process.arch}`;
  console.log(`amsd benchmarks${args.quick ? ' (quick)' : ''}: ${machine}`);
  const results: GroupResult[] = [];
  const failed: string[] = [];
  const timings: Record<string, number> = {};
  const attempt = async (group: Group, run: () => Promise<GroupResult>) => {
    if (!args.groups.includes(group)) return;
    progress(`${group}...`);
    const t0 = performance.now();
    try {
      results.push(await run());
    } catch (error) {
      failed.push(group);
      progress(`${group} could not be measured: ${(error as Error).stack ?? String(error)}`);
    }
    timings[`${group}Seconds`] = (performance.now() - t0) / 1000;
    progress(`${group} done in ${timings[`${group}Seconds`]!.toFixed(1)} s`);
  };

  // In-process and child-process figures first, then the two that share the simulated tenant.
  await attempt('evaluation', async () => runEvaluation(args.quick));
  await attempt('startup', () => runStartup(args.quick));
  let stage: Stage | undefined;
  let lab100: Lab | undefined;
  const needsStage = args.groups.includes('reads') || args.groups.includes('writes') || (args.groups.includes('postgres') && !postgresMissing);
  const meta: Record<string, string> = {};
  try {
    if (needsStage) {
      const needsLab100 = args.groups.includes('reads') || args.groups.includes('writes');
      progress(`opening the simulated tenant${needsLab100 ? ' and a daemon with 100 rules' : ''}...`);
      stage = await openStage();
      if (needsLab100) lab100 = await openLab(stage, { fillerRules: 99 });
    }
    await attempt('reads', () => runReads(stage!, lab100!, args.quick));
    await attempt('writes', async () => {
      progress('seeding a daemon with 10,000 rules...');
      const lab10k = await openLab(stage!, { fillerRules: 9_999 });
      try {
        return await runStoreWrites(stage!, lab100!, lab10k, args.quick);
      } finally {
        await lab10k.close();
      }
    });
    if (args.groups.includes('postgres') && postgresMissing) {
      progress(`postgres skipped: ${postgresMissing}`);
      meta.postgresSkipped = postgresMissing;
    } else {
      const embedded10k = results.find((r) => r.figures.ruleWriteMs10k)?.figures.ruleWriteMs10k;
      await attempt('postgres', () => runPostgres(stage!, args.quick, embedded10k, progress));
    }
  } catch (error) {
    failed.push('stage');
    progress(`the simulated tenant or the daemon could not be set up: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await lab100?.close();
    await stage?.close();
  }

  const merged = mergeResults(results);
  const seconds = (performance.now() - started) / 1000;
  console.log(`\n${table(merged)}\n`);
  console.log(`(${seconds.toFixed(1)} s on ${machine}${failed.length ? `; NOT MEASURED: ${failed.join(', ')}` : ''}${meta.postgresSkipped ? `; postgres SKIPPED: ${meta.postgresSkipped}` : ''})`);
  console.log(jsonLine(merged, { quick: args.quick, cores: availableParallelism(), node: process.version, seconds, ...timings, ...meta }));
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    cleanUp();
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    cleanUp();
    process.exit(1);
  },
);

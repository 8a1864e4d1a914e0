/**
 * The reliability suite's figures: each test file records its own, and `npm run test:reliability`
 * (test/reliability/run.mjs) prints them as one table at the end. Without AMS_RELIABILITY_FIGURES
 * (a file run alone with tap) they are only printed as a comment.
 */
import { appendFile } from 'node:fs/promises';

export async function recordFigures(source: string, figures: Record<string, number>): Promise<void> {
  const file = process.env.AMS_RELIABILITY_FIGURES;
  if (file) await appendFile(file, JSON.stringify({ source, figures }) + '\n');
  else process.stdout.write(`# ${source}: ${JSON.stringify(figures)}\n`);
}

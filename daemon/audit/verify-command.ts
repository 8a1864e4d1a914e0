/**
 * `amsd audit verify`: checks a data directory's audit trail as amsd checks it at start (the keyed
 * chain, the trail named in amsd.json, its checkpoint) and says in a few lines whether it is intact,
 * or what is wrong and where. Only reads: safe while the daemon runs.
 */
import { join } from 'node:path';
import { loadMasterKey } from '../store/sealing.js';
import { readState } from '../store/state-files.js';
import { STATE_FILE } from '../store/state.js';
import { auditLogPath } from './audit-log.js';
import { verifyAuditLog, type AuditVerifyResult } from './chain.js';
import { bindTrail, orphanTrailProblem } from './trail.js';

export interface AuditVerifyOptions {
  /** `$AMS_MASTER_KEY_FILE`; without it, `<data-dir>/master.key`. */
  masterKeyFile?: string;
}

/** Exit code 0 when the trail is intact, 1 when it is broken, missing, refused or unreadable. */
export async function runAuditVerify(dataDir: string, out: NodeJS.WritableStream, options: AuditVerifyOptions = {}): Promise<number> {
  const file = auditLogPath(dataDir);
  const stateFile = join(dataDir, STATE_FILE);
  const refused = (problem: string, advice: string) => {
    out.write(`audit trail REFUSED: ${problem}\n  file: ${file}\n  ${advice}\n`);
    return 1;
  };
  let result: AuditVerifyResult;
  let trailId: string;
  let checkpoint: { seq: number; time: string };
  try {
    // The snapshot with the change journal applied: the state as the running daemon has it.
    const state = await readState(stateFile);
    if (state === null) {
      const orphan = await orphanTrailProblem(file, stateFile);
      if (orphan) return refused(orphan.problem, orphan.advice);
      out.write(`no audit trail at ${file} (and no data file ${stateFile})\n`);
      return 1;
    }
    const masterKey = await loadMasterKey(dataDir, options.masterKeyFile, { create: false });
    const bound = await bindTrail(file, stateFile, state.auditTrail, masterKey.key);
    if ('problem' in bound) return refused(bound.problem, bound.advice);
    trailId = bound.key.trailId;
    checkpoint = { seq: bound.checkpoint.seq, time: bound.checkpoint.time ?? '' };
    result = await verifyAuditLog(file, bound.key, { checkpoint: bound.checkpoint });
  } catch (error) {
    out.write(`cannot read the audit trail at ${file}: ${(error as Error).message}\n`);
    return 1;
  }
  if (!result.ok) {
    const { line, seq, detail } = result.firstBroken;
    out.write(
      `audit trail BROKEN at line ${line}${seq === undefined ? '' : ` (seq ${seq})`}: ${detail}\n` +
        `  ${result.events} events before it are intact\n` +
        `  file: ${file}\n`,
    );
    return 1;
  }
  const firstSeq = result.firstSeq ?? 1;
  const lines = [
    firstSeq > 1
      ? `audit trail OK: events ${firstSeq} to ${result.events}, keyed chain intact (events before ${firstSeq} were removed by retention, as an audit.pruned event records)`
      : `audit trail OK: ${result.events} events, keyed chain intact`,
    `  file: ${file}`,
    `  trail: ${trailId} (named in ${stateFile})`,
    `  checkpoint: seq ${checkpoint.seq} at ${checkpoint.time}, reached`,
    `  last hash: ${result.lastHash}${result.lastTime ? ` (${result.lastTime})` : ''}`,
  ];
  if (result.keyedFrom !== undefined && result.keyedFrom > firstSeq) {
    lines.push(
      `  note: events ${firstSeq} to ${result.keyedFrom - 1} were written before the trail was keyed (plain SHA-256); ` +
        `the audit.rekeyed event at seq ${result.keyedFrom} holds their last hash: compare it with one noted before`,
    );
  }
  if (result.unfinishedLastLine) {
    const { line, bytes } = result.unfinishedLastLine;
    lines.push(
      `  note: line ${line} (${bytes} bytes) is an unfinished write after the checkpoint (in progress, or cut short by a crash) and not counted; ` +
        'amsd moves a cut-short one to an evidence file next to the trail when it next starts',
    );
  }
  out.write(lines.join('\n') + '\n');
  return 0;
}

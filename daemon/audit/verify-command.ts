/**
 * `amsd audit verify`: checks a data directory's audit trail and says in one line whether it is
 * intact, or where it first breaks. Only reads: safe while the daemon runs.
 */
import { auditLogPath } from './audit-log.js';
import { verifyAuditLog, type AuditVerifyResult } from './chain.js';

/** Exit code 0 when the trail is intact, 1 when it is broken, missing or unreadable. */
export async function runAuditVerify(dataDir: string, out: NodeJS.WritableStream): Promise<number> {
  const file = auditLogPath(dataDir);
  let result: AuditVerifyResult;
  try {
    result = await verifyAuditLog(file);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    out.write(missing ? `no audit trail at ${file}\n` : `cannot read the audit trail at ${file}: ${(error as Error).message}\n`);
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
      ? `audit trail OK: events ${firstSeq} to ${result.events}, chain intact (events before ${firstSeq} were removed by retention, as an audit.pruned event records)`
      : `audit trail OK: ${result.events} events, chain intact`,
    `  file: ${file}`,
    `  last hash: ${result.lastHash}${result.lastTime ? ` (${result.lastTime})` : ''}`,
  ];
  if (result.unfinishedLastLine) {
    const { line, bytes } = result.unfinishedLastLine;
    lines.push(`  note: line ${line} (${bytes} bytes) is an unfinished write (in progress, or cut short by a crash) and not counted; amsd removes a cut-short one when it next opens the trail`);
  }
  out.write(lines.join('\n') + '\n');
  return 0;
}

/**
 * The bench's command line: `--quick` (fewer rounds), `--only <groups>` (some groups only),
 * `--serve-node-args "<node options>"` (given to every `amsd serve` the bench starts, to profile one:
 * `--serve-node-args "--cpu-prof --cpu-prof-dir=/tmp/amsd-prof"`; the figures then include the profiler's cost).
 */

/** `startup` includes idle memory, taken from its last fresh start; `postgres` needs PostgreSQL installed (else it is skipped, saying so). */
export const GROUPS = ['evaluation', 'startup', 'reads', 'writes', 'postgres'] as const;
export type Group = (typeof GROUPS)[number];

export interface BenchArgs {
  quick: boolean;
  groups: Group[];
  serveNodeArgs: string[];
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  let quick = false;
  let groups: Group[] = [...GROUPS];
  let serveNodeArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') quick = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      const named = (value ?? '').split(',').filter(Boolean);
      const unknown = named.filter((g) => !(GROUPS as readonly string[]).includes(g));
      if (named.length === 0 || unknown.length > 0) throw new Error(`--only takes groups among ${GROUPS.join(', ')}${unknown.length ? `, not ${unknown.join(', ')}` : ''}`);
      groups = named as Group[];
    } else if (arg === '--serve-node-args' || arg.startsWith('--serve-node-args=')) {
      const value = arg === '--serve-node-args' ? argv[++i] : arg.slice('--serve-node-args='.length);
      if (!value?.trim()) throw new Error('--serve-node-args takes node options, as one argument: --serve-node-args "--cpu-prof --cpu-prof-dir=DIR"');
      serveNodeArgs = value.trim().split(/\s+/);
    } else throw new Error(`unknown argument ${arg}: the bench takes --quick, --only <groups> and --serve-node-args "<node options>"`);
  }
  return { quick, groups, serveNodeArgs };
}

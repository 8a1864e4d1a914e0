/** The bench's command line: `--quick` (fewer rounds), `--only <groups>` (some groups only). */

/** `startup` includes idle memory, taken from its last fresh start. */
export const GROUPS = ['evaluation', 'startup', 'reads', 'writes'] as const;
export type Group = (typeof GROUPS)[number];

export interface BenchArgs {
  quick: boolean;
  groups: Group[];
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  let quick = false;
  let groups: Group[] = [...GROUPS];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') quick = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      const named = (value ?? '').split(',').filter(Boolean);
      const unknown = named.filter((g) => !(GROUPS as readonly string[]).includes(g));
      if (named.length === 0 || unknown.length > 0) throw new Error(`--only takes groups among ${GROUPS.join(', ')}${unknown.length ? `, not ${unknown.join(', ')}` : ''}`);
      groups = named as Group[];
    } else throw new Error(`unknown argument ${arg}: the bench takes --quick and --only <groups>`);
  }
  return { quick, groups };
}

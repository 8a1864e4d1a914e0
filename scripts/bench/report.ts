/**
 * The figures of issue 14, their targets, and the two ways they are given: a table for people, and
 * one JSON line for tools (the last line on stdout). The JSON line always holds every figure's name:
 * a figure whose measurement failed is null, never left out, so a reader can tell "not met" from "not run".
 */

/** The names the JSON line holds, in the order of the targets. */
export const FIGURE_NAMES = [
  'warmGraphCallsPerRead',
  'coldRoundTripsByName',
  'latencyRatio20msC1',
  'latencyRatio20msC8',
  'throughputRatio0ms',
  'cpuMsPerRead',
  'startupMs',
  'startupMs100kEvents',
  'idleRssMb',
  'ruleWriteMs10k',
  'readP99DuringWritesRatio',
  'evalP99Us',
  'evalSpeedupVsScan',
  'pgRuleWriteMs10k',
  'pgRuleWriteMs100k',
  'twoDaemonReadsRatio',
  'pgPropagationMs',
] as const;
export type FigureName = (typeof FIGURE_NAMES)[number];

interface Target {
  op: '=' | '<' | '<=' | '>=';
  value: number;
}

export interface FigureDefinition {
  label: string;
  target: Target;
  /** Decimal places in the table. */
  digits: number;
}

export const FIGURES: Record<FigureName, FigureDefinition> = {
  warmGraphCallsPerRead: { label: 'Graph calls per warm read', target: { op: '=', value: 1 }, digits: 2 },
  coldRoundTripsByName: { label: 'sequential Graph round trips, cold read by name', target: { op: '<=', value: 3 }, digits: 0 },
  latencyRatio20msC1: { label: 'read p50 at 20 ms, daemon / direct, concurrency 1', target: { op: '<=', value: 1.05 }, digits: 2 },
  latencyRatio20msC8: { label: 'read p50 at 20 ms, daemon / direct, concurrency 8', target: { op: '<=', value: 1.1 }, digits: 2 },
  throughputRatio0ms: { label: 'reads/s at 0 ms, daemon / direct, concurrency 16', target: { op: '>=', value: 0.4 }, digits: 2 },
  cpuMsPerRead: { label: 'daemon CPU per read at 0 ms (ms)', target: { op: '<=', value: 0.35 }, digits: 2 },
  startupMs: { label: 'start-up to first healthy answer, fresh (ms)', target: { op: '<', value: 500 }, digits: 0 },
  startupMs100kEvents: { label: 'start-up with 100,000 audit events (ms)', target: { op: '<', value: 1000 }, digits: 0 },
  idleRssMb: { label: 'idle resident memory of serve (MB)', target: { op: '<', value: 100 }, digits: 0 },
  ruleWriteMs10k: { label: 'one rule write at 10,000 rules, p50 (ms)', target: { op: '<', value: 25 }, digits: 1 },
  readP99DuringWritesRatio: { label: 'read p99 during rule writes / quiet', target: { op: '<=', value: 2 }, digits: 2 },
  evalP99Us: { label: 'evaluation p99 at 10,000 rules (µs)', target: { op: '<', value: 50 }, digits: 1 },
  evalSpeedupVsScan: { label: 'evaluation, index vs linear scan, 10,000 rules (×)', target: { op: '>=', value: 20 }, digits: 0 },
  pgRuleWriteMs10k: { label: 'one rule write on PostgreSQL at 10,000 rules, p50 (ms)', target: { op: '<', value: 25 }, digits: 1 },
  pgRuleWriteMs100k: { label: 'one rule write on PostgreSQL at 100,000 rules, p50 (ms)', target: { op: '<', value: 50 }, digits: 1 },
  twoDaemonReadsRatio: { label: 'reads/s at 0 ms, two daemons / one, one database', target: { op: '>=', value: 1.5 }, digits: 2 },
  pgPropagationMs: { label: 'a rule made through one daemon, in force on the other, slowest (ms)', target: { op: '<', value: 1000 }, digits: 0 },
};

/** One measured figure and, in words, the reference measured beside it. */
export interface Measured {
  value: number;
  reference: string;
}

/** What a group of measurements (reads, start-up, ...) found. */
export interface GroupResult {
  figures: Partial<Record<FigureName, Measured>>;
  /** The raw numbers behind the figures (the references among them), under names of their own. */
  raw: Record<string, number>;
}

export function meets(name: FigureName, value: number): boolean {
  const { op, value: target } = FIGURES[name].target;
  switch (op) {
    case '=':
      return value === target;
    case '<':
      return value < target;
    case '<=':
      return value <= target;
    case '>=':
      return value >= target;
  }
}

const targetText = (t: Target) => `${t.op === '=' ? '=' : t.op === '<=' ? '≤' : t.op === '>=' ? '≥' : '<'} ${t.value}`;

/** Merges the groups' results; a name two groups both give is a bug in the benchmark. */
export function mergeResults(results: readonly GroupResult[]): GroupResult {
  const merged: GroupResult = { figures: {}, raw: {} };
  for (const result of results) {
    for (const [name, measured] of Object.entries(result.figures) as [FigureName, Measured][]) {
      if (merged.figures[name]) throw new Error(`the figure ${name} was measured twice`);
      merged.figures[name] = measured;
    }
    for (const [name, value] of Object.entries(result.raw)) {
      if (name in merged.raw || (FIGURE_NAMES as readonly string[]).includes(name)) throw new Error(`the raw value ${name} was given twice, or under a figure's name`);
      merged.raw[name] = value;
    }
  }
  return merged;
}

/** The JSON line: every figure's name (null when not measured), then the raw values, then `meta`. */
export function jsonLine(result: GroupResult, meta: Record<string, string | number | boolean>): string {
  const figures = Object.fromEntries(FIGURE_NAMES.map((name) => [name, round(result.figures[name]?.value ?? null)]));
  const raw = Object.fromEntries(Object.entries(result.raw).map(([name, value]) => [name, round(value)]));
  return JSON.stringify({ ...figures, ...raw, ...meta });
}

/** Reads a JSON line back, checking that it holds every figure as a number or null. */
export function parseJsonLine(line: string): Record<FigureName, number | null> & Record<string, unknown> {
  const parsed = JSON.parse(line) as Record<string, unknown>;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the bench line is not a JSON object');
  for (const name of FIGURE_NAMES) {
    const value = parsed[name];
    if (value !== null && (typeof value !== 'number' || !Number.isFinite(value))) throw new Error(`the bench line's ${name} is ${JSON.stringify(value)}, not a number or null`);
  }
  return parsed as Record<FigureName, number | null> & Record<string, unknown>;
}

/** Four significant digits at most: a benchmark's noise is far larger. Non-finite values become null. */
function round(value: number | null): number | null {
  if (value === null || !Number.isFinite(value)) return null;
  return Number(value.toPrecision(4));
}

/** The table for people: figure, value, the reference beside it, the target, and whether it is met. */
export function table(result: GroupResult): string {
  const rows = FIGURE_NAMES.map((name) => {
    const def = FIGURES[name];
    const measured = result.figures[name];
    const value = measured && Number.isFinite(measured.value) ? measured.value.toFixed(def.digits) : 'n/a';
    const met = measured && Number.isFinite(measured.value) ? (meets(name, measured.value) ? 'yes' : 'NO') : '-';
    return [def.label, value, measured?.reference ?? 'not measured', targetText(def.target), met];
  });
  const header = ['figure', 'value', 'reference (same run)', 'target', 'met'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

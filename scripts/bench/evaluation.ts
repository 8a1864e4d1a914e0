/**
 * The evaluation figures (`evalP99Us`, `evalSpeedupVsScan`) and the access layer's other in-process
 * costs, printed side by side from one run. Ratios between measurements taken in the same process mean
 * more than absolute times, which depend on the machine.
 *
 * - Evaluation: one device against 10,000 rules vs 100 rules (the same few rules contain the device in
 *   both, so an index that works gives a ratio near 1), and the index vs a linear scan of the rules;
 *   the p99 of single evaluations at 10,000 rules.
 * - Full run only: building the index for 10,000 rules, and the rate limiter (take() and takeBoth()
 *   throughput, with 100 vs 100,000 tracked keys).
 */
import type { GroupResult } from './report.js';
import { percentile } from './stats.js';
import { RuleIndex } from '../../daemon/access/evaluation.js';
import { ReadRateLimiter, RateLimiter } from '../../daemon/access/rate-limit.js';
import {
  PRINCIPAL_LISTS,
  targetKind,
  type AccessType,
  type DeviceIdentity,
  type PrincipalRef,
  type RulePrincipals,
  type RuleRecord,
} from '../../daemon/access/types.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');

// ---------------------------------------------------------------------------------------------------
// Data: a seeded generator, so every run measures the same rules.

function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const guid = (prefix: string, n: number) => `${prefix.padEnd(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const TENANTS = Array.from({ length: 5 }, (_, i) => guid(`a${i}`, i));
const MY_TENANT = TENANTS[0]!;
const USER = guid('u', 1);
/** The caller: the user and the 40 groups they are a transitive member of. */
const CALLER = new Set([USER, ...Array.from({ length: 40 }, (_, i) => guid('cg', i))]);
const DEVICE: DeviceIdentity = { tenantId: MY_TENANT, deviceId: guid('d', 424242), objectId: guid('o', 424242), deviceName: 'PC-BENCH' };
/** The device is in 12 groups; 3 of them are targeted by rules. */
const DEVICE_GROUPS = new Set(Array.from({ length: 12 }, (_, i) => guid('dg', i)));

const ref = (id: string, type: PrincipalRef['type'] = 'group'): PrincipalRef => ({ id, type, displayName: id.slice(0, 8) });

function principals(random: () => number, extra: Partial<RulePrincipals> = {}): RulePrincipals {
  const some = () => Array.from({ length: 3 + Math.floor(random() * 15) }, () => ref(guid('pg', Math.floor(random() * 5000))));
  return {
    principalsAllowedLaps: some(),
    principalsDeniedLaps: random() < 0.2 ? some() : [],
    principalsAllowedLapsHistory: random() < 0.5 ? some() : [],
    principalsDeniedLapsHistory: [],
    principalsAllowedBitLocker: random() < 0.5 ? some() : [],
    principalsDeniedBitLocker: random() < 0.1 ? some() : [],
    ...extra,
  };
}

function record(id: string, random: () => number, fields: Partial<RuleRecord>): RuleRecord {
  return {
    id,
    description: `rule ${id}`,
    tenantId: MY_TENANT,
    disabled: random() < 0.05,
    ...(random() < 0.1 ? { ruleExpiryDate: new Date(NOW + (random() - 0.3) * 30 * 86_400_000).toISOString() } : {}),
    userRequestReasonRequirement: 'Optional',
    notificationChannelsSuccess: ['c-success'],
    notificationChannelsFailure: [`c-fail-${Math.floor(random() * 10)}`],
    createdAt: new Date(NOW - Math.floor(random() * 1000) * 86_400_000).toISOString(),
    createdBy: 'bench',
    ...principals(random),
    ...fields,
  };
}

/**
 * `count` rules: the same 6 that contain the device (1 device rule, 3 group rules, 2 tenant rules, one
 * of which allows the caller through a group), then filler that does not contain it: group and device
 * rules of its tenant on other groups and devices, and rules of other tenants.
 */
function ruleSet(count: number): RuleRecord[] {
  const random = prng(7);
  const matching: RuleRecord[] = [
    record('m-device', random, { deviceId: DEVICE.deviceId.toUpperCase(), disabled: false }),
    record('m-group-1', random, { groupId: guid('dg', 2), disabled: false }),
    record('m-group-2', random, { groupId: guid('dg', 5), disabled: false }),
    record('m-group-3', random, { groupId: guid('dg', 9), disabled: false, principalsAllowedLaps: [ref(guid('cg', 17))] }),
    record('m-tenant-1', random, { disabled: false }),
    record('m-tenant-2', random, { disabled: false }),
  ];
  // None of them expires or denies the caller: the decision is Success through m-group-3.
  for (const r of matching) {
    delete r.ruleExpiryDate;
    r.principalsDeniedLaps = [];
  }

  const filler: RuleRecord[] = [];
  for (let i = 0; filler.length < count - matching.length; i++) {
    const kind = random();
    const tenantId = random() < 0.2 ? MY_TENANT : TENANTS[1 + Math.floor(random() * 4)]!;
    const fields: Partial<RuleRecord> =
      tenantId !== MY_TENANT && kind < 0.02
        ? { tenantId }
        : kind < 0.6
          ? { tenantId, groupId: guid('g', Math.floor(random() * 3000)) }
          : { tenantId, deviceId: guid('d', i) };
    filler.push(record(`f-${i}`, random, fields));
  }
  return [...filler.slice(0, Math.floor(filler.length / 2)), ...matching, ...filler.slice(Math.floor(filler.length / 2))];
}

// ---------------------------------------------------------------------------------------------------
// The naive engine: what one would write without an index, scanning every rule on every request.

function naiveEvaluate(
  rules: readonly RuleRecord[],
  device: DeviceIdentity,
  deviceGroupIds: ReadonlySet<string>,
  caller: ReadonlySet<string>,
  accessType: AccessType,
  now: number,
): { allowed: boolean; code: string; grantingRule?: string } {
  const lists = PRINCIPAL_LISTS[accessType];
  const callerIds = new Set([...caller].map((id) => id.toLowerCase()));
  const names = (refs: readonly PrincipalRef[]) => refs.some((p) => callerIds.has(p.id.toLowerCase()));
  const matching = rules.filter(
    (r) =>
      !r.disabled &&
      (r.ruleExpiryDate === undefined || Date.parse(r.ruleExpiryDate) > now) &&
      r.tenantId.toLowerCase() === device.tenantId.toLowerCase() &&
      (targetKind(r) === 'tenant' ||
        (targetKind(r) === 'group'
          ? [...deviceGroupIds].some((g) => g.toLowerCase() === r.groupId!.toLowerCase())
          : r.deviceId!.toLowerCase() === device.deviceId.toLowerCase())),
  );
  if (matching.length === 0) return { allowed: false, code: 'NoMatchingRuleForComputer' };
  if (matching.some((r) => names(r[lists.denied] ?? []))) return { allowed: false, code: 'ExplicitlyDenied' };
  const order = { device: 0, group: 1, tenant: 2 };
  const granting = matching
    .filter((r) => names(r[lists.allowed] ?? []))
    .sort((a, b) => order[targetKind(a)] - order[targetKind(b)] || Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.id < b.id ? -1 : 1))[0];
  return granting ? { allowed: true, code: 'Success', grantingRule: granting.id } : { allowed: false, code: 'NoMatchingRuleForUser' };
}

// ---------------------------------------------------------------------------------------------------
// Measurement: candidates run in interleaved rounds; each reports its median time per operation.
// Time is this process's CPU time (user + system, ms): on a machine others load, wall-clock time would
// also count the moments the process waited for a core, which fall on one candidate's round or another's.

let sink = 0;

const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

interface Candidate {
  name: string;
  /** Runs the operation `n` times. */
  run: (n: number) => void;
}

function measure(candidates: readonly Candidate[], options: { rounds?: number; sampleMs?: number } = {}): Map<string, number> {
  const rounds = options.rounds ?? 7;
  const sampleMs = options.sampleMs ?? 60;
  const iterations = new Map<string, number>();
  // Calibrate (and warm up): how many operations take about one sample.
  for (const c of candidates) {
    let n = 1;
    for (;;) {
      const start = cpuNow();
      c.run(n);
      const elapsed = cpuNow() - start;
      if (elapsed > sampleMs / 4 || n > 1e8) {
        iterations.set(c.name, Math.max(1, Math.round((n * sampleMs) / Math.max(elapsed, 0.001))));
        break;
      }
      n *= 4;
    }
  }
  const samples = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const c of candidates) {
      const n = iterations.get(c.name)!;
      const start = cpuNow();
      c.run(n);
      samples.get(c.name)!.push(((cpuNow() - start) * 1e6) / n);
    }
  }
  return new Map([...samples].map(([name, ns]) => [name, median(ns)]));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const fmt = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const ratio = (a: number, b: number) => `${a / b >= 0.1 ? (a / b).toFixed(2) : (a / b).toPrecision(2)}×`;
const row = (label: string, value: string, note = '') => console.log(`  ${label.padEnd(46)} ${value.padStart(12)}  ${note}`);

// ---------------------------------------------------------------------------------------------------

function benchEvaluation(quick: boolean): GroupResult {
  const small = ruleSet(100);
  const large = ruleSet(10_000);
  const smallIndex = RuleIndex.build(small);
  const largeIndex = RuleIndex.build(large);
  const input = { device: DEVICE, deviceGroupIds: DEVICE_GROUPS, callerPrincipalIds: CALLER, accessType: 'LocalAdminPassword' as const, now: NOW };

  // The engines agree before they are timed.
  const a = largeIndex.evaluate(input);
  const b = naiveEvaluate(large, DEVICE, DEVICE_GROUPS, CALLER, 'LocalAdminPassword', NOW);
  const c = smallIndex.evaluate(input);
  if (a.code !== b.code || a.grantingRule?.id !== b.grantingRule || a.code !== c.code || a.grantingRule?.id !== c.grantingRule?.id) {
    throw new Error(`the engines disagree: ${JSON.stringify({ index: a.code, naive: b, small: c.code })}`);
  }

  const loop = (fn: () => boolean) => (n: number) => {
    for (let i = 0; i < n; i++) if (fn()) sink++;
  };
  const t = measure(
    [
      { name: 'index-100', run: loop(() => smallIndex.evaluate(input).allowed) },
      { name: 'index-10k', run: loop(() => largeIndex.evaluate(input).allowed) },
      { name: 'naive-100', run: loop(() => naiveEvaluate(small, DEVICE, DEVICE_GROUPS, CALLER, 'LocalAdminPassword', NOW).allowed) },
      { name: 'naive-10k', run: loop(() => naiveEvaluate(large, DEVICE, DEVICE_GROUPS, CALLER, 'LocalAdminPassword', NOW).allowed) },
      { name: 'all-10k', run: loop(() => largeIndex.evaluateAll(input).LocalAdminPassword.allowed) },
      { name: 'groups-10k', run: loop(() => largeIndex.groupsToCheck(MY_TENANT, NOW).length > 0) },
    ],
    // As many rounds in --quick: fewer make the medians swing with the load others put on the machine.
  );
  const get = (name: string) => t.get(name)!;

  console.log(`\nEvaluation: one device, ${a.matchingRules.length} rules contain it (${a.code} via ${a.grantingRule?.id})`);
  row('index, 100 rules', fmt(get('index-100')), 'per evaluation');
  row('index, 10,000 rules', fmt(get('index-10k')), 'per evaluation');
  row('index 10,000 / index 100', ratio(get('index-10k'), get('index-100')), '≈ 1: cost follows the matching rules, not all rules');
  row('naive scan, 100 rules', fmt(get('naive-100')), 'per evaluation');
  row('naive scan, 10,000 rules', fmt(get('naive-10k')), 'per evaluation');
  row('naive 10,000 / naive 100', ratio(get('naive-10k'), get('naive-100')), 'grows with the rules');
  row('index / naive, 10,000 rules', ratio(get('index-10k'), get('naive-10k')), `the index is ${(get('naive-10k') / get('index-10k')).toFixed(0)}× faster`);
  row('index / naive, 100 rules', ratio(get('index-100'), get('naive-100')));
  row('evaluateAll (3 access types), 10,000 rules', fmt(get('all-10k')), `${ratio(get('all-10k'), get('index-10k'))} one evaluate`);
  row(`groupsToCheck, 10,000 rules (${largeIndex.groupsToCheck(MY_TENANT, NOW).length} groups)`, fmt(get('groups-10k')));

  // The tail: single evaluations timed one by one (the timer's own cost, tens of ns, is included). A
  // call during which the OS took the CPU away (an involuntary context switch) measured the machine's
  // other load, not the evaluation: it is timed again. Garbage collection pauses stay in.
  const single = (index: RuleIndex, count: number) => {
    const samples: number[] = [];
    let preempted = 0;
    while (samples.length < count) {
      const switches = process.resourceUsage().involuntaryContextSwitches;
      const start = process.hrtime.bigint();
      if (index.evaluate(input).allowed) sink++;
      const us = Number(process.hrtime.bigint() - start) / 1000;
      if (process.resourceUsage().involuntaryContextSwitches === switches) samples.push(us);
      else preempted++;
    }
    return { p99: percentile(samples, 99), preempted: preempted / (count + preempted) };
  };
  const count = quick ? 20_000 : 100_000;
  single(largeIndex, count / 10); // warm-up
  const large10k = single(largeIndex, count);
  const small100 = single(smallIndex, count);
  const [p99Large, p99Small] = [large10k.p99, small100.p99];
  row('index p99 of single evaluations, 10,000 rules', fmt(p99Large * 1000), `${count.toLocaleString('en')} timed one by one (${(large10k.preempted * 100).toFixed(2)}% preempted, retimed)`);
  row('index p99 of single evaluations, 100 rules', fmt(p99Small * 1000));

  const speedup = get('naive-10k') / get('index-10k');
  return {
    figures: {
      evalP99Us: { value: p99Large, reference: `100 rules: ${p99Small.toFixed(1)} µs` },
      evalSpeedupVsScan: { value: speedup, reference: `scan ${fmt(get('naive-10k'))} vs index ${fmt(get('index-10k'))} p50` },
    },
    raw: {
      evalP50Us10k: get('index-10k') / 1000,
      evalP50Us100: get('index-100') / 1000,
      evalP99Us100: p99Small,
      evalPreemptedShare: large10k.preempted,
      scanP50Us10k: get('naive-10k') / 1000,
    },
  };
}

function benchBuild(): void {
  const large = ruleSet(10_000);
  const small = ruleSet(100);
  const t = measure(
    [
      { name: 'build-10k', run: (n) => { for (let i = 0; i < n; i++) sink += RuleIndex.build(large).size; } },
      { name: 'build-100', run: (n) => { for (let i = 0; i < n; i++) sink += RuleIndex.build(small).size; } },
    ],
    { rounds: 7, sampleMs: 150 },
  );
  console.log('\nBuilding the index (on every rule change)');
  row('build, 10,000 rules', fmt(t.get('build-10k')!));
  row('build, 100 rules', fmt(t.get('build-100')!));
  row('build 10,000 / build 100', ratio(t.get('build-10k')!, t.get('build-100')!), 'linear would be 100×');
}

function benchRateLimiter(): void {
  // Keys take turns so most reads are allowed and counted (the expensive path); time advances 1 ms a read.
  const takes = (keys: number) => {
    const limiter = new RateLimiter();
    const names = Array.from({ length: keys }, (_, i) => `user-${i}`);
    let now = NOW;
    // Fill: every key holds some history, the map holds every key.
    for (const name of names) for (let i = 0; i < 5; i++) limiter.take(name, now++);
    let k = 0;
    return (n: number) => {
      for (let i = 0; i < n; i++) {
        if (limiter.take(names[k]!, now++).allowed) sink++;
        if (++k === keys) k = 0;
      }
    };
  };
  const both = () => {
    const limiter = new ReadRateLimiter();
    let now = NOW;
    let k = 0;
    return (n: number) => {
      for (let i = 0; i < n; i++) {
        if (limiter.takeBoth(`user-${k % 1000}`, `10.0.${(k >> 8) & 15}.${k & 255}`, now++).allowed) sink++;
        k = (k + 1) % 4096;
      }
    };
  };
  const t = measure([
    { name: 'take-100', run: takes(100) },
    { name: 'take-100k', run: takes(100_000) },
    { name: 'both', run: both() },
  ]);
  const perSecond = (ns: number) => `${(1e9 / ns / 1e6).toFixed(2)} M/s`;
  console.log('\nRate limiter');
  row('take(), 100 keys', perSecond(t.get('take-100')!), fmt(t.get('take-100')!) + ' each');
  row('take(), 100,000 keys', perSecond(t.get('take-100k')!), fmt(t.get('take-100k')!) + ' each');
  row('take() 100,000 keys / 100 keys', ratio(t.get('take-100k')!, t.get('take-100')!), 'memory locality, and the idle-key sweep (O(keys), once a minute)');
  row('takeBoth(), user and IP', perSecond(t.get('both')!), fmt(t.get('both')!) + ' each');
}

/** The evaluation figures; the full run adds the index build and the rate limiter, printed only. */
export function runEvaluation(quick: boolean): GroupResult {
  // The build first, while the heap is small: the evaluation benchmarks leave garbage behind.
  if (!quick) benchBuild();
  const result = benchEvaluation(quick);
  if (!quick) benchRateLimiter();
  console.log(`  (checksum ${sink % 997})`);
  return result;
}

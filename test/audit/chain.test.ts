/**
 * The keyed hash chain: the documented canonical form and key, and a verification that names the
 * first line anyone changed, removed, reordered, damaged or recomputed without the master key.
 */
import t from 'tap';
import fc from 'fast-check';
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openAuditLog } from '../../daemon/audit/audit-log.js';
import { GENESIS_HASH, canonicalJson, chainKeyFor, hashEvent, sealEvent, unkeyedHashEvent, verifyAuditLog } from '../../daemon/audit/chain.js';
import { alice, bob, change, forgedPruning, pc1, pc2, secretRead, testKey, testMasterKey } from './sample-events.js';
import type { ChangeEventInput } from '../../daemon/audit/events.js';
import { tempDir, type TestContext } from '../helpers.js';

t.test('the canonical form: sorted keys at every level, no whitespace, undefined left out, arrays in order', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  t.equal(canonicalJson({ B: 1, a: 2, Ä: 3 }), '{"B":1,"a":2,"Ä":3}', 'ordered by UTF-16 code units, not by locale');
  t.equal(canonicalJson(['x', null, 1.5, true]), '["x",null,1.5,true]');
  t.equal(canonicalJson('line\nbreak "quoted"'), '"line\\nbreak \\"quoted\\""');
  // Keys an object does not keep in the order they were added: integer-like ones, and an own __proto__ (JSON.parse makes one).
  const unusual: unknown[] = [
    { b: 1, 10: 'ten', 9: 'nine', a: { 2: 'x', 1: 'y' } },
    { 4294967295: 'not an index', 4294967294: 'the last index', '01': 'leading zero' },
    JSON.parse('{"b":{"x":[{"y":1}]},"__proto__":{"a":1},"a":[{}]}'),
  ];
  for (const value of unusual) t.equal(canonicalJson(value), documentedCanonicalForm(value), JSON.stringify(value));
  t.equal(canonicalJson(unusual[0]), '{"10":"ten","9":"nine","a":{"1":"y","2":"x"},"b":1}', 'by code units: "10" before "9"');
});

/** The canonical form as documented in chain.ts, written the plainest way (amsd's own code until 2026-12): what trails so far were hashed over. */
function documentedCanonicalForm(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : documentedCanonicalForm(item))).join(',')}]`;
  const record = value as Record<string, unknown>;
  const entries = Object.keys(record)
    .sort()
    .filter((key) => record[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${documentedCanonicalForm(record[key])}`);
  return `{${entries.join(',')}}`;
}

t.test('the canonical form of any JSON value is the documented one (so every trail written before still verifies)', async (t) => {
  const value = fc.jsonValue().chain((v) => fc.constantFrom(v, { nested: v, u: undefined, list: [v, undefined] }));
  fc.assert(fc.property(value, (v) => canonicalJson(v) === documentedCanonicalForm(v)), { numRuns: 2000, seed: 20261201 });
  t.pass('2,000 values');
});

t.test('a sealed event carries the hash the verifier computes, and its chain fields win over any in the content', async (t) => {
  const content = { ...secretRead(alice, pc1, 'Success'), seq: 99, prevHash: 'forged', hash: 'forged', id: 'forged' } as never;
  const event = sealEvent(content, 3, 'a'.repeat(64), testKey, new Date('2026-12-01T10:00:00Z')) as unknown as Record<string, unknown>;
  t.match(event, { seq: 3, prevHash: 'a'.repeat(64), time: '2026-12-01T10:00:00.000Z', type: 'secret.read' });
  t.not(event.id, 'forged');
  t.equal(event.hash, hashEvent(event, testKey));
  t.equal(Object.keys(event).at(-1), 'hash', 'the hash is the last field of the line');
});

t.test('hash = HMAC-SHA256 hex, under a key derived from the master key and the trail id, of prevHash followed by the canonical event without its hash', async (t) => {
  const event = { seq: 1, prevHash: GENESIS_HASH, type: 'rule.created', hash: 'ignored' };
  const input = GENESIS_HASH + '{"prevHash":"' + GENESIS_HASH + '","seq":1,"type":"rule.created"}';
  const key = Buffer.from(hkdfSync('sha256', testMasterKey, Buffer.from(testKey.trailId), 'amsd audit chain v1', 32));
  t.equal(hashEvent(event, testKey), createHmac('sha256', key).update(input).digest('hex'));
  t.not(hashEvent(event, chainKeyFor(testMasterKey, '00000000-0000-4000-8000-000000000002')), hashEvent(event, testKey), 'another trail, another key');
  t.not(hashEvent(event, chainKeyFor(Buffer.alloc(32, 8), testKey.trailId)), hashEvent(event, testKey), 'another master key, another key');
  t.equal(unkeyedHashEvent(event), createHash('sha256').update(input).digest('hex'), 'trails from before keyed chains: plain SHA-256');
  t.equal(GENESIS_HASH, '0'.repeat(64));
});

/** A trail of six events written by the log, and its lines. */
async function sixEvents(t: TestContext): Promise<{ file: string; lines: string[] }> {
  const file = join(await tempDir(t), 'audit.jsonl');
  const { log } = await openAuditLog(file, { key: testKey });
  await log.append(secretRead(alice, pc1));
  await log.append(secretRead(bob, pc2, 'ExplicitlyDenied'));
  await log.append(change(alice, 'rule.created', undefined, { description: 'helpdesk' }));
  await log.append(secretRead(bob, pc1, 'NoMatchingRuleForUser'));
  await log.append(secretRead(alice, pc2, 'Success', 'BitLockerRecoveryKey'));
  await log.append(change(alice, 'rule.deleted', { description: 'helpdesk' }));
  await log.close();
  const lines = (await readFile(file, 'utf8')).split('\n').slice(0, -1);
  t.equal(lines.length, 6);
  return { file, lines };
}

const save = (file: string, lines: string[]) => writeFile(file, lines.map((line) => line + '\n').join(''));

t.test('an untouched trail verifies, with its last hash for anchoring elsewhere', async (t) => {
  const { file, lines } = await sixEvents(t);
  const last = JSON.parse(lines[5]!);
  t.same(await verifyAuditLog(file, testKey), { ok: true, events: 6, firstSeq: 1, lastHash: last.hash, lastTime: last.time, keyedFrom: 1 });
  t.equal(JSON.parse(lines[0]!).prevHash, GENESIS_HASH, 'the first event chains to 64 zeros');
});

t.test('verify names the first broken line and says what is wrong with it', async (t) => {
  const { file, lines } = await sixEvents(t);
  const edit = (index: number, change: (event: Record<string, any>) => void, rehash: 'with the key' | 'without the key' | false = false) => {
    const event = JSON.parse(lines[index]!);
    change(event);
    if (rehash) event.hash = rehash === 'with the key' ? hashEvent(event, testKey) : unkeyedHashEvent(event);
    return JSON.stringify(event);
  };
  const withLine = (index: number, line: string) => lines.map((l, i) => (i === index ? line : l));
  const cases: [string, string[], { line: number; seq?: number; reason: string; events: number; detail: RegExp }][] = [
    ['an edited field', withLine(2, edit(2, (e) => (e.target.displayName = 'Someone else'))), { line: 3, seq: 3, reason: 'hash-mismatch', events: 2, detail: /^hash mismatch — the event was changed after it was written/ }],
    ['an edited hash', withLine(1, edit(1, (e) => (e.hash = 'f'.repeat(64)))), { line: 2, seq: 2, reason: 'hash-mismatch', events: 1, detail: /hash mismatch/ }],
    ['a deleted line', lines.filter((_, i) => i !== 3), { line: 4, seq: 5, reason: 'seq-mismatch', events: 3, detail: /expected seq 4, found 5 — events before it are missing/ }],
    ['the last line deleted and the one before edited', withLine(4, edit(4, (e) => (e.outcome.code = 'NoMatchingRuleForUser'))).slice(0, 5), { line: 5, seq: 5, reason: 'hash-mismatch', events: 4, detail: /hash mismatch/ }],
    ['a swapped pair', [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)], { line: 2, seq: 3, reason: 'seq-mismatch', events: 1, detail: /expected seq 2, found 3/ }],
    ['a duplicated line', [...lines.slice(0, 3), lines[2]!, ...lines.slice(3)], { line: 4, seq: 3, reason: 'seq-mismatch', events: 3, detail: /expected seq 4, found 3 — events were reordered or duplicated/ }],
    ['garbage JSON', withLine(1, '{"seq":2,"type":"secret.re'), { line: 2, reason: 'invalid-json', events: 1, detail: /not valid JSON/ }],
    ['an empty line', withLine(4, ''), { line: 5, reason: 'invalid-json', events: 4, detail: /not valid JSON/ }],
    ['JSON that is not an event', withLine(0, '{"hello":"world"}'), { line: 1, reason: 'invalid-event', events: 0, detail: /seq, prevHash or hash is missing/ }],
    ['an edit re-hashed with the key to hide it', withLine(3, edit(3, (e) => (e.outcome.code = 'Success'), 'with the key')), { line: 5, seq: 5, reason: 'prev-hash-mismatch', events: 4, detail: /prevHash is not the previous event's hash/ }],
    ['an edit re-hashed without the key', withLine(3, edit(3, (e) => (e.outcome.code = 'Success'), 'without the key')), { line: 4, seq: 4, reason: 'unkeyed', events: 3, detail: /plain SHA-256, not keyed: .*without the master key/ }],
    ['a deleted line, the rest renumbered and re-hashed', renumbered(lines.filter((_, i) => i !== 1)), { line: 2, seq: 2, reason: 'prev-hash-mismatch', events: 1, detail: /replaced or re-hashed/ }],
    ['the whole trail recomputed without the key', recomputedWithoutKey(lines), { line: 1, seq: 1, reason: 'unkeyed', events: 0, detail: /no event is keyed — the hashes are plain SHA-256/ }],
    ['the first events cut and a forged audit.pruned appended', forgedPruning(lines, 2), { line: 5, seq: 7, reason: 'unkeyed', events: 6, detail: /not keyed/ }],
  ];
  for (const [name, tampered, want] of cases) {
    await save(file, tampered);
    const result = await verifyAuditLog(file, testKey);
    t.equal(result.ok, false, `${name}: reported as broken`);
    if (result.ok) continue;
    const { detail, ...broken } = result.firstBroken;
    t.same(broken, { line: want.line, ...(want.seq === undefined ? {} : { seq: want.seq }), reason: want.reason }, `${name}: the first broken line`);
    t.match(detail, want.detail, `${name}: what is wrong`);
    t.equal(result.events, want.events, `${name}: the intact events before it`);
  }
});

/** Every line re-hashed as the unkeyed chain would have it: what anyone without the master key can compute. */
function recomputedWithoutKey(lines: string[]): string[] {
  let prevHash = GENESIS_HASH;
  return lines.map((line) => {
    const event = JSON.parse(line);
    event.prevHash = prevHash;
    event.hash = prevHash = unkeyedHashEvent(event);
    return JSON.stringify(event);
  });
}


/** Renumbers and re-hashes lines from the second on, as a careless forger would: the first link still betrays it. */
function renumbered(lines: string[]): string[] {
  let prevHash: string | undefined;
  return lines.map((line, i) => {
    const event = JSON.parse(line);
    if (i > 0) {
      event.seq = i + 1;
      if (i > 1) event.prevHash = prevHash;
      event.hash = hashEvent(event, testKey);
    }
    prevHash = event.hash;
    return JSON.stringify(event);
  });
}

t.test('the hash covers content, not bytes: re-indenting a line or reordering its keys still verifies', async (t) => {
  const { file, lines } = await sixEvents(t);
  const event = JSON.parse(lines[2]!);
  const reordered = Object.fromEntries(Object.entries(event).reverse());
  await save(file, lines.map((line, i) => (i === 2 ? JSON.stringify(reordered, null, 0).replace(/,/g, ', ') : line)));
  t.match(await verifyAuditLog(file, testKey), { ok: true, events: 6 });
});

t.test('an unfinished last line is reported but not counted, and is not a break', async (t) => {
  const { file, lines } = await sixEvents(t);
  await writeFile(file, lines.map((line) => line + '\n').join('') + lines[5]!.slice(0, 40));
  t.match(await verifyAuditLog(file, testKey), { ok: true, events: 6, unfinishedLastLine: { line: 7, bytes: 40 } });
});

t.test('an empty trail verifies with no events; a missing one cannot be read', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'empty.jsonl'), '');
  t.same(await verifyAuditLog(join(dir, 'empty.jsonl'), testKey), { ok: true, events: 0, firstSeq: 1, lastHash: GENESIS_HASH });
  await t.rejects(verifyAuditLog(join(dir, 'missing.jsonl'), testKey), { code: 'ENOENT' });
});

t.test('lines longer than the read chunk are read whole', async (t) => {
  const file = join(await tempDir(t), 'audit.jsonl');
  const { log } = await openAuditLog(file, { key: testKey });
  const big = 'x'.repeat(3 * 1024 * 1024);
  await log.append(change(alice, 'settings.updated', { banner: '' }, { banner: big }));
  await log.append(change(alice, 'settings.updated', { banner: big }, { banner: 'ü'.repeat(1000) }));
  await log.close();
  t.match(await verifyAuditLog(file, testKey), { ok: true, events: 2 });
  const reopened = await openAuditLog(file, { key: testKey });
  t.teardown(() => reopened.log.close());
  const { events } = await reopened.log.query();
  t.equal((events[1] as ChangeEventInput).after?.banner, big);
});

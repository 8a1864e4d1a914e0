/**
 * An in-memory index of the audit file, so a query scans numbers instead of parsing the file: built
 * while the log opens, extended on every append, and used to read only the matching lines by offset.
 *
 * Memory: one slot per event (slot i holds seq firstSeq + i, so seq costs nothing) in typed-array columns — time 8, byte offset 8, byte length 4, actor 4,
 * device 4, type 2, access type 2, result code 2: 34 bytes per event (up to twice that right after
 * the columns double), about 34 MB per million events. Actors and devices are stored once each in a
 * dictionary (a few hundred bytes per distinct user or device), the events only point to them.
 */
import type { AccessType, ResultCode } from '../access/types.js';
import type { AuditEvent, AuditEventType } from './events.js';

export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 1000;

export interface AuditQuery {
  /** Events at or after this time (ISO 8601). */
  from?: string;
  /** Events before this time (ISO 8601): `from`/`to` are half-open, so consecutive ranges do not overlap. */
  to?: string;
  /** An actor's id, principal id, display name or UPN; exact, ignoring case. */
  user?: string;
  /** A device's name, deviceId or object id, or what a requester typed for a device not found; exact, ignoring case. */
  device?: string;
  accessType?: AccessType;
  /** A result code, or `success` / `failure`. Only secret reads have an outcome. */
  outcome?: ResultCode | 'success' | 'failure';
  type?: AuditEventType;
  /** How many events a page holds, 1 to 1000; 100 when absent (`top`, as on /v1/devices and in OData). */
  top?: number;
  /** `nextCursor` of the previous page, as given. */
  cursor?: string;
}

export interface AuditPage {
  /** Newest first. */
  events: AuditEvent[];
  /** Present when there may be more: pass it back as `cursor` for the next page. */
  nextCursor?: string;
}

/** A query the caller got wrong (a 400, not a 500). */
export class AuditQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditQueryError';
  }
}

/** A query checked and reduced to what the scan compares. */
export interface ParsedQuery {
  from: number;
  to: number;
  top: number;
  /** Only events with a lower seq; the cursor is this seq. */
  belowSeq: number;
  user?: string;
  device?: string;
  accessType?: string;
  outcome?: string;
  type?: string;
}

function parseTime(name: string, value: string | undefined, absent: number): number {
  if (value === undefined) return absent;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new AuditQueryError(`${name} must be a date and time (ISO 8601), not ${JSON.stringify(value)}`);
  return time;
}

export function parseAuditQuery(query: AuditQuery, lastSeq: number): ParsedQuery {
  const top = query.top ?? DEFAULT_QUERY_LIMIT;
  if (!Number.isInteger(top) || top < 1 || top > MAX_QUERY_LIMIT) {
    throw new AuditQueryError(`top must be a whole number from 1 to ${MAX_QUERY_LIMIT}`);
  }
  let belowSeq = lastSeq + 1;
  if (query.cursor !== undefined) {
    // The cursor is opaque to clients; today it is the seq of the last event they received.
    const seq = /^[1-9]\d{0,15}$/.test(query.cursor) ? Number(query.cursor) : NaN;
    if (!(seq <= lastSeq)) throw new AuditQueryError('cursor is not one this audit trail gave out');
    belowSeq = seq;
  }
  const user = query.user?.toLowerCase();
  const device = query.device?.toLowerCase();
  return {
    from: parseTime('from', query.from, -Infinity),
    to: parseTime('to', query.to, Infinity),
    top,
    belowSeq,
    ...(user === undefined ? {} : { user }),
    ...(device === undefined ? {} : { device }),
    ...(query.accessType === undefined ? {} : { accessType: query.accessType }),
    ...(query.outcome === undefined ? {} : { outcome: query.outcome }),
    ...(query.type === undefined ? {} : { type: query.type }),
  };
}

/** Distinct values, each stored once; events hold its ref. Ref 0 means "none". */
class Dictionary<Entry> {
  readonly #refs = new Map<string, number>();
  /** entries[ref - 1] */
  readonly entries: Entry[] = [];

  /** A dictionary holding `entries` under the refs they had, each filed under `keyOf(entry)`. */
  static of<Entry>(entries: readonly Entry[], keyOf: (entry: Entry) => string): Dictionary<Entry> {
    const dictionary = new Dictionary<Entry>();
    for (const entry of entries) dictionary.ref(keyOf(entry), () => entry);
    if (dictionary.entries.length !== entries.length) throw new RangeError('Audit index snapshot: a dictionary holds an entry twice');
    return dictionary;
  }

  ref(key: string | undefined, entry: () => Entry): number {
    if (key === undefined) return 0;
    let ref = this.#refs.get(key);
    if (ref === undefined) {
      this.entries.push(entry());
      ref = this.entries.length;
      this.#refs.set(key, ref);
    }
    return ref;
  }

  /** The refs whose entry satisfies `test`. */
  refsWhere(test: (entry: Entry) => boolean): Set<number> {
    const refs = new Set<number>();
    this.entries.forEach((entry, i) => {
      if (test(entry)) refs.add(i + 1);
    });
    return refs;
  }
}

const text = (value: unknown) => (typeof value === 'string' ? value : undefined);

/**
 * The strings a filter compares with an event's actor or device, lowercased, and the dictionary key of
 * that list (each string after its length, so no two lists share a key). Built with plain loops: this
 * runs for every event of the trail when the log opens.
 */
function identifiers(values: unknown[]): { ids: string[]; key: string | undefined } {
  const ids: string[] = [];
  let key: string | undefined;
  for (const value of values) {
    if (typeof value !== 'string') continue;
    const id = value.toLowerCase();
    ids.push(id);
    key = `${key ?? ''}${id.length}:${id}`;
  }
  return { ids, key };
}

/** The dictionary key `identifiers` gave a list. */
const keyOfIds = (ids: readonly string[]) => ids.map((id) => `${id.length}:${id}`).join('');
const itself = (value: string) => value;

/** What an index holds, as plain data (for index-cache.ts): its dictionaries, and one column per field. */
export interface IndexSnapshot {
  firstSeq: number;
  /** Events indexed. */
  events: number;
  dictionaries: { types: string[]; accessTypes: string[]; codes: string[]; actors: string[][]; devices: string[][] };
  columns: IndexColumns;
}
export interface IndexColumns {
  time: Float64Array<ArrayBuffer>;
  offset: Float64Array<ArrayBuffer>;
  length: Uint32Array<ArrayBuffer>;
  actor: Uint32Array<ArrayBuffer>;
  device: Uint32Array<ArrayBuffer>;
  type: Uint16Array<ArrayBuffer>;
  accessType: Uint16Array<ArrayBuffer>;
  code: Uint16Array<ArrayBuffer>;
}

const INITIAL_CAPACITY = 1024;

/** One read of the file that serves several events: the bytes from `offset` on, and where each event's line is in them. */
export interface ReadSpan {
  offset: number;
  length: number;
  lines: { seq: number; start: number; length: number }[];
}

/** A span reads through gaps up to this size rather than starting another read (a read costs a trip through libuv's pool). */
const MAX_GAP_BYTES = 16 * 1024;
const MAX_SPAN_BYTES = 1024 * 1024;

export class AuditEventIndex {
  /** Slot i holds seq firstSeq + i: 1 unless retention pruned the start of the trail. */
  readonly firstSeq: number;
  #count = 0;
  #time = new Float64Array(INITIAL_CAPACITY);
  #offset = new Float64Array(INITIAL_CAPACITY);
  #length = new Uint32Array(INITIAL_CAPACITY);
  #actor = new Uint32Array(INITIAL_CAPACITY);
  #device = new Uint32Array(INITIAL_CAPACITY);
  #type = new Uint16Array(INITIAL_CAPACITY);
  #accessType = new Uint16Array(INITIAL_CAPACITY);
  #code = new Uint16Array(INITIAL_CAPACITY);

  #types = new Dictionary<string>();
  #accessTypes = new Dictionary<string>();
  #codes = new Dictionary<string>();
  #actors = new Dictionary<string[]>();
  #devices = new Dictionary<string[]>();

  constructor(firstSeq = 1) {
    this.firstSeq = firstSeq;
  }

  /** The seq of the last event indexed (firstSeq - 1 when there is none). */
  get count(): number {
    return this.firstSeq - 1 + this.#count;
  }

  /** The index as plain data; `restore` makes the same index of it. The columns are copies. */
  snapshot(): IndexSnapshot {
    const n = this.#count;
    return {
      firstSeq: this.firstSeq,
      events: n,
      dictionaries: {
        types: [...this.#types.entries],
        accessTypes: [...this.#accessTypes.entries],
        codes: [...this.#codes.entries],
        actors: this.#actors.entries.map((ids) => [...ids]),
        devices: this.#devices.entries.map((ids) => [...ids]),
      },
      columns: {
        time: this.#time.slice(0, n),
        offset: this.#offset.slice(0, n),
        length: this.#length.slice(0, n),
        actor: this.#actor.slice(0, n),
        device: this.#device.slice(0, n),
        type: this.#type.slice(0, n),
        accessType: this.#accessType.slice(0, n),
        code: this.#code.slice(0, n),
      },
    };
  }

  /** The index a snapshot was taken of (its columns are taken over, not copied). */
  static restore(snapshot: IndexSnapshot): AuditEventIndex {
    const index = new AuditEventIndex(snapshot.firstSeq);
    const { dictionaries: d, columns: c } = snapshot;
    const lengths = Object.values(c).map((column: ArrayLike<number>) => column.length);
    if (lengths.some((length) => length !== snapshot.events)) throw new RangeError('Audit index snapshot: columns of different lengths');
    index.#types = Dictionary.of(d.types, itself);
    index.#accessTypes = Dictionary.of(d.accessTypes, itself);
    index.#codes = Dictionary.of(d.codes, itself);
    index.#actors = Dictionary.of(d.actors, keyOfIds);
    index.#devices = Dictionary.of(d.devices, keyOfIds);
    index.#count = snapshot.events;
    index.#time = c.time;
    index.#offset = c.offset;
    index.#length = c.length;
    index.#actor = c.actor;
    index.#device = c.device;
    index.#type = c.type;
    index.#accessType = c.accessType;
    index.#code = c.code;
    return index;
  }

  /** Forgets the events after `lastSeq` (they are indexed again as they are read). */
  truncate(lastSeq: number): void {
    if (lastSeq < this.firstSeq - 1 || lastSeq > this.count) throw new RangeError(`Cannot truncate the audit index to seq ${lastSeq}`);
    this.#count = lastSeq - this.firstSeq + 1;
  }

  /** Indexes the next event. Tolerates fields a hand-written or future event may lack: they just never match a filter. */
  add(event: AuditEvent, offset: number, length: number): void {
    if (event.seq !== this.count + 1) throw new Error(`Audit index out of step: got seq ${event.seq} after ${this.count}`);
    if (this.#count === this.#time.length) this.#grow();
    const i = this.#count;
    const loose = event as unknown as Record<string, unknown>;
    const actor = (loose.actor ?? {}) as Record<string, unknown>;
    const device = (loose.device ?? {}) as Record<string, unknown>;
    const outcome = (loose.outcome ?? {}) as Record<string, unknown>;
    const type = text(loose.type);
    const accessType = text(loose.accessType);
    const code = text(outcome.code);
    const actorIds = identifiers([actor.id, actor.principalId, actor.displayName, actor.userPrincipalName]);
    const deviceIds = identifiers([device.deviceName, device.deviceId, device.objectId, device.query]);

    this.#time[i] = typeof loose.time === 'string' ? Date.parse(loose.time) : NaN;
    this.#offset[i] = offset;
    this.#length[i] = length;
    this.#type[i] = this.#types.ref(type, () => type!);
    this.#accessType[i] = this.#accessTypes.ref(accessType, () => accessType!);
    this.#code[i] = this.#codes.ref(code, () => code!);
    this.#actor[i] = this.#actors.ref(actorIds.key, () => actorIds.ids);
    this.#device[i] = this.#devices.ref(deviceIds.key, () => deviceIds.ids);
    this.#count++;
  }

  /** Where event `seq` is in the file. */
  location(seq: number): { offset: number; length: number } {
    if (!(seq >= this.firstSeq && seq <= this.count)) throw new RangeError(`No audit event with seq ${seq}`);
    const i = seq - this.firstSeq;
    return { offset: this.#offset[i]!, length: this.#length[i]! };
  }

  /**
   * The reads that fetch the lines of `seqs` (any order): lines near each other in the file are read
   * together, up to MAX_SPAN_BYTES a read, so a page of 1,000 adjacent events is one read, not 1,000.
   */
  readSpans(seqs: readonly number[]): ReadSpan[] {
    const spans: ReadSpan[] = [];
    let span: ReadSpan | undefined;
    for (const seq of [...seqs].sort((a, b) => a - b)) {
      const { offset, length } = this.location(seq);
      const end = span ? span.offset + span.length : 0;
      if (!span || offset - end > MAX_GAP_BYTES || offset + length - span.offset > MAX_SPAN_BYTES) {
        span = { offset, length: 0, lines: [] };
        spans.push(span);
      }
      span.lines.push({ seq, start: offset - span.offset, length });
      span.length = Math.max(span.length, offset + length - span.offset);
    }
    return spans;
  }

  /** The seqs of up to `wanted` matching events below `query.belowSeq`, newest first. */
  search(query: ParsedQuery, wanted: number): number[] {
    const only = (dictionary: Dictionary<string>, value: string | undefined) =>
      value === undefined ? undefined : dictionary.refsWhere((entry) => entry === value);
    const types = only(this.#types, query.type);
    const accessTypes = only(this.#accessTypes, query.accessType);
    const codes =
      query.outcome === undefined
        ? undefined
        : query.outcome === 'success' || query.outcome === 'failure'
          ? this.#codes.refsWhere((code) => (code === 'Success') === (query.outcome === 'success'))
          : only(this.#codes, query.outcome);
    const actors = query.user === undefined ? undefined : this.#actors.refsWhere((ids) => ids.includes(query.user!));
    const devices = query.device === undefined ? undefined : this.#devices.refsWhere((ids) => ids.includes(query.device!));
    const timed = query.from !== -Infinity || query.to !== Infinity;

    const found: number[] = [];
    for (let i = Math.min(query.belowSeq - 1, this.count) - this.firstSeq; i >= 0 && found.length < wanted; i--) {
      if (timed && !(this.#time[i]! >= query.from && this.#time[i]! < query.to)) continue;
      if (types && !types.has(this.#type[i]!)) continue;
      if (accessTypes && !accessTypes.has(this.#accessType[i]!)) continue;
      if (codes && !codes.has(this.#code[i]!)) continue;
      if (actors && !actors.has(this.#actor[i]!)) continue;
      if (devices && !devices.has(this.#device[i]!)) continue;
      found.push(i + this.firstSeq);
    }
    return found;
  }

  /** The first seq whose event is at or after `time` (count + 1 when none is): events are appended in time order. */
  firstSeqAtOrAfter(time: number): number {
    for (let i = 0; i < this.#count; i++) if (this.#time[i]! >= time) return i + this.firstSeq;
    return this.count + 1;
  }

  #grow(): void {
    const capacity = Math.max(INITIAL_CAPACITY, this.#time.length * 2);
    const grown = <T extends Float64Array | Uint32Array | Uint16Array>(column: T, make: new (size: number) => T): T => {
      const bigger = new make(capacity);
      bigger.set(column);
      return bigger;
    };
    this.#time = grown(this.#time, Float64Array);
    this.#offset = grown(this.#offset, Float64Array);
    this.#length = grown(this.#length, Uint32Array);
    this.#actor = grown(this.#actor, Uint32Array);
    this.#device = grown(this.#device, Uint32Array);
    this.#type = grown(this.#type, Uint16Array);
    this.#accessType = grown(this.#accessType, Uint16Array);
    this.#code = grown(this.#code, Uint16Array);
  }
}

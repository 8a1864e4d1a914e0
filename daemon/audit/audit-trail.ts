/**
 * What the rest of the daemon needs of an audit trail, whichever it has: the file of the data
 * directory (audit-log.ts) or the table several daemons share in PostgreSQL (postgres-trail.ts).
 * Both chain events the same way (chain.ts), resolve an append only once it is durable, and answer
 * Get-AmsAuditEvent's queries with the same filters, order and cursor.
 */
import type { ChainKey } from './chain.js';
import type { AuditPage, AuditQuery } from './event-index.js';
import type { AuditEvent, AuditEventInput } from './events.js';

export interface TrailHead {
  seq: number;
  hash: string;
}

export interface AuditTrail {
  /** The chain key its events are hashed under (chain.ts). */
  readonly key: ChainKey;
  /** The last event this trail knows to be durable (checkpoints note it). */
  readonly head: TrailHead;
  /** Resolves with the event as stored once it is durable; rejects with AuditWriteError when it cannot be, TypeError for an invalid event. */
  append(input: AuditEventInput): Promise<AuditEvent>;
  /** A page of events matching `query`, newest first; AuditQueryError for a bad query. */
  query(query?: AuditQuery): Promise<AuditPage>;
  /** Retention: an audit.pruned event is appended, then the older events go. */
  prune(options: { olderThan?: Date; keepLast?: number }): Promise<{ removed: number }>;
  /** Called after each durable batch with the new head (the checkpoints). One listener. */
  onCommit(listener: (head: TrailHead) => void): void;
  /** Refuses new appends, waits for those made. */
  close(): Promise<void>;
}

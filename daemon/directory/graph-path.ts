/**
 * Values placed into Graph URLs. A value from a request (a user principal name, a device id) becomes
 * exactly one path segment of the resource it names: never empty, never `.` or `..` (which URL
 * parsers resolve, escaping `/users/` to Graph's root, even percent-encoded), never a segment Graph
 * reads as an OData feature (`$count`, `$ref`, `$value` are URL segments in Graph, not object keys:
 * https://learn.microsoft.com/graph/query-parameters, "Other OData URL capabilities"), every reserved
 * character percent-encoded.
 */

/** A value that cannot name one object of a Graph collection; the message says why, for the caller. */
export class InvalidGraphSegment extends Error {
  constructor(readonly value: string, reason: string) {
    super(reason);
    this.name = 'InvalidGraphSegment';
  }
}

// encodeURIComponent leaves !'()* alone; in an OData path `(` and `'` are key syntax, so encode them too.
const ODATA_RESERVED = /[!'()*]/g;
/** Letters, digits, `-` and `_`: never empty, never `.` or `..`, never `$`, and encodeURIComponent leaves them as they are. */
const PLAIN_SEGMENT = /^[A-Za-z0-9_-]+$/;

/** `value` as one percent-encoded path segment, or InvalidGraphSegment. */
export function graphSegment(value: string): string {
  // An id (a GUID, say) is made of unreserved characters only: nothing to refuse, nothing to encode.
  if (PLAIN_SEGMENT.test(value)) return value;
  if (!value.isWellFormed()) throw new InvalidGraphSegment(value, 'contains a lone UTF-16 surrogate');
  if (value.trim() === '') throw new InvalidGraphSegment(value, 'is empty or only spaces');
  if (value.trim() === '.' || value.trim() === '..') throw new InvalidGraphSegment(value, `'${value}' names no object`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new InvalidGraphSegment(value, 'contains a control character (a tab or a line break)');
  if (value.startsWith('$')) throw new InvalidGraphSegment(value, `starts with '$', which Graph reads as an OData feature (such as $count); give the object id instead`);
  return encodeURIComponent(value).replace(ODATA_RESERVED, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

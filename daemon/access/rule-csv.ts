/**
 * Rules from a spreadsheet: one rule per row of a CSV whose header names the columns (the cmdlet
 * parameter names admins know: Description, TenantId, GroupId, PrincipalsAllowedLaps, ...; any case).
 * Lists are separated by semicolons. Each row is checked against the contract's schema for a new rule,
 * so a CSV row and a New-AmsComputerAuthorizationRule call are refused for the same reasons.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { createAjv } from '../common/ajv.js';
import type { FieldError } from '../common/errors.js';
import { loadSpec, toJsonSchema } from '../../openapi/contract.js';
import type { NewRule } from './rule-service.js';
import { PRINCIPAL_LIST_NAMES } from './types.js';


/** Columns holding lists (semicolon-separated in a cell). */
const LIST_COLUMNS: readonly string[] = [...PRINCIPAL_LIST_NAMES, 'notificationChannelsSuccess', 'notificationChannelsFailure'];
/** Every column, in the order of the cmdlet's parameters. */
export const RULE_CSV_COLUMNS = [
  'description',
  'tenantId',
  'groupId',
  'deviceId',
  ...PRINCIPAL_LIST_NAMES,
  'ruleExpiryDate',
  'disabled',
  'notes',
  'userRequestReasonRequirement',
  'rotateAfterReadMinutes',
  'notificationChannelsSuccess',
  'notificationChannelsFailure',
] as const;
const REQUIRED = ['description', 'tenantId'];
/** Large enough for any real rule set, small enough that one request cannot tie the daemon up resolving names. */
export const MAX_CSV_ROWS = 2000;

let newRuleValidator: ValidateFunction | undefined;
/** The contract's schema of a new rule, compiled at the first import rather than at every start. */
function newRuleSchema(): ValidateFunction {
  newRuleValidator ??= createAjv({ allErrors: true, strict: false }).compile(toJsonSchema(loadSpec(), { $ref: '#/components/schemas/NewComputerAuthorizationRule' }));
  return newRuleValidator;
}

export interface ParsedRows {
  rows: { line: number; input: NewRule }[];
  errors: FieldError[];
}

export type CsvDelimiter = ',' | ';' | '\t';

/**
 * The delimiter the header line uses: column names hold no comma, semicolon or tab, so whichever of
 * them it has is it (Excel saves semicolons where the decimal separator is a comma). A comma otherwise.
 */
function detectDelimiter(text: string): CsvDelimiter {
  const header = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
  for (const candidate of [',', ';', '\t'] as const) if (header.includes(candidate)) return candidate;
  return ',';
}

export async function parseRuleCsv(text: string, delimiter: CsvDelimiter = detectDelimiter(text)): Promise<ParsedRows> {
  // Loaded with the first import, not by every daemon at start.
  const { parse } = await import('csv-parse/sync');
  let records: { record: string[]; info: { lines: number } }[];
  // skip_empty_lines is off so that line numbers count every line; empty rows are dropped below.
  try {
    records = parse(text, { bom: true, delimiter, relax_column_count: false, skip_empty_lines: false, skip_records_with_empty_values: true, trim: true, info: true }) as never;
  } catch (error) {
    return { rows: [], errors: [{ path: 'body/csv', message: `is not valid CSV: ${(error as Error).message}` }] };
  }
  const header = records[0]?.record;
  const body = records.slice(1);
  if (!header) return { rows: [], errors: [{ path: 'body/csv', message: 'is empty: the first line names the columns, then one rule per line' }] };

  const byLowerName = new Map(RULE_CSV_COLUMNS.map((c) => [c.toLowerCase(), c]));
  const columns = header.map((name) => byLowerName.get(name.toLowerCase()));
  const errors: FieldError[] = [];
  header.forEach((name, i) => {
    if (!columns[i]) errors.push({ path: 'body/csv/1', message: `line 1: unknown column '${name}' (known: ${RULE_CSV_COLUMNS.map(pascal).join(', ')})` });
  });
  for (const required of REQUIRED) {
    if (!columns.includes(required as never)) errors.push({ path: 'body/csv/1', message: `line 1: the column ${pascal(required)} is required` });
  }
  if (body.length > MAX_CSV_ROWS) errors.push({ path: 'body/csv', message: `has ${body.length} rules; import at most ${MAX_CSV_ROWS} at a time` });
  if (errors.length > 0) return { rows: [], errors };

  const rows: ParsedRows['rows'] = [];
  body.forEach(({ record: cells }, i) => {
    // Where the row starts: the line after the previous row ends (a quoted cell may span lines).
    const line = records[i]!.info.lines + 1;
    const input: Record<string, unknown> = {};
    cells.forEach((cell, i) => {
      const column = columns[i]!;
      if (cell === '') return;
      if (LIST_COLUMNS.includes(column)) input[column] = cell.split(';').map((e) => e.trim()).filter(Boolean);
      else if (column === 'disabled') input[column] = /^(true|yes|1)$/i.test(cell) ? true : /^(false|no|0)$/i.test(cell) ? false : cell;
      // A whole number becomes one; anything else stays text, for the schema to refuse with its words.
      else if (column === 'rotateAfterReadMinutes') input[column] = /^\s*\d{1,9}\s*$/.test(cell) ? Number(cell) : cell;
      else input[column] = cell;
    });
    const validate = newRuleSchema();
    if (!validate(input)) {
      for (const e of validate.errors ?? []) errors.push({ path: `body/csv/${line}${fieldOf(e)}`, message: `line ${line}: ${describe(e)}` });
      return;
    }
    rows.push({ line, input: input as unknown as NewRule });
  });
  return { rows, errors };
}

/**
 * Rules as the CSV parseRuleCsv reads back to the same rules: every column, principals, targets and
 * channels by id, lists joined by semicolons, a cell quoted when it holds the delimiter, a quote, a
 * line break or spaces at its ends (RFC 4180).
 */
export function ruleCsv(rules: readonly RuleExportRow[], delimiter: CsvDelimiter = ','): string {
  const cell = (value: string) => (value.includes(delimiter) || /["\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);
  const lines = [RULE_CSV_COLUMNS.map(pascal).join(delimiter)];
  for (const rule of rules) {
    lines.push(
      RULE_CSV_COLUMNS.map((column) => {
        const value = rule[column];
        if (value === undefined || value === null) return '';
        // Not Array.isArray: it narrows a readonly array to any[].
        if (typeof value === 'object') return cell(value.map((entry) => (typeof entry === 'string' ? entry : entry.id)).join(';'));
        return cell(String(value));
      }).join(delimiter),
    );
  }
  return lines.join('\r\n') + '\r\n';
}

/** What a rule gives to each column of its CSV row. */
export type RuleExportRow = { [column in (typeof RULE_CSV_COLUMNS)[number]]?: string | number | boolean | null | readonly (string | { id: string })[] };

function pascal(name: string): string {
  return name[0]!.toUpperCase() + name.slice(1);
}

function fieldOf(error: ErrorObject): string {
  const missing = error.keyword === 'required' ? `/${(error.params as { missingProperty: string }).missingProperty}` : '';
  return error.instancePath + missing;
}

function describe(error: ErrorObject): string {
  const column = fieldOf(error).split('/')[1];
  return `${column ? pascal(column) : 'the row'} ${error.message ?? 'is invalid'}${error.keyword === 'enum' ? ` (${(error.params as { allowedValues: string[] }).allowedValues.join(', ')})` : ''}`;
}

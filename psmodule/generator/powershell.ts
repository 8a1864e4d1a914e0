/**
 * Putting text from the spec into PowerShell source safely: single-quoted literals (no expansion, every
 * kind of single quote doubled), comment-based help that no spec string can close early, XML text.
 */

/**
 * PowerShell's tokenizer takes the typographic single quotes (‘ ’ ‚ ‛) for `'` too, so each of them
 * must be doubled like `'` itself, or a spec string with "it’s" would end the literal.
 */
const SINGLE_QUOTES = /['\u2018\u2019\u201A\u201B]/g;

/** Control characters other than tab and newline have no business in source files. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;

/** A single-quoted PowerShell string literal: nothing in it is expanded, `$(...)` included. */
export function psString(value: string): string {
  return `'${value.replace(CONTROL, '').replace(/\r\n?/g, '\n').replace(SINGLE_QUOTES, (q) => q + q)}'`;
}

/** `@('a', 'b')`. */
export function psArray(values: readonly string[]): string {
  return `@(${values.map(psString).join(', ')})`;
}

/** Keywords of comment-based help (about_Comment_Based_Help): a text line starting with one would open a new section. */
const HELP_KEYWORDS =
  /^(\s*)\.(SYNOPSIS|DESCRIPTION|PARAMETER|EXAMPLE|INPUTS|OUTPUTS|NOTES|LINK|COMPONENT|ROLE|FUNCTIONALITY|FORWARDHELPTARGETNAME|FORWARDHELPCATEGORY|REMOTEHELPRUNSPACE|EXTERNALHELP)\b/i;

/**
 * Text for a `<# ... #>` help block: `#>` cannot close the block early (it becomes `# >`), a line
 * cannot start a help keyword (`.LINK` becomes `\.LINK`), control characters go, newlines become LF.
 */
export function helpText(value: string): string {
  return value
    .replace(CONTROL, '')
    .replace(/\r\n?/g, '\n')
    .replace(/#>/g, '# >')
    .replace(/<#/g, '< #')
    .split('\n')
    .map((line) => line.replace(HELP_KEYWORDS, '$1\\.$2').replace(/\s+$/, ''))
    .join('\n')
    .trim();
}

/** Indents every non-empty line. */
export function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => (line ? prefix + line : line))
    .join('\n');
}

/** Text for a `#` line comment: one line, nothing that could matter. */
export function commentText(value: string): string {
  return value.replace(CONTROL, '').replace(/[\r\n]+/g, ' ').trim();
}

export function xmlText(value: string): string {
  return value
    .replace(CONTROL, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** The first sentence-ish line of a text, for one-line summaries. */
export function firstLine(value: string): string {
  const line = value.trim().split(/\n\s*\n/)[0] ?? '';
  return line.replace(/\s+/g, ' ').trim();
}

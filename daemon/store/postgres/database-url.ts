/**
 * The database URL (`--database`, `AMS_DATABASE_URL`): a `postgres://` or `postgresql://` URL. It may
 * hold a password, so no message ever shows it as given: `redactDatabaseUrl` replaces the password
 * (in the user part, or a `password` query parameter) with `***`.
 */

export class DatabaseUrlError extends Error {
  constructor(problem: string) {
    super(`The database URL ${problem}. Give one like postgres://user:password@host:5432/database.`);
    this.name = 'DatabaseUrlError';
  }
}

/** Checks that `url` is a PostgreSQL URL; returns it unchanged. The error never holds the URL itself. */
export function checkDatabaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseUrlError('is not a URL');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new DatabaseUrlError(`has the scheme ${parsed.protocol.replace(/:$/, '')}, not postgres or postgresql`);
  }
  if (!parsed.hostname && !parsed.searchParams.has('host')) throw new DatabaseUrlError('names no host');
  return url;
}

/** The URL as messages show it: the password replaced by `***`; a string that is no URL is not shown at all. */
export function redactDatabaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(a database URL that cannot be parsed)';
  }
  if (parsed.password) parsed.password = '***';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
  return parsed.toString().replace('password=%2A%2A%2A', 'password=***');
}

/** Removes every occurrence of the URL's password from a text (a driver's error message, say). */
export function redactPassword(text: string, url: string): string {
  let password: string | undefined;
  try {
    const parsed = new URL(url);
    password = parsed.password ? decodeURIComponent(parsed.password) : (parsed.searchParams.get('password') ?? undefined);
  } catch {
    return text.replaceAll(url, redactDatabaseUrl(url));
  }
  let result = text.replaceAll(url, redactDatabaseUrl(url));
  if (password) result = result.replaceAll(password, '***');
  return result;
}

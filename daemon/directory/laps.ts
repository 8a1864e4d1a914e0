/**
 * Windows LAPS credentials as Graph returns them (`/directory/deviceLocalCredentials/{deviceId}` with
 * `$select=...,credentials`), turned into what the daemon hands out: newest first, passwords decoded.
 */

/** One entry of Graph's `credentials` array. */
export interface GraphLapsCredential {
  accountName: string;
  accountSid?: string;
  backupDateTime: string;
  passwordBase64: string;
}

export interface GraphDeviceLocalCredentialInfo {
  id: string;
  deviceName: string;
  lastBackupDateTime?: string;
  /** When the device will next rotate the password. */
  refreshDateTime?: string;
  credentials?: GraphLapsCredential[];
}

export interface LapsCredential {
  account: string;
  password: string;
  passwordUpdateTime: string;
  /** Only the current password has one: when the device will rotate it. */
  passwordExpirationTime?: string;
}

/**
 * Graph's documentation shows `passwordBase64` as UTF-16LE while real tenants send UTF-8. Decode to
 * bytes; an even length with every odd byte zero is UTF-16LE (no printable UTF-8 password looks like
 * that), anything else UTF-8.
 */
export function decodeLapsPassword(passwordBase64: string): string {
  const bytes = Buffer.from(passwordBase64, 'base64');
  let looksUtf16 = bytes.length > 0 && bytes.length % 2 === 0;
  for (let i = 1; looksUtf16 && i < bytes.length; i += 2) looksUtf16 = bytes[i] === 0;
  return bytes.toString(looksUtf16 ? 'utf16le' : 'utf8');
}

/**
 * The backed-up credentials, newest first: the first is the current password, the rest its history.
 * Only the first `count` are decoded and returned: a read of the current password holds no other.
 */
export function toLapsCredentials(info: GraphDeviceLocalCredentialInfo, count = Infinity): LapsCredential[] {
  const credentials = info.credentials ?? [];
  const newestFirst = count === 1 ? newestOf(credentials) : credentials.map((credential) => ({ credential, at: Date.parse(credential.backupDateTime) })).sort((a, b) => b.at - a.at).map((c) => c.credential);
  return newestFirst.slice(0, count).map((credential, index) => ({
    account: credential.accountName,
    password: decodeLapsPassword(credential.passwordBase64),
    passwordUpdateTime: new Date(credential.backupDateTime).toISOString(),
    ...(index === 0 && info.refreshDateTime ? { passwordExpirationTime: new Date(info.refreshDateTime).toISOString() } : {}),
  }));
}

/** The newest credential alone, in one pass: a read of the current password sorts nothing. */
function newestOf(credentials: readonly GraphLapsCredential[]): GraphLapsCredential[] {
  let newest: GraphLapsCredential | undefined;
  let newestAt = -Infinity;
  for (const credential of credentials) {
    const parsed = Date.parse(credential.backupDateTime);
    const at = Number.isNaN(parsed) ? -Infinity : parsed;
    // The first of equal times, as the (stable) sort keeps them.
    if (newest === undefined || at > newestAt) {
      newest = credential;
      newestAt = at;
    }
  }
  return newest ? [newest] : [];
}

/**
 * The simulated tenant's directory, generated from a seed so every run (and every test) sees the same
 * devices, passwords and groups. It deliberately contains the awkward cases real tenants have:
 * duplicate device names, devices without a LAPS backup, password histories not sorted newest first,
 * both password encodings, a history entry for another account, BitLocker keys whose volumeType is
 * sometimes a number and sometimes a name, and groups nested in groups.
 *
 * Intune (intune.ts) manages most devices, not all: every 8th device from the 4th on (index % 8 === 3:
 * PC-0004, PC-0012, PC-0020, ...) is not enrolled, so some devices with a LAPS backup cannot be rotated
 * through Intune. Of the managed ones, index % 25 === 12 (PC-0013, PC-0038) is offline: Intune accepts
 * an action for it, and it rotates only once it is set online. PC-0001 (index 0) is managed, online and
 * has a LAPS backup; PC-0005 (index 4) is managed without one.
 */

/**
 * One entry of Graph's deviceLocalCredentialInfo `credentials`, as Graph documents it: written here, not
 * borrowed from the daemon, so a misreading of Graph in the daemon is not mirrored by its test double.
 */
export interface GraphLapsCredential {
  accountName: string;
  accountSid?: string;
  backupDateTime: string;
  passwordBase64: string;
}

export interface SeededPassword {
  account: string;
  password: string;
  backupDateTime: string;
  encoding: 'utf8' | 'utf16le';
}

export interface SeededLaps {
  lastBackupDateTime: string;
  refreshDateTime: string;
  /** As Graph serves it (order not guaranteed, passwords base64). */
  credentials: GraphLapsCredential[];
  /** What a correct client decodes: newest first. */
  expected: SeededPassword[];
}

export interface SeededBitlockerKey {
  id: string;
  createdDateTime: string;
  volumeType: number | string;
  deviceId: string;
  key: string;
}

export interface SeededDevice {
  /** Directory object id (used by /devices/{id}, checkMemberGroups). */
  id: string;
  /** Registration id (the key of deviceLocalCredentials and BitLocker keys). */
  deviceId: string;
  displayName: string;
  operatingSystem: string;
  operatingSystemVersion: string;
  accountEnabled: boolean;
  trustType: 'AzureAd' | 'ServerAd';
  approximateLastSignInDateTime: string;
  laps?: SeededLaps;
  bitlockerKeys: SeededBitlockerKey[];
  /** The device's Intune record; absent when Intune does not manage it. */
  intune?: SeededManagedDevice;
}

export interface SeededManagedDevice {
  /** Intune's id of the device (not the Entra ids): the key of `/deviceManagement/managedDevices/{id}`. */
  managedDeviceId: string;
  /** Whether the device checks in, and so carries out an action such as a password rotation; mutable. */
  online: boolean;
}

export interface SeededUser {
  id: string;
  userPrincipalName: string;
  displayName: string;
  mail: string;
  accountEnabled: boolean;
}

export interface SeededGroup {
  id: string;
  displayName: string;
  securityEnabled: boolean;
  mailEnabled: boolean;
  /** Direct members: object ids of devices, users or groups. */
  members: string[];
}

export interface SeededDirectory {
  seed: number;
  devices: SeededDevice[];
  users: SeededUser[];
  groups: SeededGroup[];
  /** Names that more than one device carries. */
  duplicateNames: string[];
}

/** mulberry32: tiny, fast, good enough to make test data; not for anything secret. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%+-=?@';
const DAY = 24 * 60 * 60 * 1000;

/**
 * The seeded directory. Dates are days before `now` (default: the start of the current UTC hour, so
 * two directories generated close together are equal): a current LAPS password was backed up in the
 * last week and expires about 30 days after its backup (Windows LAPS's default PasswordAgeDays), so
 * it has not yet expired whenever the simulated tenant runs.
 */
export function generateDirectory(options: { devices?: number; seed?: number; now?: number } = {}): SeededDirectory {
  const BASE_TIME = options.now ?? Math.floor(Date.now() / (60 * 60 * 1000)) * 60 * 60 * 1000;
  const count = options.devices ?? 50;
  const seed = options.seed ?? 1;
  const random = prng(seed);
  const int = (max: number) => Math.floor(random() * max);
  const uuid = (draw: (max: number) => number = int) => {
    const b = Array.from({ length: 16 }, () => draw(256));
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = b.map((x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  const password = () => Array.from({ length: 20 }, () => PASSWORD_ALPHABET[int(PASSWORD_ALPHABET.length)]).join('');
  const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
  const sid = (rid: number) => `S-1-5-21-${1000000000 + int(1e9)}-${1000000000 + int(1e9)}-${1000000000 + int(1e9)}-${rid}`;

  // Intune's ids come from a stream of their own, so that adding them left every other seeded value as it was.
  const intuneRandom = prng(seed ^ 0x1a7e5eed);
  const intuneInt = (max: number) => Math.floor(intuneRandom() * max);

  const devices: SeededDevice[] = [];
  for (let i = 0; i < count; i++) {
    // Every 20th device from the 8th on takes the previous device's name: names are not unique in Entra.
    const duplicate = i % 20 === 7;
    const displayName = duplicate ? devices[i - 1]!.displayName : `PC-${String(i + 1).padStart(4, '0')}`;
    const device: SeededDevice = {
      id: uuid(),
      deviceId: uuid(),
      displayName,
      operatingSystem: 'Windows',
      operatingSystemVersion: i % 4 === 0 ? '10.0.19045.5737' : '10.0.26100.4061',
      accountEnabled: i % 23 !== 11,
      trustType: i % 6 === 5 ? 'ServerAd' : 'AzureAd',
      approximateLastSignInDateTime: iso(BASE_TIME - int(30) * DAY - int(DAY)),
      bitlockerKeys: [],
    };
    if (i % 10 !== 4) device.laps = seedLaps(i);
    if (i % 8 !== 3) device.intune = { managedDeviceId: uuid(intuneInt), online: i % 25 !== 12 };
    if (i % 3 === 0) {
      device.bitlockerKeys.push(bitlockerKey(device.deviceId, i % 2 === 0 ? 'operatingSystemVolume' : 1));
      if (i % 9 === 0) device.bitlockerKeys.push(bitlockerKey(device.deviceId, i % 2 === 0 ? 'fixedDataVolume' : 2));
    }
    devices.push(device);
  }

  function seedLaps(i: number): SeededLaps {
    const entries = 2 + int(3); // 2..4: the current password and its history
    const encoding: SeededPassword['encoding'] = i % 2 === 0 ? 'utf8' : 'utf16le';
    const adminSid = sid(1001);
    let at = BASE_TIME - int(5) * DAY - int(DAY);
    const expected: SeededPassword[] = [];
    for (let e = 0; e < entries; e++) {
      // On every 5th device the oldest entry belongs to another (since renamed or replaced) account.
      const otherAccount = i % 5 === 0 && e === entries - 1;
      expected.push({ account: otherAccount ? 'Administrator' : 'LapsAdmin', password: password(), backupDateTime: iso(at), encoding });
      at -= (7 + int(24)) * DAY + int(DAY);
    }
    const served = expected.map((p) => ({
      accountName: p.account,
      accountSid: p.account === 'Administrator' ? sid(500) : adminSid,
      backupDateTime: p.backupDateTime,
      passwordBase64: Buffer.from(p.password, encoding).toString('base64'),
    }));
    // Newest first is usual, not guaranteed: every third device serves its history in another order.
    if (i % 3 === 1) served.reverse();
    return { lastBackupDateTime: expected[0]!.backupDateTime, refreshDateTime: iso(Date.parse(expected[0]!.backupDateTime) + 30 * DAY), credentials: served, expected };
  }

  function bitlockerKey(deviceId: string, volumeType: number | string): SeededBitlockerKey {
    const key = Array.from({ length: 8 }, () => String(int(720896 / 11) * 11).padStart(6, '0')).join('-');
    return { id: uuid(), createdDateTime: iso(BASE_TIME - int(200) * DAY), volumeType, deviceId, key };
  }

  const userCount = Math.max(12, Math.ceil(count / 10));
  const users: SeededUser[] = Array.from({ length: userCount }, (_, i) => {
    const n = String(i + 1).padStart(2, '0');
    return { id: uuid(), userPrincipalName: `user${n}@contoso.example`, displayName: `User ${n}`, mail: `user${n}@contoso.example`, accountEnabled: true };
  });

  const group = (displayName: string, members: string[], securityEnabled = true): SeededGroup => ({
    id: uuid(),
    displayName,
    securityEnabled,
    mailEnabled: !securityEnabled,
    members,
  });
  // Nesting, so membership has to be resolved transitively:
  //   All-Workstations ⊃ Workstations-Site-A, Workstations-Site-B ⊃ devices
  //   AMS-LAPS-Readers ⊃ AMS-Helpdesk ⊃ users 1-4;  AMS-Admins ⊃ AMS-LAPS-Readers + users 5-6
  const siteA = group('Workstations-Site-A', devices.filter((_, i) => i % 2 === 0).map((d) => d.id));
  const siteB = group('Workstations-Site-B', devices.filter((_, i) => i % 2 === 1 && i % 10 !== 9).map((d) => d.id));
  const all = group('All-Workstations', [siteA.id, siteB.id]);
  const servers = group('Servers-Tier0', devices.filter((d) => d.trustType === 'ServerAd').map((d) => d.id));
  const helpdesk = group('AMS-Helpdesk', users.slice(0, 4).map((u) => u.id));
  const readers = group('AMS-LAPS-Readers', [helpdesk.id, users[6]!.id]);
  const admins = group('AMS-Admins', [readers.id, users[4]!.id, users[5]!.id]);
  const staff = group('All-Staff', users.map((u) => u.id), false); // a distribution list: not a security group
  const groups = [siteA, siteB, all, servers, helpdesk, readers, admins, staff];

  const names = new Map<string, number>();
  for (const d of devices) names.set(d.displayName, (names.get(d.displayName) ?? 0) + 1);
  return { seed, devices, users, groups, duplicateNames: [...names].filter(([, n]) => n > 1).map(([name]) => name) };
}

/** Every group `memberId` belongs to, directly or through other groups. */
export function transitiveGroupIds(directory: SeededDirectory, memberId: string): Set<string> {
  const parents = new Map<string, string[]>();
  for (const g of directory.groups) for (const m of g.members) parents.set(m, [...(parents.get(m) ?? []), g.id]);
  const found = new Set<string>();
  const queue = [...(parents.get(memberId) ?? [])];
  while (queue.length > 0) {
    const id = queue.shift()!;
    if (found.has(id)) continue; // cycles are legal in Entra; do not loop
    found.add(id);
    queue.push(...(parents.get(id) ?? []));
  }
  return found;
}

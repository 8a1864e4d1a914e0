/**
 * Service settings (Get/Set-AmsServiceConfig): stored sparsely, shown with the defaults filled in, and
 * applied at once to the parts of the daemon that hold them (rate limiter, caches) — no restart.
 */
import type { components } from '../../openapi/ams.js';
import { trustedProxyList } from '../access/client-ip.js';
import { DEFAULT_RATE_LIMITS } from '../access/rate-limit.js';
import type { ChangeAuthor } from '../audit/change-author.js';
import { GROUP_CACHE_TTL_MS } from '../directory/device-secrets.js';
import { DEFAULT_DEVICE_CACHE_MS } from '../directory/devices.js';
import { ValidationError, type FieldError } from '../common/errors.js';
import { resolveChannelRefs } from '../notifications/channel-references.js';
import type { Store } from '../store/store.js';

export type ServiceConfig = components['schemas']['ServiceConfig'];
export type ServiceConfigUpdate = components['schemas']['ServiceConfigUpdate'];

export const DEFAULT_SETTINGS: Readonly<ServiceConfig> = Object.freeze({
  userRateLimitPerMinute: DEFAULT_RATE_LIMITS.perMinute,
  userRateLimitPerHour: DEFAULT_RATE_LIMITS.perHour,
  userRateLimitPerDay: DEFAULT_RATE_LIMITS.perDay,
  ipRateLimitPerMinute: DEFAULT_RATE_LIMITS.perMinute,
  ipRateLimitPerHour: DEFAULT_RATE_LIMITS.perHour,
  ipRateLimitPerDay: DEFAULT_RATE_LIMITS.perDay,
  trustedProxies: [],
  deviceCacheSeconds: DEFAULT_DEVICE_CACHE_MS / 1000,
  groupCacheSeconds: GROUP_CACHE_TTL_MS / 1000,
  secretReadTimeoutSeconds: 30,
  globalChannelsSuccess: [],
  globalChannelsFailure: [],
  auditRetentionDays: 0,
  auditMaxEvents: 0,
});

const SETTINGS_TARGET = { kind: 'settings', id: 'service', displayName: 'Service settings' };

export class SettingsService {
  readonly #listeners: Array<(settings: ServiceConfig) => void> = [];
  /** The settings in effect, and the version of the stored settings they were made from. Frozen: every caller shares them. */
  #effective: { version: number; settings: ServiceConfig } | undefined;

  constructor(private readonly store: Store) {
    // Every change to the settings, this daemon's or (on PostgreSQL) another's, reaches what holds one.
    store.subscribe((change) => {
      if (!change.collections.has('settings')) return;
      const current = this.get();
      for (const apply of this.#listeners) apply(current);
    });
  }

  /** The settings in effect (a read asks several times; built again only when the stored settings change). */
  get(): ServiceConfig {
    const version = this.store.version('settings');
    if (this.#effective?.version !== version) {
      const stored = this.store.state.settings;
      this.#effective = {
        version,
        settings: Object.freeze({
          ...DEFAULT_SETTINGS,
          ...stored,
          trustedProxies: Object.freeze([...(stored.trustedProxies ?? [])]) as string[],
          globalChannelsSuccess: Object.freeze([...(stored.globalChannelsSuccess ?? [])]) as string[],
          globalChannelsFailure: Object.freeze([...(stored.globalChannelsFailure ?? [])]) as string[],
        }),
      };
    }
    return this.#effective.settings;
  }

  /** Calls `apply` now and after every change, so the part that holds a setting always has the current one. */
  subscribe(apply: (settings: ServiceConfig) => void): void {
    this.#listeners.push(apply);
    apply(this.get());
  }

  async update(input: ServiceConfigUpdate, author: ChangeAuthor): Promise<ServiceConfig> {
    const before = this.get();
    const errors = checkSettings({ ...before, ...input }, input);
    // Channels are named by id or name, and kept by id.
    const change: ServiceConfigUpdate = structuredClone(input);
    for (const field of ['globalChannelsSuccess', 'globalChannelsFailure'] as const) {
      if (input[field]) change[field] = resolveChannelRefs(this.store.state.channels, input[field], `body/${field}`, errors);
    }
    if (errors.length > 0) throw new ValidationError(errors);
    await this.store.mutate(
      (draft) => {
        draft.set('settings', { ...draft.document('settings'), ...change });
      },
      () => author.record({ type: 'settings.updated', target: SETTINGS_TARGET, before, after: { ...before, ...change } }),
    );
    return this.get();
  }
}

function checkSettings(settings: ServiceConfig, input: ServiceConfigUpdate): FieldError[] {
  const errors: FieldError[] = [];
  for (const who of ['user', 'ip'] as const) {
    const [minute, hour, day] = [settings[`${who}RateLimitPerMinute`], settings[`${who}RateLimitPerHour`], settings[`${who}RateLimitPerDay`]];
    if (minute > hour) errors.push({ path: `body/${who}RateLimitPerHour`, message: `(${hour}) must be at least the per-minute limit (${minute})` });
    if (hour > day) errors.push({ path: `body/${who}RateLimitPerDay`, message: `(${day}) must be at least the per-hour limit (${hour})` });
  }
  (input.trustedProxies ?? []).forEach((entry, i) => {
    try {
      trustedProxyList([entry]);
    } catch (error) {
      errors.push({ path: `body/trustedProxies/${i}`, message: `is ${(error as Error).message}` });
    }
  });
  return errors;
}

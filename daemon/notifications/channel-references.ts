/**
 * Channels as rules and the settings name them: by id or by (case-insensitive) name.
 */
import type { DeepReadonly } from '../store/store.js';
import type { ChannelRecord } from '../store/records.js';
import type { FieldError } from './channel-contract.js';

/** The channel with this id or (case-insensitive) name. */
export function findChannel<T extends DeepReadonly<ChannelRecord>>(channels: readonly T[], idOrName: string): T | undefined {
  const key = idOrName.trim().toLowerCase();
  return channels.find((c) => c.id === key) ?? channels.find((c) => c.name.toLowerCase() === key);
}

/** The channel (other than `exceptId`) already called `name`, case-insensitively. */
export function channelNamed<T extends DeepReadonly<ChannelRecord>>(channels: readonly T[], name: string, exceptId?: string): T | undefined {
  const key = name.trim().toLowerCase();
  return channels.find((c) => c.id !== exceptId && c.name.toLowerCase() === key);
}

/**
 * Channel references (ids or names, as a rule or the settings give them) resolved to ids; every
 * reference that names no channel is a field error at `<path>/<index>`.
 */
export function resolveChannelRefs(channels: readonly DeepReadonly<ChannelRecord>[], refs: readonly string[], path: string, errors: FieldError[]): string[] {
  const ids: string[] = [];
  refs.forEach((ref, i) => {
    const channel = findChannel(channels, ref);
    if (!channel) errors.push({ path: `${path}/${i}`, message: `no notification channel '${ref}' exists (listNotificationChannels, GET /v1/notification-channels, lists them)` });
    else if (!ids.includes(channel.id)) ids.push(channel.id);
  });
  return ids;
}

/**
 * The channels to tell, from the ids a rule and the settings hold: each once, in order, skipping
 * disabled ones and ids that name no channel any more.
 */
export function enabledChannels<T extends DeepReadonly<ChannelRecord>>(channels: readonly T[], ids: Iterable<string>): T[] {
  const wanted = new Set(ids);
  return [...wanted].flatMap((id) => {
    const channel = channels.find((c) => c.id === id);
    return channel && channel.enabled ? [channel] : [];
  });
}

/**
 * Notification channels as administrators manage them (New/Get/Set/Remove/Test-AmsNotificationChannel):
 * where amsd tells people about secret reads. Three kinds — a webhook, an SMTP mailbox, a PowerShell
 * script — each checked when written (new-channel.ts, channel-update.ts, with the checks of each kind
 * in webhook-, smtp- and powershell-checks.ts), its secrets sealed (channel-sealing.ts), stored in the
 * state (checked against store/channel-record-schema.ts), shown without them (channel-view.ts), and
 * every change audited, with the views as before/after, before it is made.
 */
import type { ChangeAuthor } from '../audit/change-author.js';
import { ConflictError, NotFoundError, ValidationError } from '../common/errors.js';
import type { Sealer } from '../store/sealing.js';
import type { ChannelRecord } from '../store/records.js';
import type { DeepReadonly, Store } from '../store/store.js';
import type { ChannelTestResult, ChannelUpdate, ChannelView, NewChannel } from './channel-contract.js';
import { channelNamed, findChannel } from './channel-references.js';
import { applyChannelUpdate } from './channel-update.js';
import { toChannelView } from './channel-view.js';
import { validateNewChannel } from './new-channel.js';
import type { DeliveryQueue } from './queue.js';
import { sampleEvent } from './templates.js';

function channelTarget(channel: { id: string; name: string }) {
  return { kind: 'notificationChannel', id: channel.id, displayName: channel.name };
}

function notFound(idOrName: string): NotFoundError {
  return new NotFoundError('channel-not-found', `No notification channel has the id or name '${idOrName}'. listNotificationChannels (GET /v1/notification-channels) lists them.`);
}

function nameTaken(name: string): ConflictError {
  return new ConflictError('channel-name-taken', `A notification channel is already named '${name}'. Choose another name.`);
}

export class ChannelService {
  constructor(
    private readonly store: Store,
    private readonly sealer: Sealer,
    private readonly queue: () => DeliveryQueue,
  ) {}

  list(filter: { id?: string; name?: string } = {}): ChannelView[] {
    const channels = this.store.state.channels;
    if (filter.id && filter.name) {
      throw new ValidationError([{ path: 'query/name', message: 'give id or name, not both' }]);
    }
    if (filter.name) {
      const channel = channelNamed(channels, filter.name);
      if (!channel) throw new NotFoundError('channel-not-found', `No notification channel is named '${filter.name}'. listNotificationChannels (GET /v1/notification-channels) lists them.`);
      return [toChannelView(channel)];
    }
    if (filter.id) {
      const channel = findChannel(channels, filter.id);
      if (!channel) throw notFound(filter.id);
      return [toChannelView(channel)];
    }
    return channels.map(toChannelView).sort((a, b) => a.name.localeCompare(b.name));
  }

  async create(input: NewChannel, author: ChangeAuthor): Promise<ChannelView> {
    const result = validateNewChannel(input, { sealer: this.sealer, existing: this.store.state.channels, author: author.name });
    if (result.errors) throw new ValidationError(result.errors);
    const record = result.record;
    await this.store.mutate(
      (draft) => {
        if (channelNamed(draft.rows('channels'), record.name)) throw nameTaken(record.name);
        draft.put('channels', record);
      },
      () => author.record({ type: 'channel.created', target: channelTarget(record), after: toChannelView(record) }),
    );
    return toChannelView(record);
  }

  async update(id: string, input: ChannelUpdate, author: ChangeAuthor): Promise<ChannelView> {
    const existing = this.#get(id);
    const result = applyChannelUpdate(existing, input, { sealer: this.sealer, existing: this.store.state.channels, author: author.name });
    if (result.errors) throw new ValidationError(result.errors);
    const record = result.record;
    await this.store.mutate(
      (draft) => {
        if (!draft.get('channels', record.id)) throw notFound(id);
        if (channelNamed(draft.rows('channels'), record.name, record.id)) throw nameTaken(record.name);
        draft.put('channels', record);
      },
      () => author.record({ type: 'channel.updated', target: channelTarget(record), before: toChannelView(existing), after: toChannelView(record) }),
    );
    return toChannelView(record);
  }

  async remove(id: string, author: ChangeAuthor): Promise<void> {
    const existing = this.#get(id);
    await this.store.mutate(
      (draft) => {
        const settings = draft.document('settings');
        const users = [
          ...draft
            .rows('rules')
            .filter((r) => r.notificationChannelsSuccess.includes(existing.id) || r.notificationChannelsFailure.includes(existing.id))
            .map((r) => `rule '${r.description}' (${r.id})`),
          ...((settings.globalChannelsSuccess ?? []).includes(existing.id) || (settings.globalChannelsFailure ?? []).includes(existing.id) ? ['the service settings (global channels)'] : []),
        ];
        if (users.length > 0) {
          throw new ConflictError('channel-in-use', `The channel '${existing.name}' is still named by ${users.join(', ')}. Remove it from them first.`);
        }
        if (!draft.delete('channels', existing.id)) throw notFound(id);
      },
      () => author.record({ type: 'channel.deleted', target: channelTarget(existing), before: toChannelView(existing) }),
    );
  }

  /** Delivers a sample event now (also to a disabled channel) and says how it went; reads no secret. */
  async test(id: string): Promise<ChannelTestResult> {
    const channel = this.#get(id);
    const started = performance.now();
    const result = await this.queue().deliverNow(channel, sampleEvent());
    const durationMs = Math.round(performance.now() - started);
    return result.ok
      ? { channelId: channel.id, channelName: channel.name, succeeded: true, durationMs }
      : { channelId: channel.id, channelName: channel.name, succeeded: false, error: result.error, retryable: result.retryable, durationMs };
  }

  #get(idOrName: string): DeepReadonly<ChannelRecord> {
    const channel = findChannel(this.store.state.channels, idOrName);
    if (!channel) throw notFound(idOrName);
    return channel;
  }
}

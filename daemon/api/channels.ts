import type { OperationHandlers } from './operation-types.js';
import type { ChannelService } from '../notifications/channel-service.js';
import type { DeliveryQueue, FailedDelivery, PendingDelivery } from '../notifications/queue.js';
import type { RequestContextTools } from './request-origin.js';

type ChannelOperations =
  | 'listNotificationChannels'
  | 'createNotificationChannel'
  | 'updateNotificationChannel'
  | 'deleteNotificationChannel'
  | 'testNotificationChannel'
  | 'listNotificationDeliveries';

export function channelHandlers(channels: ChannelService, queue: () => DeliveryQueue, tools: RequestContextTools): Pick<OperationHandlers, ChannelOperations> {
  return {
    async listNotificationChannels({ query }) {
      return { items: channels.list(query) };
    },
    async createNotificationChannel(context) {
      const channel = await channels.create(context.body, tools.author(context));
      context.reply.header('Location', `/v1/notification-channels?id=${channel.id}`);
      return channel;
    },
    async updateNotificationChannel(context) {
      return (await channels.update(context.params.id, context.body, tools.author(context)));
    },
    async deleteNotificationChannel(context) {
      await channels.remove(context.params.id, tools.author(context));
      return undefined;
    },
    async testNotificationChannel({ params }) {
      return channels.test(params.id);
    },
    async listNotificationDeliveries({ query }) {
      const status = query.status ?? 'pending';
      const names = new Map(channels.list().map((c) => [c.id, c.name]));
      const deliveries = await (status === 'pending' ? queue().pending() : queue().failed());
      return {
        items: deliveries
          .filter((d) => !query.channelId || d.channelId === query.channelId.toLowerCase())
          .map((d) => toDeliveryView(d, status, names.get(d.channelId))),
      };
    },
  };
}

function toDeliveryView(delivery: PendingDelivery | FailedDelivery, status: 'pending' | 'failed', channelName: string | undefined) {
  const { event } = delivery;
  return {
    id: delivery.id,
    channelId: delivery.channelId,
    ...(channelName ?? ('channelName' in delivery && delivery.channelName) ? { channelName: (channelName ?? (delivery as FailedDelivery).channelName)! } : {}),
    status,
    attempts: delivery.attempts,
    createdAt: delivery.createdAt,
    ...('nextAttemptAt' in delivery ? { nextAttemptAt: delivery.nextAttemptAt } : {}),
    ...('failedAt' in delivery ? { failedAt: delivery.failedAt } : {}),
    ...(delivery.lastError ? { lastError: delivery.lastError } : {}),
    requestId: event.requestId ?? '',
    ...(event.id ? { auditEventId: event.id } : {}),
    ...(event.eventId ? { eventId: event.eventId } : {}),
    code: event.outcome.code,
    accessType: event.accessType,
    target: 'deviceName' in event.device ? event.device.deviceName : event.device.query,
  };
}

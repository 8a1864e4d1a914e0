/**
 * Where a channel's secrets are sealed at rest: a webhook's URL (Teams and Slack incoming-webhook URLs
 * are bearer secrets: whoever has one can post), its header values and its signing secret; an SMTP
 * channel's password. Each sealed value is bound to its channel and field, so it opens as nothing else.
 */

export type SealedChannelField = 'url' | 'signingSecret' | 'password' | `header:${string}`;

export function channelSealingContext(channelId: string, field: SealedChannelField): string {
  return `channel:${channelId}:${field}`;
}

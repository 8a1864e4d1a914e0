/**
 * What the API takes and shows of a channel, as the contract (openapi/ams.yaml) defines it: one flat
 * object with `kind` and the fields of each kind. The only place notifications/ names these types.
 */
import type { components } from '../../openapi/ams.js';

type Schemas = components['schemas'];

/** A channel to create, after request validation (which fills `enabled` and `mandatory` in). */
export type NewChannel = Schemas['NewNotificationChannel'];

/**
 * Only the fields given change. `headers` replaces every header (`{}` removes them all); null removes
 * `description`, `signingSecret`, `password`, or `username` (with the password). `kind` cannot change:
 * it is accepted only when equal, so a whole object read back can be sent.
 */
export type ChannelUpdate = Schemas['NotificationChannelUpdate'];

/** A channel as stored, without any secret. */
export type ChannelView = Schemas['NotificationChannel'];

export type ChannelTestResult = Schemas['NotificationChannelTestResult'];

/** A `body/<field>` and what to write instead: what every channel check pushes. */
export type { FieldError } from '../common/errors.js';

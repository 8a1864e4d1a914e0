/**
 * What the API takes and shows of a channel: one flat object with `kind` and the fields of each kind.
 */
import type { FieldError as ProblemFieldError } from '../http/problem.js';
import type { ChannelKind, SmtpTlsMode, WebhookMethod } from '../store/records.js';

/** A `body/<field>` and what to write instead: what every channel check pushes. */
export type FieldError = ProblemFieldError;

interface WebhookFields {
  /** https://, or http:// to a loopback address only. */
  url?: string;
  method?: WebhookMethod;
  contentType?: string;
  headers?: Record<string, string>;
  bodyTemplate?: string;
  signingSecret?: string;
}

interface SmtpFields {
  host?: string;
  port?: number;
  tls?: SmtpTlsMode;
  username?: string;
  password?: string;
  from?: string;
  to?: string[];
  subjectTemplate?: string;
  htmlTemplate?: string;
}

interface PowerShellFields {
  scriptPath?: string;
}

export interface NewChannel extends WebhookFields, SmtpFields, PowerShellFields {
  name: string;
  kind: ChannelKind;
  description?: string;
  enabled?: boolean;
  mandatory?: boolean;
}

/**
 * Only the fields given change. `headers` replaces every header (`{}` removes them all); null removes
 * `description`, `signingSecret`, `password`, or `username` (with the password).
 */
export interface ChannelUpdate extends Omit<WebhookFields, 'signingSecret'>, Omit<SmtpFields, 'username' | 'password'>, PowerShellFields {
  name?: string;
  /** Cannot change; accepted only when equal, so a whole object read back can be sent. */
  kind?: ChannelKind;
  description?: string | null;
  enabled?: boolean;
  mandatory?: boolean;
  signingSecret?: string | null;
  username?: string | null;
  password?: string | null;
}

export interface ChannelView {
  id: string;
  name: string;
  description?: string;
  kind: ChannelKind;
  enabled: boolean;
  mandatory: boolean;
  // webhook
  urlOrigin?: string;
  method?: WebhookMethod;
  contentType?: string;
  headerNames?: string[];
  bodyTemplate?: string;
  hasSigningSecret?: boolean;
  // smtp
  host?: string;
  port?: number;
  tls?: SmtpTlsMode;
  username?: string;
  hasPassword?: boolean;
  from?: string;
  to?: string[];
  subjectTemplate?: string;
  htmlTemplate?: string;
  // powershell
  scriptPath?: string;
  createdAt: string;
  createdBy: string;
  modifiedAt?: string;
  modifiedBy?: string;
}

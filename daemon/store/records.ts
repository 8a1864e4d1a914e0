/**
 * The records the daemon keeps, as the store persists them. They belong to the store: the areas that
 * use them (access, directory, auth, notifications, settings, audit) import them from here, and the
 * store imports none of those areas. What is written here is what the next start loads.
 */
import type { components } from '../../openapi/ams.js';

export type Role = components['schemas']['Role'];
export type Cloud = components['schemas']['Cloud'];

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: Role;
  description?: string;
  /** The first characters of the key, shown to recognise it. */
  prefix: string;
  /** SHA-256 of the whole key, hex. The key itself is never stored. */
  hash: string;
  tenantId?: string;
  principalId?: string;
  /** The UPN of principalId, resolved through Graph when the key was created. */
  userPrincipalName?: string;
  expiresAt?: string;
  createdAt: string;
  createdBy: string;
  revokedAt?: string;
  revokedBy?: string;
  lastUsedAt?: string;
}

/** A tenant's credential as kept at rest: the secret part only ever sealed. */
export type TenantCredentialRecord =
  | {
      type: 'secret';
      /** Sealed with the context `tenant:<tenantId>:clientSecret`. */
      sealedClientSecret: string;
    }
  | {
      type: 'certificate';
      certificatePem: string;
      /** SHA-256 of the DER certificate, lowercase hex. */
      thumbprint: string;
      expiresAt: string;
      /** PKCS#8 PEM, sealed with the context `tenant:<tenantId>:privateKeyPem`. */
      sealedPrivateKeyPem: string;
    };

export interface TenantRecord {
  /** Lowercase GUID; unique. */
  tenantId: string;
  displayName: string;
  clientId: string;
  credential: TenantCredentialRecord;
  cloud: Cloud;
  /** Overrides of the cloud's endpoints, when set. */
  authorityHost?: string;
  graphEndpoint?: string;
  enabled: boolean;
  /** When set, the tenant's users may call amsd with Entra access tokens issued for these audiences. */
  userSignIn?: UserSignInRecord;
  createdAt: string;
  createdBy: string;
  modifiedAt?: string;
  modifiedBy?: string;
}

export interface UserSignInRecord {
  /** Accepted `aud` values (amsd's app id and/or `api://` URI); never empty. */
  audiences: string[];
  /** The public client users sign in with (device code flow). */
  clientId: string;
  scope?: string;
  /** Users or groups of this tenant whose tokens get the admin role. */
  administratorIds: string[];
}

/** Service settings as Set-AmsServiceConfig writes them; the daemon's defaults apply where one is absent. */
export type SettingsRecord = Partial<components['schemas']['ServiceConfig']>;

/**
 * The audit trail this state belongs to (see daemon/audit/trail.ts): its id (which salts the chain
 * key) and the last checkpoint of its head. `mac` is an HMAC under the trail's chain key, so neither
 * can be changed without the master key. Absent in data files from before keyed trails.
 */
export interface AuditTrailRecord {
  id: string;
  createdAt: string;
  checkpoint: { seq: number; hash: string; time: string };
  mac: string;
}

// ---------------------------------------------------------------------------------------------------
// Computer authorization rules

export type ReasonRequirement = 'Hidden' | 'Optional' | 'Required';

/** A user or group named in a rule, resolved through Graph when the rule was written. */
export interface PrincipalRef {
  id: string;
  type: 'user' | 'group';
  displayName: string;
}

/** The principal lists of a rule, one allow and one deny list per access type. */
export interface RulePrincipals {
  principalsAllowedLaps: PrincipalRef[];
  principalsDeniedLaps: PrincipalRef[];
  principalsAllowedLapsHistory: PrincipalRef[];
  principalsDeniedLapsHistory: PrincipalRef[];
  principalsAllowedBitLocker: PrincipalRef[];
  principalsDeniedBitLocker: PrincipalRef[];
  /** Who may have the LAPS password rotated through Intune. Absent in rules written before rotation (as empty). */
  principalsAllowedLapsRotation?: PrincipalRef[];
  principalsDeniedLapsRotation?: PrincipalRef[];
}

/** A computer authorization rule as stored. Exactly one target kind: tenant, group (+tenant) or device (+tenant). */
export interface RuleRecord extends RulePrincipals {
  id: string;
  description: string;
  /** Target: the whole tenant when neither groupId nor deviceId is set. Lowercase GUID. */
  tenantId: string;
  /** Target: devices that are transitive members of this group (directory object id). */
  groupId?: string;
  /** Target: one device, by its Entra `deviceId` (not its directory object id). */
  deviceId?: string;
  /** Display name of the target group or device when the rule was written. */
  targetDisplayName?: string;
  ruleExpiryDate?: string;
  disabled: boolean;
  notes?: string;
  userRequestReasonRequirement: ReasonRequirement;
  /** Minutes after a granted read of the current LAPS password that Intune is asked to rotate it; absent, never. */
  rotateAfterReadMinutes?: number;
  /** Notification channel ids. */
  notificationChannelsSuccess: string[];
  notificationChannelsFailure: string[];
  createdAt: string;
  createdBy: string;
  modifiedAt?: string;
  modifiedBy?: string;
}

// ---------------------------------------------------------------------------------------------------
// Notification channels

export const CHANNEL_KINDS = ['webhook', 'smtp', 'powershell'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];
export const WEBHOOK_METHODS = ['POST', 'PUT'] as const;
export type WebhookMethod = (typeof WEBHOOK_METHODS)[number];
export const SMTP_TLS_MODES = ['none', 'starttls', 'tls'] as const;
export type SmtpTlsMode = (typeof SMTP_TLS_MODES)[number];

interface ChannelRecordBase {
  /** Lowercase GUID. */
  id: string;
  /** Unique, case-insensitively; never shaped like a GUID (rules name channels by id or name). */
  name: string;
  description?: string;
  kind: ChannelKind;
  /** A disabled channel is told nothing; queued deliveries to it finally fail. */
  enabled: boolean;
  /** When true, a secret is handed out only if this channel was told first; a failed delivery refuses the read. */
  mandatory: boolean;
  createdAt: string;
  createdBy: string;
  modifiedAt?: string;
  modifiedBy?: string;
}

export interface SealedHeader {
  /** As the administrator wrote it. */
  name: string;
  /** Sealed with the context `channel:<id>:header:<lowercase name>`. */
  sealedValue: string;
}

export interface WebhookChannelRecord extends ChannelRecordBase {
  kind: 'webhook';
  /** Sealed with the context `channel:<id>:url`. */
  sealedUrl: string;
  /** `scheme://host[:port]` of the URL: what views show. */
  urlOrigin: string;
  method: WebhookMethod;
  contentType: string;
  headers: SealedHeader[];
  /** A JSON template (see templates.ts). */
  bodyTemplate: string;
  /** Sealed with the context `channel:<id>:signingSecret`. */
  sealedSigningSecret?: string;
}

export interface SmtpChannelRecord extends ChannelRecordBase {
  kind: 'smtp';
  host: string;
  port: number;
  tls: SmtpTlsMode;
  username?: string;
  /** Sealed with the context `channel:<id>:password`; only with `username`. */
  sealedPassword?: string;
  from: string;
  to: string[];
  subjectTemplate: string;
  htmlTemplate: string;
}

export interface PowerShellChannelRecord extends ChannelRecordBase {
  kind: 'powershell';
  /** Absolute path of a `.ps1` file on the daemon's machine. */
  scriptPath: string;
}

export type ChannelRecord = WebhookChannelRecord | SmtpChannelRecord | PowerShellChannelRecord;

/**
 * A simulated Entra ID tenant for tests and offline demos: a local identity provider (OIDC discovery,
 * JWKS, client-credentials token endpoint) and the Microsoft Graph endpoints amsd calls, over HTTPS on
 * 127.0.0.1 with a CA generated at start, serving a seeded directory. Faults can be armed per path prefix
 * and every request is logged, so tests can assert on retries and call counts. Nothing leaves loopback.
 *
 * The same origin serves both halves: identity under `/{tenantId}/...`, Graph under `/v1.0/...` and
 * Intune's beta routes under `/beta/deviceManagement/...` (intune.ts). Users sign in with the device code
 * flow (device-authorization.ts): its page is `/devicelogin`.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createCertificateAuthority, createClientCertificate, issueServerCertificate, type ClientCertificate } from './certificates.js';
import { checkDeviceAuthorizationOptions, DeviceAuthorization, type DeviceAuthorizationOptions } from './device-authorization.js';
import { generateDirectory, type SeededDirectory } from './directory-data.js';
import { Faults, type FaultSpec } from './faults.js';
import { Graph } from './graph.js';
import { graphError, oauthError, type Reply, type RouteRequest } from './http.js';
import { GRAPH_AUDIENCE, Identity, type AppRegistration, type UserTokenOptions } from './identity.js';
import { Intune, type SimulatedIntune } from './intune.js';

export type { FaultKind, FaultSpec } from './faults.js';
export type { SeededBitlockerKey, SeededDevice, SeededDirectory, SeededGroup, SeededManagedDevice, SeededPassword, SeededUser } from './directory-data.js';
export type { IntuneRotation, SimulatedIntune } from './intune.js';
export type { AppRegistration, UserTokenOptions } from './identity.js';
export type { DeviceAuthorizationOptions } from './device-authorization.js';
export { DEFAULT_API_SCOPE, DEVICE_CODE_GRANT } from './device-authorization.js';
export { GRAPH_AUDIENCE } from './identity.js';

/** Application permissions the app holds at start: everything amsd's scenarios need. */
export const DEFAULT_PERMISSIONS = [
  'Device.Read.All',
  'GroupMember.Read.All',
  'Group.Read.All',
  'User.Read.All',
  'DeviceLocalCredential.Read.All',
  'BitlockerKey.Read.All',
  // Intune: find a device's managed device, and rotate its LAPS password (issue 16).
  'DeviceManagementManagedDevices.Read.All',
  'DeviceManagementManagedDevices.PrivilegedOperations.All',
] as const;

/** The device code options (publicClients, autoApproveAs, ...) are documented on DeviceAuthorizationOptions. */
export interface SimulatedTenantOptions extends DeviceAuthorizationOptions {
  /** Number of devices in the seeded directory (default 50). */
  devices?: number;
  seed?: number;
  tenantId?: string;
  /** Permissions granted to the app at start (default DEFAULT_PERMISSIONS). */
  permissions?: string[];
  /** At most this many group ids from getMemberGroups, then Graph's 400 (default 11,000, Graph's limit); changeable later. */
  getMemberGroupsLimit?: number;
  /**
   * How long an idle connection stays open, in ms (default: Node's 5 s). Benchmarks keep connections as
   * long as a real Graph front end does, so a pause between measurements does not make new TLS handshakes.
   */
  keepAliveTimeoutMs?: number;
  /** How long after a rotateLocalAdminPassword action an online device rotates (default 1000 ms); see intune.ts. */
  rotationDelayMs?: number;
}

export interface CallRecord {
  at: number;
  method: string;
  /** Path and query as sent. */
  url: string;
  path: string;
  /** `graph` for Graph calls of either version (`/v1.0/`, `/beta/`). */
  service: 'graph' | 'identity' | 'other';
  /** Status answered; undefined for a hang or a reset. */
  status?: number;
  /** When the answer was written out (Date.now()); undefined for a hang or a reset. With `at`, it shows which calls overlapped. */
  endedAt?: number;
  fault?: FaultSpec['kind'];
  requestId: string;
  clientRequestId?: string;
}

export interface SimulatedTenant {
  tenantId: string;
  /** `https://127.0.0.1:PORT`: the authority is `${authorityHost}/${tenantId}`. */
  authorityHost: string;
  authority: string;
  /** Graph's root (no version segment), e.g. for GraphClient's `endpoint`. */
  graphEndpoint: string;
  /** The scope to ask for: `https://graph.microsoft.com/.default`. */
  graphScope: string;
  tokenEndpoint: string;
  /** OIDC metadata as JSON, ready for MSAL's `authorityMetadata`. */
  authorityMetadata: string;
  /** The generated CA: trust it (undici `connect: { ca }`, or NODE_EXTRA_CA_CERTS). */
  caCertificatePem: string;
  app: AppRegistration & {
    /** A certificate credential registered at start, with its private key (PKCS#8 PEM). */
    certificate: ClientCertificate;
  };
  /** Registers another certificate as a credential of the app. */
  addClientCertificate(certificatePem: string): void;
  /** A user's access token for the daemon's own API, signed by this tenant's key. */
  issueUserToken(options: UserTokenOptions): Promise<string>;
  /** `${authority}/oauth2/v2.0/devicecode`: where public clients start the device code flow. */
  deviceCodeEndpoint: string;
  /** The sign-in page device codes send users to: `${authorityHost}/devicelogin`. */
  verificationUri: string;
  /** Lets a client id use the device code flow (when `publicClients` was given; any GUID may otherwise). */
  registerPublicClient(clientId: string): void;
  /** Approves a pending device code as a directory user (UPN or object id); throws if the code is not pending. */
  approveDeviceCode(userCode: string, user: string): void;
  /** Declines a pending device code: its client's next poll gets `authorization_declined`. */
  declineDeviceCode(userCode: string): void;
  directory: SeededDirectory;
  /** Intune's managed devices: which are managed or online, the rotations received (intune.ts). */
  intune: SimulatedIntune;
  /**
   * getMemberGroups answers 400 Directory_ResultSizeLimitExceeded for an object in more groups than this
   * (Graph's limit is 11,000; lower it to play a user in too many groups without seeding 11,000).
   */
  limits: { getMemberGroups: number };
  /**
   * Revokes every app token issued so far: Graph then answers 401 InvalidAuthenticationToken for them,
   * with a claims challenge in WWW-Authenticate when `claimsChallenge` (as continuous access evaluation does).
   */
  revokeAppTokens(options?: { claimsChallenge?: boolean }): void;
  faults: Faults;
  /** Every request served, oldest first. */
  calls: readonly CallRecord[];
  /** Requests whose path starts with `pathPrefix` (default: all Graph calls, `/v1.0` and `/beta`), faulted ones included. */
  callCount(pathPrefix?: string): number;
  resetCalls(): void;
  close(): Promise<void>;
}

const BODY_LIMIT = 1024 * 1024;

export async function startSimulatedTenant(options: SimulatedTenantOptions = {}): Promise<SimulatedTenant> {
  const tenantId = options.tenantId ?? '8f4a2c1e-5b7d-4e3f-9a6c-2d1b0e7f3a59';
  const directory = generateDirectory(options);
  checkDeviceAuthorizationOptions(directory, options); // before anything listens
  // The CA's name carries the tenant id: two simulated tenants trusted together must not have CAs that
  // share a subject, or TLS would check one's server certificate against the other's key.
  const [ca, clientCertificate] = await Promise.all([createCertificateAuthority(`amsd simulated tenant CA ${tenantId}`), createClientCertificate()]);
  const serverCertificate = await issueServerCertificate(ca);

  const faults = new Faults();
  const calls: CallRecord[] = [];
  const sockets = new Set<Socket>();
  let identity: Identity | undefined;
  let graph: Graph | undefined;
  let intune: Intune | undefined;
  let deviceAuthorization: DeviceAuthorization | undefined;

  const server: Server = createServer({ key: serverCertificate.privateKeyPem, cert: serverCertificate.certificatePem }, (req, res) => {
    void serve(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'InternalServerError', message: String((error as Error)?.message ?? error) } }));
    });
  });
  // Raw TCP sockets (tracked from accept, before the TLS handshake), so close() can end every one.
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', host);
    const requestId = randomUUID();
    const clientRequestId = header(req, 'client-request-id');
    const service = url.pathname.startsWith('/v1.0/') || url.pathname.startsWith('/beta/') ? 'graph' : url.pathname.split('/').length > 2 ? 'identity' : 'other';
    const record: CallRecord = { at: Date.now(), method: req.method ?? 'GET', url: req.url ?? '/', path: url.pathname, service, requestId, ...(clientRequestId ? { clientRequestId } : {}) };
    calls.push(record);

    const standingLatency = faults.latencyFor(url.pathname);
    if (standingLatency > 0) await new Promise((resolve) => setTimeout(resolve, standingLatency));
    const fault = faults.take(url.pathname);
    if (fault) record.fault = fault.kind;
    if (fault?.kind === 'hang') return; // the socket stays open until the client gives up or close()
    if (fault?.kind === 'reset') {
      // Drop the connection mid-request. (A true TCP RST is not available safely under TLS in Node:
      // resetAndDestroy() needs the raw TCP handle, which the TLS layer owns.)
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'latency') await new Promise((resolve) => setTimeout(resolve, fault.latencyMs ?? 1000));

    const body = await readBody(req);
    const routeRequest: RouteRequest = { method: record.method, url, headers: req.headers, body: body ?? '', requestId, ...(clientRequestId ? { clientRequestId } : {}) };
    let reply: Reply;
    if (fault?.kind === 'rejectToken') {
      reply =
        service === 'graph'
          ? graphError(routeRequest, 401, 'InvalidAuthenticationToken', 'Access token validation failure.', {
              'www-authenticate': `Bearer realm="", authorization_uri="${host}/${tenantId}/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
            })
          : oauthError(routeRequest, 401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
    } else if (fault?.kind === 'throttle' || fault?.kind === 'unavailable') {
      const status = fault.kind === 'throttle' ? 429 : (fault.status ?? 503);
      const retryAfter: Record<string, string> = fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) };
      reply =
        status === 429
          ? graphError(routeRequest, 429, 'TooManyRequests', 'Too many requests.', retryAfter)
          : graphError(routeRequest, status, status === 503 ? 'serviceNotAvailable' : 'gatewayTimeout', 'The service is temporarily unavailable. Please retry later.', retryAfter);
    } else if (body === undefined) {
      reply = { status: 413, body: { error: { code: 'RequestEntityTooLarge', message: 'Request body too large.' } } };
    } else {
      reply =
        (await deviceAuthorization!.handle(routeRequest)) ??
        (await identity!.handle(routeRequest)) ??
        (await graph!.handle(routeRequest)) ??
        (await intune!.handle(routeRequest)) ??
        { status: 404, body: { error: { code: 'NotFound', message: `No route for ${url.pathname} in the simulated tenant.` } } };
    }

    record.status = reply.status;
    const contentType = service === 'graph' ? 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8' : 'application/json; charset=utf-8';
    res.writeHead(reply.status, {
      'content-type': contentType,
      'request-id': requestId,
      ...(clientRequestId ? { 'client-request-id': clientRequestId } : {}),
      'x-ms-ags-diagnostic': JSON.stringify({ ServerInfo: { DataCenter: 'Simulated', Slice: 'E', Ring: '0', ScaleUnit: '000', RoleInstance: 'LOCAL' } }),
      ...reply.headers,
    });
    // A malformed answer: a 200 whose JSON breaks off.
    if (fault?.kind === 'malformed') res.end((reply.text ?? JSON.stringify(reply.body ?? {})).slice(0, 12));
    else res.end(reply.text ?? (reply.body === undefined ? '' : JSON.stringify(reply.body)));
    record.endedAt = Date.now();
  }

  if (options.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = options.keepAliveTimeoutMs;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const host = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const app: AppRegistration = {
    clientId: 'c0a7f5e2-3d41-4b8a-9f6e-1a2b3c4d5e6f',
    servicePrincipalId: '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b',
    clientSecret: `sim~${randomUUID().replace(/-/g, '')}`,
    permissions: new Set(options.permissions ?? DEFAULT_PERMISSIONS),
  };
  identity = await Identity.create(tenantId, host, app);
  identity.addClientCertificate(clientCertificate.certificatePem);
  const limits = { getMemberGroups: options.getMemberGroupsLimit ?? 11_000 };
  graph = new Graph(directory, identity, host, limits);
  intune = new Intune(directory, identity, host, options.rotationDelayMs === undefined ? {} : { rotationDelayMs: options.rotationDelayMs });
  deviceAuthorization = new DeviceAuthorization(identity, directory, options);

  return {
    tenantId,
    authorityHost: host,
    authority: `${host}/${tenantId}`,
    graphEndpoint: host,
    graphScope: `${GRAPH_AUDIENCE}/.default`,
    tokenEndpoint: identity.tokenEndpoint,
    authorityMetadata: JSON.stringify(identity.openidConfiguration()),
    caCertificatePem: ca.certificatePem,
    app: Object.assign(app, { certificate: clientCertificate }),
    addClientCertificate: (pem) => identity.addClientCertificate(pem),
    issueUserToken: (tokenOptions) => identity.issueUserToken(tokenOptions),
    deviceCodeEndpoint: deviceAuthorization.deviceCodeEndpoint,
    verificationUri: deviceAuthorization.verificationUri,
    registerPublicClient: (clientId) => deviceAuthorization.registerPublicClient(clientId),
    approveDeviceCode: (userCode, user) => deviceAuthorization.approve(userCode, user),
    declineDeviceCode: (userCode) => deviceAuthorization.decline(userCode),
    directory,
    intune,
    limits,
    revokeAppTokens: (revokeOptions) => identity.revokeAppTokens(revokeOptions),
    faults,
    calls,
    callCount: (pathPrefix) => calls.filter((c) => (pathPrefix === undefined ? c.service === 'graph' : c.path.startsWith(pathPrefix))).length,
    resetCalls: () => void calls.splice(0),
    close: async () => {
      faults.clear();
      intune.close();
      const closed = once(server, 'close');
      server.close();
      // Hung requests and keep-alive connections would hold close() forever.
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The request body as text; undefined past the size limit. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > BODY_LIMIT) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

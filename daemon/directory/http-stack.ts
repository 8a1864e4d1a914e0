/**
 * The one outbound HTTP stack (undici): keep-alive pools, bounded connect/headers/body waits, and an
 * optional extra trusted CA on top of the system roots (a private cloud's, or the simulated tenant's).
 * MSAL's network client and the Graph client are meant to share it.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';

export interface HttpStackOptions {
  /** PEM file of an extra CA to trust (`--ca-file` / `AMS_CA_FILE`), besides the system roots. */
  caFile?: string;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
}

export function createHttpStack(options: HttpStackOptions = {}): Dispatcher {
  const extraCa = options.caFile ? readFileSync(options.caFile, 'utf8') : undefined;
  return new Agent({
    keepAliveTimeout: 30_000,
    connections: 16,
    headersTimeout: options.headersTimeoutMs ?? 15_000,
    bodyTimeout: options.bodyTimeoutMs ?? 15_000,
    connect: {
      timeout: options.connectTimeoutMs ?? 5_000,
      // One secure context for every connection: handed `ca` instead, each tls.connect would parse the
      // ~145 system roots plus the extra CA again (tens of ms of CPU per new connection). Without an
      // extra CA, tls.connect's own default context (system roots, NODE_EXTRA_CA_CERTS) is already cheap.
      ...(extraCa ? { secureContext: createSecureContext({ ca: [...rootCertificates, extraCa] }) } : {}),
    },
  });
}

/**
 * App-only tokens for Graph, one MSAL ConfidentialClientApplication per tenant so that its token
 * cache lives as long as the tenant's configuration. For an identity provider that is not a Microsoft
 * host (a private cloud, the simulated tenant), the daemon reads its OpenID configuration itself and
 * hands MSAL the metadata, so MSAL does no instance discovery against the internet.
 */
import { ConfidentialClientApplication, type Configuration } from '@azure/msal-node';
import { request, type Dispatcher } from 'undici';
import { UndiciNetworkClient } from './msal-network.js';

export type TenantCredential =
  | { type: 'secret'; clientSecret: string }
  | { type: 'certificate'; privateKeyPem: string; thumbprintSha256: string; certificatePem?: string };

export interface TokenProviderOptions {
  tenantId: string;
  clientId: string;
  credential: TenantCredential;
  /** e.g. `https://login.microsoftonline.com` */
  authorityHost: string;
  /**
   * Graph's resource id in the tenant's cloud, e.g. `https://graph.microsoft.com`; the scope is
   * `<graphResource>/.default`. It stays the cloud's even when Graph is reached at another endpoint.
   */
  graphResource: string;
  dispatcher: Dispatcher;
}

/** Hosts whose metadata MSAL knows by itself. */
const MICROSOFT_AUTHORITY_HOSTS = new Set(['login.microsoftonline.com', 'login.microsoftonline.us', 'login.chinacloudapi.cn', 'login.microsoft.com']);

export interface TokenProvider {
  /** A valid access token for Graph, from MSAL's cache while it lasts. */
  getToken(): Promise<string>;
}

export function createTokenProvider(options: TokenProviderOptions): TokenProvider {
  const authorityHost = options.authorityHost.replace(/\/+$/, '');
  const authority = `${authorityHost}/${options.tenantId}`;
  const scope = `${options.graphResource.replace(/\/+$/, '')}/.default`;
  let client: Promise<ConfidentialClientApplication> | undefined;

  const build = async () => {
    const host = new URL(authorityHost).host;
    const custom = !MICROSOFT_AUTHORITY_HOSTS.has(host);
    const configuration: Configuration = {
      auth: {
        clientId: options.clientId,
        authority,
        ...(options.credential.type === 'secret'
          ? { clientSecret: options.credential.clientSecret }
          : {
              clientCertificate: {
                thumbprintSha256: options.credential.thumbprintSha256,
                privateKey: options.credential.privateKeyPem,
                ...(options.credential.certificatePem ? { x5c: options.credential.certificatePem } : {}),
              },
            }),
        ...(custom
          ? { knownAuthorities: [host], authorityMetadata: JSON.stringify(await readOpenIdConfiguration(authority, options.dispatcher)) }
          : {}),
      },
      system: { networkClient: new UndiciNetworkClient(options.dispatcher) },
    };
    return new ConfidentialClientApplication(configuration);
  };

  return {
    async getToken() {
      client ??= build().catch((error: unknown) => {
        client = undefined; // a failed discovery is retried on the next call
        throw error;
      });
      const result = await (await client).acquireTokenByClientCredential({ scopes: [scope] });
      if (!result?.accessToken) throw new Error(`Entra ID returned no access token for tenant ${options.tenantId}`);
      return result.accessToken;
    },
  };
}

export async function readOpenIdConfiguration(authority: string, dispatcher: Dispatcher): Promise<Record<string, unknown>> {
  const url = `${authority}/v2.0/.well-known/openid-configuration`;
  const response = await request(url, { dispatcher, signal: AbortSignal.timeout(10_000) });
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new Error(`The identity provider's OpenID configuration at ${url} answered ${response.statusCode}`);
  }
  return (await response.body.json()) as Record<string, unknown>;
}

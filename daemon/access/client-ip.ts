/**
 * The client's IP address, for the audit trail and the per-IP rate limit. X-Forwarded-For is believed
 * only as far as it was written by proxies the admin trusts: anything to the left of the first address
 * that is not a trusted proxy was written by the client and could say anything.
 *
 * Addresses are returned normalised, so that one client is one rate-limit key: IPv4-mapped IPv6
 * (`::ffff:10.0.0.1`, how a dual-stack socket reports IPv4 peers) as plain IPv4, IPv6 in its canonical
 * lowercase compressed form.
 */
import { BlockList, isIP } from 'node:net';

/**
 * The trusted proxies as a BlockList. Entries are addresses or CIDR ranges, IPv4 or IPv6
 * (`10.0.0.0/8`, `fd00::/8`, `::ffff:10.0.0.0/104`); IPv4 entries also match IPv4-mapped IPv6 peers.
 * Throws a RangeError naming the first entry that is neither (for configuration validation).
 */
export function trustedProxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const match = /^([^/]+?)(?:\/(\d{1,3}))?$/.exec(entry.trim());
    const address = match?.[1] ?? '';
    const family = isIP(address);
    const prefix = match?.[2] === undefined ? undefined : Number(match[2]);
    if (family === 0 || (prefix !== undefined && prefix > (family === 4 ? 32 : 128))) {
      throw new RangeError(`not an IP address or CIDR range: ${JSON.stringify(entry)}`);
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, prefix, type);
  }
  return list;
}

/** Built once per configured list (by identity): the list is configuration and does not change in place. */
const compiled = new WeakMap<readonly string[], BlockList>();

/**
 * The client address of a request that arrived from `peerAddress` with the given X-Forwarded-For value
 * (several header lines joined by commas, as Node joins them).
 *
 * When the peer is a trusted proxy, the list is walked right to left, skipping trusted proxies; the first
 * untrusted address is the client. If every address is trusted, the leftmost is the client. An entry that
 * is not an IP address (ports, `[v6]:port` brackets and surrounding spaces are accepted) ends the walk and
 * the peer is returned: a trusted proxy wrote something we cannot read, so nothing beyond it is believed.
 */
export function clientIp(peerAddress: string, forwardedFor: string | undefined, trustedProxies: readonly string[]): string {
  const peer = parseAddress(peerAddress);
  if (!peer) return peerAddress;
  if (forwardedFor === undefined || trustedProxies.length === 0) return peer.address;

  let trusted = compiled.get(trustedProxies);
  if (!trusted) {
    trusted = trustedProxyList(trustedProxies);
    compiled.set(trustedProxies, trusted);
  }
  const isTrusted = (a: Address) => trusted.check(a.address, a.type);

  if (!isTrusted(peer)) return peer.address;
  const entries = forwardedFor.split(',');
  let client = peer;
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = parseAddress(entries[i]!);
    if (!entry) return peer.address;
    client = entry;
    if (!isTrusted(entry)) return entry.address;
  }
  return client.address;
}

interface Address {
  address: string;
  type: 'ipv4' | 'ipv6';
}

/** An IP address, with an optional port (`1.2.3.4:80`, `[::1]:80`) or brackets, normalised; else undefined. */
function parseAddress(text: string): Address | undefined {
  let value = text.trim();
  const withPort = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(value) ?? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(value);
  if (withPort) {
    if (withPort[2] !== undefined && Number(withPort[2]) > 65535) return undefined;
    value = withPort[1]!;
  }
  const family = isIP(value);
  if (family === 4) return { address: value, type: 'ipv4' };
  if (family !== 6) return undefined;
  const canonical = canonicalIpv6(value);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped) {
    const high = parseInt(mapped[1]!, 16);
    const low = parseInt(mapped[2]!, 16);
    return { address: `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`, type: 'ipv4' };
  }
  return { address: canonical, type: 'ipv6' };
}

/** The WHATWG URL parser's form: lowercase, zeros compressed. A zone (`fe80::1%eth0`) has none: kept as written, lowercased. */
function canonicalIpv6(address: string): string {
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase();
  }
}

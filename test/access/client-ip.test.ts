import t from 'tap';
import { clientIp, trustedProxyList } from '../../daemon/access/client-ip.js';

const PROXIES = ['10.0.0.0/8', '192.168.1.10', 'fd00::/8', '2001:db8:ffff::1'];

t.test('an untrusted peer is the client, whatever it forwards', async (t) => {
  t.equal(clientIp('203.0.113.9', '198.51.100.1', PROXIES), '203.0.113.9');
  t.equal(clientIp('203.0.113.9', '10.0.0.1', PROXIES), '203.0.113.9', 'even claiming to come from a proxy');
  t.equal(clientIp('10.0.0.5', '198.51.100.1', []), '10.0.0.5', 'no trusted proxies: the header is never read');
  t.equal(clientIp('10.0.0.5', undefined, PROXIES), '10.0.0.5', 'a trusted peer without the header is the client');
  t.equal(clientIp('192.168.1.11', '198.51.100.1', PROXIES), '192.168.1.11', 'a single address entry is only that address');
  t.equal(clientIp('fe80::1', '198.51.100.1', PROXIES), 'fe80::1');
});

t.test('a trusted peer is believed, through a chain of trusted proxies', async (t) => {
  t.equal(clientIp('10.0.0.5', '198.51.100.1', PROXIES), '198.51.100.1');
  t.equal(clientIp('192.168.1.10', ' 198.51.100.1 ', PROXIES), '198.51.100.1', 'spaces around entries');
  t.equal(clientIp('10.0.0.5', '198.51.100.1, 10.1.1.1, 192.168.1.10', PROXIES), '198.51.100.1', 'trusted hops are skipped');
  t.equal(
    clientIp('10.0.0.5', '1.2.3.4, 198.51.100.1, 10.1.1.1', PROXIES),
    '198.51.100.1',
    'the first untrusted address from the right: what the client wrote to its left is not believed',
  );
  t.equal(clientIp('10.0.0.5', '10.9.9.9, 10.1.1.1', PROXIES), '10.9.9.9', 'every hop trusted: the leftmost');
  t.equal(clientIp('10.0.0.5', '1.2.3.4, 5.6.7.8', PROXIES), '5.6.7.8', 'an untrusted hop ends the walk');
  t.equal(clientIp('10.0.0.5', ['1.2.3.4', '198.51.100.1, 10.1.1.1'].join(', '), PROXIES), '198.51.100.1', 'several header lines, joined');
});

t.test('CIDR ranges and addresses, IPv4 and IPv6', async (t) => {
  t.equal(clientIp('10.255.255.255', '198.51.100.1', PROXIES), '198.51.100.1', 'the end of a v4 range');
  t.equal(clientIp('11.0.0.0', '198.51.100.1', PROXIES), '11.0.0.0', 'just past it');
  t.equal(clientIp('fd12:3456::1', '2001:db8::7', PROXIES), '2001:db8::7', 'a v6 range, a v6 client');
  t.equal(clientIp('fe00::1', '2001:db8::7', PROXIES), 'fe00::1', 'outside the v6 range');
  t.equal(clientIp('2001:db8:ffff::1', '198.51.100.1', PROXIES), '198.51.100.1', 'a single v6 address');
  t.equal(clientIp('2001:db8:ffff:0:0:0:0:1', '198.51.100.1', PROXIES), '198.51.100.1', 'written at length');
  t.equal(clientIp('2001:db8:ffff::2', '198.51.100.1', PROXIES), '2001:db8:ffff::2');
  t.equal(clientIp('fd00::1', '2001:DB8:0:0::7', PROXIES), '2001:db8::7', 'v6 is returned canonical and lowercase');
  t.equal(clientIp('10.0.0.1', '198.51.100.1', ['0.0.0.0/0']), '198.51.100.1', 'a /0 trusts everything of its family');
  t.equal(clientIp('fd00::1', '198.51.100.1', ['0.0.0.0/0']), 'fd00::1', 'but not the other family');
});

t.test('IPv4-mapped IPv6 addresses', async (t) => {
  t.equal(clientIp('::ffff:10.0.0.1', '198.51.100.1', PROXIES), '198.51.100.1', 'a mapped peer matches a v4 range');
  t.equal(clientIp('::ffff:203.0.113.9', '198.51.100.1', PROXIES), '203.0.113.9', 'an untrusted mapped peer is returned as v4');
  t.equal(clientIp('::FFFF:a00:1', '198.51.100.1', PROXIES), '198.51.100.1', 'in hex, in capitals');
  t.equal(clientIp('10.0.0.1', '::ffff:198.51.100.1, ::ffff:10.2.2.2', PROXIES), '198.51.100.1', 'mapped hops are skipped and returned as v4');
  t.equal(clientIp('10.0.0.1', '198.51.100.1', ['::ffff:10.0.0.0/104']), '198.51.100.1', 'a mapped range matches a v4 peer');
  t.equal(clientIp('11.0.0.1', '198.51.100.1', ['::ffff:10.0.0.0/104']), '11.0.0.1');
});

t.test('ports and brackets are read; anything else unreadable falls back to the peer', async (t) => {
  t.equal(clientIp('10.0.0.1', '198.51.100.1:51234', PROXIES), '198.51.100.1', 'v4 with a port');
  t.equal(clientIp('10.0.0.1', '[2001:db8::7]:443', PROXIES), '2001:db8::7', 'bracketed v6 with a port');
  t.equal(clientIp('10.0.0.1', '[2001:db8::7]', PROXIES), '2001:db8::7', 'bracketed v6');
  for (const garbage of ['', ' ', 'unknown', 'evil.example', '999.1.1.1', '01.2.3.4', '1.2.3', '198.51.100.1,', '198.51.100.1, , 10.1.1.1', '1.2.3.4 5.6.7.8', '2001:db8::7::1', '[1.2.3.4', '[2001:db8::7]:99999', '<script>']) {
    t.equal(clientIp('10.0.0.1', garbage, PROXIES), '10.0.0.1', `${JSON.stringify(garbage)} → the peer`);
  }
  t.equal(clientIp('10.0.0.1', 'garbage, 198.51.100.1', PROXIES), '198.51.100.1', 'garbage left of the client is never read');
  t.equal(clientIp('10.0.0.1', '198.51.100.1, garbage, 10.1.1.1', PROXIES), '10.0.0.1', 'garbage written by a trusted hop ends the walk');
  t.equal(clientIp('not-an-address', '198.51.100.1', PROXIES), 'not-an-address', 'a peer that is not an address is returned as it is');
  t.equal(clientIp('fe80::1%eth0', '198.51.100.1', ['fe80::/10']), '198.51.100.1', 'a zoned link-local peer');
});

t.test('the trusted proxy list is validated', async (t) => {
  for (const bad of ['10.0.0.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/-1', 'proxy.internal', '', '10.0.0.0/8/8', '10.0.0.0/abc']) {
    t.throws(() => trustedProxyList([bad]), RangeError, `${JSON.stringify(bad)} refused`);
  }
  t.throws(() => clientIp('10.0.0.1', '198.51.100.1', ['10.0.0.0/8', 'nonsense']), RangeError, 'also when first used');
  t.ok(trustedProxyList(['10.0.0.0/8', ' 172.16.0.0/12 ', '::1', 'fd00::/8', '::ffff:10.0.0.0/104']).check('172.31.255.255', 'ipv4'));
});

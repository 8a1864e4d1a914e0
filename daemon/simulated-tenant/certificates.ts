/**
 * Certificates for the simulated tenant, made in-process (no openssl binary): a throwaway CA, a TLS
 * server certificate for 127.0.0.1/localhost signed by it, and self-signed client certificates such as
 * an app registration would carry. Keys come from node:crypto (fast, native); node-forge only builds
 * and signs the X.509 structures, which Node cannot do by itself.
 */
import { generateKeyPair as generateKeyPairCb, randomBytes, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generateKeyPair = promisify(generateKeyPairCb);

export interface KeyAndCertificate {
  /** PKCS#8 PEM, the form MSAL's `clientCertificate.privateKey` wants. */
  privateKeyPem: string;
  certificatePem: string;
}

export interface ClientCertificate extends KeyAndCertificate {
  /** SHA-256 of the DER certificate, hex (MSAL's `thumbprintSha256`). */
  thumbprintSha256: string;
  /** SHA-1 of the DER certificate, hex (the legacy `x5t`). */
  thumbprint: string;
}

async function rsaKeyPair(): Promise<{ privateKeyPem: string; forgeKey: forge.pki.rsa.PrivateKey; forgePublic: forge.pki.rsa.PublicKey }> {
  const { privateKey } = await generateKeyPair('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey);
  return { privateKeyPem: privateKey, forgeKey, forgePublic: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function baseCertificate(publicKey: forge.pki.rsa.PublicKey, commonName: string, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive random serial: the high bit cleared so DER does not read it as negative.
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  cert.serialNumber = serial.toString('hex');
  // Back-dated a little so clock skew between processes never makes it "not yet valid".
  cert.validity.notBefore = new Date(Date.now() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(Date.now() + days * 24 * 60 * 60 * 1000);
  cert.setSubject([{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'amsd simulated tenant' }]);
  return cert;
}

export interface CertificateAuthority extends KeyAndCertificate {
  forgeKey: forge.pki.rsa.PrivateKey;
  forgeCert: forge.pki.Certificate;
}

export async function createCertificateAuthority(commonName = 'amsd simulated tenant CA'): Promise<CertificateAuthority> {
  const keys = await rsaKeyPair();
  const cert = baseCertificate(keys.forgePublic, commonName, 30);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.forgeKey, forge.md.sha256.create());
  return { privateKeyPem: keys.privateKeyPem, certificatePem: forge.pki.certificateToPem(cert), forgeKey: keys.forgeKey, forgeCert: cert };
}

/** A TLS server certificate for loopback, signed by `ca`. */
export async function issueServerCertificate(ca: CertificateAuthority, hosts = { dns: ['localhost'], ip: ['127.0.0.1', '::1'] }): Promise<KeyAndCertificate> {
  const keys = await rsaKeyPair();
  const cert = baseCertificate(keys.forgePublic, hosts.dns[0] ?? hosts.ip[0] ?? 'localhost', 30);
  cert.setIssuer(ca.forgeCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    // Type 2 = DNS name, 7 = IP address (RFC 5280 GeneralName).
    { name: 'subjectAltName', altNames: [...hosts.dns.map((value) => ({ type: 2, value })), ...hosts.ip.map((ip) => ({ type: 7, ip }))] },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(ca.forgeKey, forge.md.sha256.create());
  return { privateKeyPem: keys.privateKeyPem, certificatePem: forge.pki.certificateToPem(cert) };
}

/** A self-signed certificate as uploaded to an app registration's "Certificates & secrets". */
export async function createClientCertificate(commonName = 'amsd simulated app'): Promise<ClientCertificate> {
  const keys = await rsaKeyPair();
  const cert = baseCertificate(keys.forgePublic, commonName, 365);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([{ name: 'keyUsage', digitalSignature: true, critical: true }]);
  cert.sign(keys.forgeKey, forge.md.sha256.create());
  const certificatePem = forge.pki.certificateToPem(cert);
  return { privateKeyPem: keys.privateKeyPem, certificatePem, ...thumbprints(certificatePem) };
}

export function thumbprints(certificatePem: string): { thumbprintSha256: string; thumbprint: string } {
  const x509 = new X509Certificate(certificatePem);
  return {
    thumbprintSha256: x509.fingerprint256.replace(/:/g, '').toLowerCase(),
    thumbprint: x509.fingerprint.replace(/:/g, '').toLowerCase(),
  };
}

import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkOpenssl } from './prerequisites.ts';
import { capture } from './run-command.ts';

/**
 * The certificates the cluster profile's TLS hops use, each signed by the stack's own CA: a server
 * certificate per server (PostgreSQL, each Kafka node, the Temporal frontend, the API's HTTPS
 * listener) and the client
 * certificates Temporal's mTLS needs. Every one names 127.0.0.1 and localhost, where the stack
 * listens.
 */
export const stackCertificateNames = [
  'postgres',
  'kafka-1',
  'kafka-2',
  'kafka-3',
  'temporal-frontend',
  // The other Temporal services (history, matching, worker) when they call the frontend or each other.
  'temporal-internode',
  // The application processes, the stack's own calls (probes, namespace set-up) and the Web UI server.
  'temporal-client',
  // The API's HTTPS listener (the Web UI's browser calls the codec endpoint there, with the user's token).
  'api',
] as const;

/** Name of one of the stack's certificates. */
export type StackCertificateName = (typeof stackCertificateNames)[number];

/** A certificate and its private key, both PEM files. */
export interface CertificatePair {
  cert: string;
  key: string;
}

/** Where the stack's CA and certificates are: `<STACK_DATA_DIR>/secrets/tls` (git-ignored, keys 0600). */
export interface StackCertificates {
  dir: string;
  /** The CA certificate clients verify the servers with (and the servers verify client certificates with). */
  ca: string;
  pairs: Record<StackCertificateName, CertificatePair>;
}

/** The paths of the stack's certificates under `dataDir`, made or not. */
export function stackCertificatesOf(dataDir: string): StackCertificates {
  const dir = join(dataDir, 'secrets', 'tls');
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    pairs: Object.fromEntries(stackCertificateNames.map((name) => [name, { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }])) as Record<
      StackCertificateName,
      CertificatePair
    >,
  };
}

/** How long the stack's certificates last: long enough never to expire under a developer. */
const validDays = '3650';

function openssl(args: string[]): void {
  const run = capture('openssl', args);
  if (run.error) checkOpenssl();
  if (run.status !== 0) throw new Error(`openssl ${args[0]} failed (exit ${run.status}): ${run.output.trim().split('\n').slice(-3).join(' / ')}`);
}

/**
 * Makes the stack's CA and every certificate in {@link stackCertificateNames} that is missing, once:
 * a second call finds them and does nothing. Keys are EC P-256 in PKCS#8 (what PostgreSQL, Kafka's
 * PEM key store, Go and Node all read), written 0600. A certificate is made in a temporary file and
 * renamed, so a run cut short leaves none half-written.
 * @throws PrerequisiteMissingError when `openssl` is not installed.
 */
export function ensureStackCertificates(dataDir: string): StackCertificates {
  const certificates = stackCertificatesOf(dataDir);
  const { dir, ca } = certificates;
  const caKey = join(dir, 'ca.key');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  if (!existsSync(ca) || !existsSync(caKey)) {
    openssl(['req', '-x509', ...newKey, '-keyout', caKey, '-out', `${ca}.tmp`, '-days', validDays, '-subj', '/O=order-saga/CN=order-saga stack CA']);
    chmodSync(caKey, 0o600);
    renameSync(`${ca}.tmp`, ca);
  }
  for (const name of stackCertificateNames) {
    const { cert, key } = certificates.pairs[name];
    if (existsSync(cert) && existsSync(key)) continue;
    const request = join(dir, `${name}.csr`);
    const extensions = join(dir, `${name}.ext`);
    writeFileSync(
      extensions,
      [
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature, keyEncipherment',
        // Every one is both: a Kafka node is the client of the others, a Temporal service of the frontend.
        'extendedKeyUsage = serverAuth, clientAuth',
        'subjectAltName = IP:127.0.0.1, DNS:localhost',
        '',
      ].join('\n'),
    );
    try {
      openssl(['req', '-new', ...newKey, '-keyout', key, '-out', request, '-subj', `/O=order-saga/CN=${name}`]);
      chmodSync(key, 0o600);
      openssl([
        'x509',
        '-req',
        '-in',
        request,
        '-CA',
        ca,
        '-CAkey',
        caKey,
        '-CAcreateserial',
        '-days',
        validDays,
        '-extfile',
        extensions,
        '-out',
        `${cert}.tmp`,
      ]);
      renameSync(`${cert}.tmp`, cert);
    } finally {
      rmSync(request, { force: true });
      rmSync(extensions, { force: true });
    }
  }
  return certificates;
}

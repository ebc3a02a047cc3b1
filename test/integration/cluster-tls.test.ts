import { readFileSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import pg from 'pg';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { stackCertificatesOf, type StackCertificates } from '../../infra/stack/certificates.ts';
import { loadStackConfig, type StackConfig } from '../../infra/stack/config.ts';
import { kafkaSecurity, temporalTls } from './helpers/secure-clients.ts';
import '../setup/servers.ts';

// The cluster profile encrypts every hop to its servers with the stack's own CA (made by the
// stack in STACK_DATA_DIR/secrets/tls): each server refuses a client that speaks plaintext, and
// answers one that speaks TLS and verifies it.
describe('the cluster profile: TLS on every hop', () => {
  let config: StackConfig;
  let certificates: StackCertificates;

  beforeAll(() => {
    config = loadStackConfig(inject('clusterStackEnv'));
    certificates = stackCertificatesOf(config.STACK_DATA_DIR);
  });

  describe('PostgreSQL', () => {
    const settings = () => ({
      host: '127.0.0.1',
      port: config.POSTGRES_PORT,
      user: config.POSTGRES_USER,
      password: config.POSTGRES_PASSWORD,
      database: config.POSTGRES_DB,
      connectionTimeoutMillis: 5000,
    });

    it('refuses a plaintext TCP connection', async () => {
      const client = new pg.Client({ ...settings(), ssl: false });
      await expect(client.connect()).rejects.toThrow(/no encryption/);
      await client.end().catch(() => undefined);
    });

    it('refuses to be trusted by a client that does not know the stack CA', async () => {
      const client = new pg.Client({ ...settings(), ssl: { rejectUnauthorized: true } });
      await expect(client.connect()).rejects.toThrow(/unable to verify the first certificate/);
      await client.end().catch(() => undefined);
    });

    it('serves the URL the application processes get: TLS, the server verified against the stack CA', async () => {
      const client = new pg.Client({ connectionString: inject('servers').databaseUrl });
      await client.connect();
      try {
        const session = await client.query<{ ssl: boolean }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
        expect(session.rows).toEqual([{ ssl: true }]);
      } finally {
        await client.end();
      }
      expect(inject('servers').databaseUrl).toContain(`sslmode=verify-full&sslrootcert=${encodeURIComponent(certificates.ca)}`);
      expect(readFileSync(certificates.ca, 'utf8')).toContain('BEGIN CERTIFICATE');
    });
  });

  describe('Kafka', () => {
    /** Connects an admin client to node 1 with `settings`, asks for the cluster's brokers and disconnects. */
    const brokersSeenWith = async (settings: Partial<KafkaConfig>) => {
      const admin = new Kafka({
        clientId: 'cluster-tls-test',
        brokers: [inject('servers').kafkaBrokers[0]!],
        logLevel: logLevel.NOTHING,
        retry: { retries: 0 },
        connectionTimeout: 3000,
        requestTimeout: 5000,
        ...settings,
      }).admin();
      try {
        await admin.connect();
        return (await admin.describeCluster()).brokers.length;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    };

    it('refuses a plaintext client', async () => {
      // The broker reads the plaintext request as a bad TLS handshake and closes the connection.
      await expect(brokersSeenWith({})).rejects.toThrow(/Closed connection/);
    });

    it('refuses a TLS client that does not authenticate, or gives a wrong SCRAM password', async () => {
      const { ssl, sasl } = kafkaSecurity(inject('servers'));
      // Before SASL only the handshake requests are served: the metadata request closes the connection.
      await expect(brokersSeenWith({ ssl: ssl! })).rejects.toThrow(/Closed connection/);
      await expect(
        brokersSeenWith({ ssl: ssl!, sasl: { ...(sasl as { username: string; password: string }), mechanism: 'scram-sha-512', password: 'wrong' } }),
      ).rejects.toThrow(/SASL SCRAM SHA512 authentication failed/);
    });

    it('serves a client with TLS verified against the stack CA and the application SCRAM user', async () => {
      await expect(brokersSeenWith(kafkaSecurity(inject('servers')))).resolves.toBe(3);
    });
  });

  describe('the Temporal frontend', () => {
    /** Connects to the frontend with `tls`, asks for its system info and closes. */
    const systemInfoWith = async (tls: Parameters<typeof Connection.connect>[0] = {}) => {
      const connection = await Connection.connect({ address: inject('servers').temporalAddress, connectTimeout: 5000, ...tls });
      try {
        return await connection.workflowService.getSystemInfo({});
      } finally {
        await connection.close();
      }
    };

    it('refuses a plaintext client', async () => {
      // gRPC keeps trying until the connect timeout: every attempt fails at the TLS handshake.
      await expect(systemInfoWith()).rejects.toThrow(/Failed to connect before the deadline/);
    });

    it('refuses a TLS client without a client certificate (mTLS)', async () => {
      const { tls } = temporalTls(inject('servers'));
      await expect(
        systemInfoWith({ tls: { serverNameOverride: tls!.serverNameOverride!, serverRootCACertificate: tls!.serverRootCACertificate! } }),
      ).rejects.toThrow(/Failed to connect before the deadline/);
    });

    it('serves a client with a certificate of the stack CA that verifies the server', async () => {
      await expect(systemInfoWith(temporalTls(inject('servers')))).resolves.toHaveProperty('serverVersion');
    });
  });
});

import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import type { KafkaConfig } from 'kafkajs';
import type { TestServers } from '../../setup/servers.ts';

/** The kafkajs settings that reach the suite's Kafka: TLS against the stack CA and SCRAM on the cluster suite's, none on a plaintext one. */
export function kafkaSecurity(servers: Pick<TestServers, 'security'>): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const kafka = servers.security?.kafka;
  if (!kafka) return {};
  return { ssl: { ca: [readFileSync(kafka.ca, 'utf8')] }, sasl: { mechanism: kafka.mechanism, username: kafka.username, password: kafka.password } };
}

/** The Temporal connection settings that reach the suite's frontend: mTLS on the cluster suite's, none on a plaintext one. */
export function temporalTls(servers: Pick<TestServers, 'security'>): { tls?: TLSConfig } {
  const temporal = servers.security?.temporal;
  if (!temporal) return {};
  return {
    tls: {
      serverNameOverride: temporal.serverName,
      serverRootCACertificate: readFileSync(temporal.ca),
      clientCertPair: { crt: readFileSync(temporal.cert), key: readFileSync(temporal.key) },
    },
  };
}

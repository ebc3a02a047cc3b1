import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import {
  initialControllers,
  kafkaClusterBrokers,
  kafkaClusterIdentity,
  kafkaClusterNodeProperties,
  kafkaClusterNodes,
  kafkaScramCredentials,
  kafkaSecureListenerSettings,
  kafkaServerProperties,
  newClusterId,
  scramFormatOptions,
} from '../../infra/stack/servers/kafka.ts';
import { kafkaEnvOf } from '../../infra/stack/stack.ts';
import { pretendStarted, serverNamesInUse } from '../fixtures/stand-in-tools.ts';

/** Folder of the files the tests below write; removed at the end. */
const scratch = mkdtempSync(join(tmpdir(), 'kafka-properties-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const parse = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );

describe('Kafka broker settings', () => {
  const settings = parse(kafkaServerProperties({ dataDir: '/data/kafka', port: 19092, controllerPort: 19093 }));

  it("checks the topics' retention every 30 s unless told otherwise, so a retention of minutes shows", () => {
    expect(settings['log.retention.check.interval.ms']).toBe('30000');
    const custom = parse(kafkaServerProperties({ dataDir: '/data/kafka', port: 19092, controllerPort: 19093, retentionCheckIntervalMs: 5000 }));
    expect(custom['log.retention.check.interval.ms']).toBe('5000');
    const nodes = kafkaClusterNodes({ dataDir: '/data/cluster', port: 19092, controllerPort: 19093 });
    expect(parse(kafkaClusterNodeProperties(nodes[0]!, nodes, undefined, undefined, 10_000))['log.retention.check.interval.ms']).toBe('10000');
  });

  it('runs broker and controller in one KRaft node, listening on loopback only', () => {
    expect(settings['process.roles']).toBe('broker,controller');
    expect(settings['controller.quorum.voters']).toBe('1@127.0.0.1:19093');
    expect(settings.listeners).toBe('PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093');
    expect(settings['advertised.listeners']).toBe('PLAINTEXT://127.0.0.1:19092');
  });

  it('never creates a topic by accident and gives internal topics one replica', () => {
    expect(settings['auto.create.topics.enable']).toBe('false');
    expect(settings['offsets.topic.replication.factor']).toBe('1');
    expect(settings['transaction.state.log.replication.factor']).toBe('1');
    expect(settings['log.dirs']).toBe('/data/kafka/kraft-logs');
  });

  it('makes cluster ids of 16 random bytes in base64url', () => {
    const id = newClusterId();
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(newClusterId()).not.toBe(id);
  });

  it('never makes a cluster id the storage tool would read as an option', () => {
    // 0xf8 encodes to '-' as the first base64url character.
    const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x01)];
    expect(newClusterId(() => draws.shift()!)).toBe(Buffer.alloc(16, 0x01).toString('base64url'));
    expect(Buffer.alloc(16, 0xf8).toString('base64url').startsWith('-')).toBe(true);
  });
});

describe('Kafka cluster node settings (cluster profile)', () => {
  const nodes = kafkaClusterNodes({ dataDir: '/data/kafka-cluster', port: 19092, controllerPort: 19093 });
  const settings = nodes.map((node) => parse(kafkaClusterNodeProperties(node, nodes)));

  it('makes three nodes with their own id, data folder and ports, 100 apart', () => {
    expect(nodes.map((n) => [n.name, n.nodeId, n.port, n.controllerPort, n.dataDir])).toEqual([
      ['kafka-1', 1, 19092, 19093, '/data/kafka-cluster/node-1'],
      ['kafka-2', 2, 19192, 19193, '/data/kafka-cluster/node-2'],
      ['kafka-3', 3, 19292, 19293, '/data/kafka-cluster/node-3'],
    ]);
    expect(settings.map((s) => s['node.id'])).toEqual(['1', '2', '3']);
    expect(settings.map((s) => s['log.dirs'])).toEqual([
      '/data/kafka-cluster/node-1/kraft-logs',
      '/data/kafka-cluster/node-2/kraft-logs',
      '/data/kafka-cluster/node-3/kraft-logs',
    ]);
    expect(settings[1]!.listeners).toBe('PLAINTEXT://127.0.0.1:19192,CONTROLLER://127.0.0.1:19193');
    expect(settings[1]!['advertised.listeners']).toBe('PLAINTEXT://127.0.0.1:19192');
    expect(kafkaClusterBrokers({ port: 19092, controllerPort: 19093 })).toEqual(['127.0.0.1:19092', '127.0.0.1:19192', '127.0.0.1:19292']);
  });

  it('joins every node to one dynamic quorum of three combined broker-controllers', () => {
    for (const s of settings) {
      expect(s['process.roles']).toBe('broker,controller');
      expect(s['controller.quorum.bootstrap.servers']).toBe('127.0.0.1:19093,127.0.0.1:19193,127.0.0.1:19293');
      // A static voter list and the dynamic quorum exclude each other (the storage tool refuses both).
      expect(s['controller.quorum.voters']).toBeUndefined();
    }
  });

  it('replicates every topic, internal ones included, three times and acknowledges a write on two', () => {
    for (const s of settings) {
      expect(s['default.replication.factor']).toBe('3');
      expect(s['min.insync.replicas']).toBe('2');
      expect(s['unclean.leader.election.enable']).toBe('false');
      expect(s['offsets.topic.replication.factor']).toBe('3');
      expect(s['transaction.state.log.replication.factor']).toBe('3');
      expect(s['transaction.state.log.min.isr']).toBe('2');
      expect(s['share.coordinator.state.topic.replication.factor']).toBe('3');
      expect(s['share.coordinator.state.topic.min.isr']).toBe('2');
      expect(s['auto.create.topics.enable']).toBe('false');
    }
  });
});

describe('Kafka cluster node settings with TLS and SCRAM (cluster profile)', () => {
  const nodes = kafkaClusterNodes({ dataDir: '/data/kafka-cluster', port: 19092, controllerPort: 19093 });
  const broker = { username: 'kafka-broker', password: 'broker-secret' };
  const secure = parse(
    kafkaClusterNodeProperties(nodes[1]!, nodes, undefined, kafkaSecureListenerSettings(nodes[1]!, '/tls/ca.crt', '/k/keystore.pem', broker)),
  );

  it('takes clients on SASL_SSL with SCRAM-SHA-512 only, and controllers on SSL with client certificates required', () => {
    expect(secure.listeners).toBe('SASL_SSL://127.0.0.1:19192,CONTROLLER://127.0.0.1:19193');
    expect(secure['advertised.listeners']).toBe('SASL_SSL://127.0.0.1:19192');
    expect(secure['listener.security.protocol.map']).toBe('SASL_SSL:SASL_SSL,CONTROLLER:SSL');
    expect(secure['sasl.enabled.mechanisms']).toBe('SCRAM-SHA-512');
    expect(secure['listener.name.controller.ssl.client.auth']).toBe('required');
    expect(secure['ssl.truststore.location']).toBe('/tls/ca.crt');
    expect(secure['ssl.keystore.type']).toBe('PEM');
  });

  it('replicates between brokers over the SASL_SSL listener as the brokers own SCRAM user', () => {
    expect(secure['inter.broker.listener.name']).toBe('SASL_SSL');
    expect(secure['sasl.mechanism.inter.broker.protocol']).toBe('SCRAM-SHA-512');
    expect(secure['listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config']).toContain('username="kafka-broker" password="broker-secret"');
  });

  it('creates both SCRAM users when the storage is formatted, and keeps them in one file of the owner only', () => {
    const file = join(scratch, 'kafka-scram.json');
    const credentials = kafkaScramCredentials(file);
    expect(kafkaScramCredentials(file)).toEqual(credentials);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(scramFormatOptions(credentials)).toEqual([
      '--add-scram',
      `SCRAM-SHA-512=[name=kafka-broker,password=${credentials.broker.password}]`,
      '--add-scram',
      `SCRAM-SHA-512=[name=order-saga,password=${credentials.client.password}]`,
    ]);
  });
});

describe('Kafka cluster identity', () => {
  const nodes = (controllerPort: number) => kafkaClusterNodes({ dataDir: '/unused', port: 19092, controllerPort });

  it('is made once and read back the same, so every node is formatted with one cluster id and one voter set', () => {
    const file = join(mkdtempSync(join(scratch, 'identity-')), 'cluster.json');
    const first = kafkaClusterIdentity(file, nodes(19093));
    expect(kafkaClusterIdentity(file, nodes(19093))).toEqual(first);
    expect(first.controllers.map((c) => [c.nodeId, c.controllerPort])).toEqual([
      [1, 19093],
      [2, 19193],
      [3, 19293],
    ]);
    expect(new Set([first.clusterId, ...first.controllers.map((c) => c.directoryId)]).size).toBe(4);
    expect(initialControllers(first)).toBe(first.controllers.map((c) => `${c.nodeId}@127.0.0.1:${c.controllerPort}:${c.directoryId}`).join(','));
  });

  it('refuses controller ports other than those the cluster was formatted with, saying what to do', () => {
    const file = join(mkdtempSync(join(scratch, 'identity-')), 'cluster.json');
    kafkaClusterIdentity(file, nodes(19093));
    expect(() => kafkaClusterIdentity(file, nodes(29093))).toThrow(
      /formatted with controller ports 19093, 19193, 19293, not 29093, 29193, 29293: set KAFKA_CONTROLLER_PORT back/,
    );
  });
});

describe('Kafka settings of the application by profile', () => {
  it('gives the application every node, replication 3, TLS against the stack CA and SCRAM in the cluster profile, and the one plaintext broker in dev', () => {
    const env = { KAFKA_PORT: '19092', KAFKA_CONTROLLER_PORT: '19093', STACK_DATA_DIR: '/srv/stack' };
    expect(kafkaEnvOf(loadStackConfig({ ...env, STACK_PROFILE: 'cluster' }))).toEqual({
      KAFKA_BROKERS: '127.0.0.1:19092,127.0.0.1:19192,127.0.0.1:19292',
      KAFKA_REPLICATION_FACTOR: '3',
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_PATH: '/srv/stack/secrets/tls/ca.crt',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
    });
    expect(kafkaEnvOf(loadStackConfig(env))).toEqual({ KAFKA_BROKERS: '127.0.0.1:19092' });
  });
});

describe('stack:down and stack:status across profiles, for Kafka', () => {
  it('runs the three nodes in place of the single broker in the cluster profile, and the broker alone in dev', () => {
    const dataDir = mkdtempSync(join(scratch, 'in-use-'));
    expect(serverNamesInUse(dataDir, 'cluster').filter((name) => name.startsWith('kafka'))).toEqual(['kafka-1', 'kafka-2', 'kafka-3']);
    expect(serverNamesInUse(dataDir, 'dev').filter((name) => name.startsWith('kafka'))).toEqual(['kafka']);
  });

  it('still sees the Kafka nodes the other profile started, by their pid files', () => {
    const dataDir = mkdtempSync(join(scratch, 'in-use-'));
    pretendStarted(dataDir, 'kafka-2');
    expect(serverNamesInUse(dataDir, 'dev').filter((name) => name.startsWith('kafka'))).toEqual(['kafka', 'kafka-2']);
    pretendStarted(dataDir, 'kafka');
    expect(serverNamesInUse(dataDir, 'cluster').filter((name) => name.startsWith('kafka'))).toEqual(['kafka-1', 'kafka-2', 'kafka-3', 'kafka']);
  });
});

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { capture } from '../run-command.ts';
import type { ManagedServer } from './server.ts';

/** Options of {@link createKafkaServer}. */
export interface KafkaServerOptions {
  java: string;
  libDir: string;
  log4jConfig: string;
  dataDir: string;
  port: number;
  controllerPort: number;
  heapMb: number;
  logPath: string;
  /**
   * Default partition count of a topic created without one.
   * @default 3
   */
  defaultPartitions?: number;
}

/** The broker settings of a single-node KRaft cluster (broker and controller in one process). */
export function kafkaServerProperties(options: Pick<KafkaServerOptions, 'dataDir' | 'port' | 'controllerPort' | 'defaultPartitions'>): string {
  const settings: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${options.controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${options.port},CONTROLLER://127.0.0.1:${options.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${options.port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': join(options.dataDir, 'kraft-logs'),
    'num.partitions': options.defaultPartitions ?? 3,
    // Topics are created on purpose (by name, with a partition count), never by a typo.
    'auto.create.topics.enable': false,
    // One broker: every internal topic has one replica.
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 5,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Consumer groups form at once instead of waiting 3 s for more members.
    'group.initial.rebalance.delay.ms': 0,
  };
  return `${Object.entries(settings)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n')}\n`;
}

/**
 * A KRaft cluster id: 16 random bytes, base64url without padding, as `kafka-storage random-uuid`
 * makes. Like Kafka's own, it never starts with '-', which the storage tool would read as an option.
 */
export function newClusterId(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** A single Apache Kafka node in KRaft mode, run from the broker jars with `java ... kafka.Kafka`. */
export function createKafkaServer(options: KafkaServerOptions): ManagedServer {
  const propertiesFile = join(options.dataDir, 'server.properties');
  const classpath = `${options.libDir}/*`;
  const jvm = [
    `-Xms${Math.min(256, options.heapMb)}m`,
    `-Xmx${options.heapMb}m`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${options.log4jConfig}`,
  ];

  return {
    name: 'kafka',
    ports: [
      { port: options.port, setting: 'KAFKA_PORT' },
      { port: options.controllerPort, setting: 'KAFKA_CONTROLLER_PORT' },
    ],
    logPath: options.logPath,
    stopSignal: 'SIGTERM',

    prepare() {
      mkdirSync(options.dataDir, { recursive: true });
      // Rewritten on every start so a changed port takes effect; the storage is formatted once.
      writeFileSync(propertiesFile, kafkaServerProperties(options));
      if (existsSync(join(options.dataDir, 'kraft-logs', 'meta.properties'))) return;
      const format = capture(options.java, [...jvm, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', propertiesFile]);
      if (format.status !== 0) {
        throw new Error(`formatting the KRaft storage failed (exit ${format.status}): ${format.output.trim().split('\n').slice(-3).join(' / ')}`);
      }
    },

    launchSpec: () => ({ command: options.java, args: [...jvm, '-cp', classpath, 'kafka.Kafka', propertiesFile] }),

    async probe() {
      const admin = new Kafka({
        clientId: 'stack-probe',
        brokers: [`127.0.0.1:${options.port}`],
        logLevel: logLevel.NOTHING,
        retry: { retries: 0 },
        connectionTimeout: 2000,
      }).admin();
      await admin.connect();
      try {
        const cluster = await admin.describeCluster();
        if (cluster.brokers.length === 0) throw new Error('the cluster has no broker yet');
      } finally {
        await admin.disconnect();
      }
    },

    endpoints: () => ({ Kafka: `127.0.0.1:${options.port}` }),
  };
}

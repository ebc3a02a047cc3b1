import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import { isPortFree } from '../ports.ts';
import { capture } from '../run-command.ts';
import type { ManagedServer, ServerName } from './server.ts';

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
  /**
   * How often the broker deletes the closed segments past their topic's retention
   * (`log.retention.check.interval.ms`): Kafka's own 5 minutes would hide a retention of minutes.
   * @default 30000
   */
  retentionCheckIntervalMs?: number;
}

type Settings = Record<string, string | number | boolean>;

/** What every node of ours has, alone or in a cluster: broker and controller in one process, on loopback. */
function kraftNodeSettings(node: {
  nodeId: number;
  dataDir: string;
  port: number;
  controllerPort: number;
  defaultPartitions?: number | undefined;
  retentionCheckIntervalMs?: number | undefined;
}): Settings {
  return {
    'process.roles': 'broker,controller',
    'node.id': node.nodeId,
    listeners: `PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${node.port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': join(node.dataDir, 'kraft-logs'),
    'num.partitions': node.defaultPartitions ?? 3,
    // Topics are created on purpose (by name, with a partition count), never by a typo.
    'auto.create.topics.enable': false,
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.num.partitions': 5,
    // Consumer groups form at once instead of waiting 3 s for more members.
    'group.initial.rebalance.delay.ms': 0,
    // A topic's retention (retention.ms, set by the processes) is enforced within this much.
    'log.retention.check.interval.ms': node.retentionCheckIntervalMs ?? 30_000,
  };
}

/** Replicas and minimum in-sync replicas of the internal topics (consumer offsets, transactions, share groups). */
const internalTopicReplication = (replicas: number, minInSync: number): Settings => ({
  'offsets.topic.replication.factor': replicas,
  'transaction.state.log.replication.factor': replicas,
  'transaction.state.log.min.isr': minInSync,
  'share.coordinator.state.topic.replication.factor': replicas,
  'share.coordinator.state.topic.min.isr': minInSync,
});

const toProperties = (settings: Settings): string =>
  `${Object.entries(settings)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n')}\n`;

/** The broker settings of a single-node KRaft cluster (broker and controller in one process). */
export function kafkaServerProperties(
  options: Pick<KafkaServerOptions, 'dataDir' | 'port' | 'controllerPort' | 'defaultPartitions' | 'retentionCheckIntervalMs'>,
): string {
  return toProperties({
    ...kraftNodeSettings({ ...options, nodeId: 1 }),
    'controller.quorum.voters': `1@127.0.0.1:${options.controllerPort}`,
    // One broker: every internal topic has one replica.
    ...internalTopicReplication(1, 1),
  });
}

/**
 * A KRaft cluster id: 16 random bytes, base64url without padding, as `kafka-storage random-uuid`
 * makes. Like Kafka's own, it never starts with '-', which the storage tool would read as an option.
 * A node's directory id is made the same way.
 */
export function newClusterId(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * The JVM options of a Kafka node with `heapMb` of heap. The heap is fixed and touched at start
 * (-Xms = -Xmx, AlwaysPreTouch), as brokers are run in production: with -Xms256m a 10-minute soak
 * saw the broker's RSS grow 30% (550 to 714 MB) while G1 expanded the heap to its maximum, then
 * stay there, which reads as a leak and is none.
 */
const kafkaJvm = (heapMb: number, log4jConfig: string): string[] => [
  `-Xms${heapMb}m`,
  `-Xmx${heapMb}m`,
  '-XX:+AlwaysPreTouch',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-Djava.awt.headless=true',
  `-Dlog4j2.configurationFile=${log4jConfig}`,
];

/** Formats a node's storage with `kafka.tools.StorageTool format` and the given options (cluster id, quorum). */
function formatStorage(java: string, jvm: string[], classpath: string, propertiesFile: string, args: string[]): void {
  const format = capture(java, [...jvm, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-c', propertiesFile, ...args]);
  if (format.status !== 0) {
    throw new Error(`formatting the KRaft storage failed (exit ${format.status}): ${format.output.trim().split('\n').slice(-3).join(' / ')}`);
  }
}

/** A single Apache Kafka node in KRaft mode, run from the broker jars with `java ... kafka.Kafka`. */
export function createKafkaServer(options: KafkaServerOptions): ManagedServer {
  const propertiesFile = join(options.dataDir, 'server.properties');
  const classpath = `${options.libDir}/*`;
  const jvm = kafkaJvm(options.heapMb, options.log4jConfig);

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
      formatStorage(options.java, jvm, classpath, propertiesFile, ['-t', newClusterId()]);
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

/** Server names of the cluster profile's Kafka nodes, node 1 first. */
export const kafkaClusterNodeNames = ['kafka-1', 'kafka-2', 'kafka-3'] as const satisfies readonly ServerName[];

/** Replication in the cluster profile: every partition on all three nodes, an acknowledged write on at least two. */
export const kafkaClusterReplication = { replicas: 3, minInSync: 2 } as const;

/**
 * Ports between two nodes of the cluster: node n listens at `port + 100 (n - 1)` and its controller
 * at `controllerPort + 100 (n - 1)` (9092/9093, 9192/9193, 9292/9293 by default).
 */
export const kafkaClusterPortStep = 100;

/**
 * Broker and controller ports of node 1 such that all three nodes' ports were free a moment ago
 * (tests start the cluster on free ports; the nodes' ports are node 1's plus steps). Below
 * Linux's ephemeral range (32768-60999): a port in it can become the source port of any outgoing
 * connection between the check and the node's bind (a CI run lost a node to "Address already in
 * use" on 39414 while the other nodes and the test servers were connecting).
 */
export async function freeKafkaClusterPorts(from = 30_000, to = 32_500): Promise<{ port: number; controllerPort: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from - 3 * kafkaClusterPortStep));
    const wanted = [0, 1, 2].flatMap((n) => [port + kafkaClusterPortStep * n, port + 1 + kafkaClusterPortStep * n]);
    if ((await Promise.all(wanted.map((p) => isPortFree(p)))).every(Boolean)) return { port, controllerPort: port + 1 };
  }
  throw new Error(`no free ports for three Kafka nodes between ${from} and ${to}`);
}

/** One node of the cluster profile's Kafka: its id, ports and data folder. */
export interface KafkaClusterNode {
  name: (typeof kafkaClusterNodeNames)[number];
  nodeId: number;
  port: number;
  controllerPort: number;
  dataDir: string;
}

/** Options of {@link createKafkaClusterServers}. */
export interface KafkaClusterOptions extends Omit<KafkaServerOptions, 'logPath'> {
  /** TLS and SASL/SCRAM (the cluster profile); without it every listener is plaintext. */
  security?: KafkaClusterSecurity;
  /** The cluster's folder: its identity (cluster.json) and a data folder per node (node-1 ...). */
  dataDir: string;
  /** Broker port of node 1; the others follow at steps of {@link kafkaClusterPortStep}. */
  port: number;
  /** Controller port of node 1; the others follow at steps of {@link kafkaClusterPortStep}. */
  controllerPort: number;
  /** JVM heap of each node. */
  heapMb: number;
  logsDir: string;
}

/** The nodes of the cluster profile's Kafka, from its first ports and folder. */
export function kafkaClusterNodes(options: Pick<KafkaClusterOptions, 'dataDir' | 'port' | 'controllerPort'>): KafkaClusterNode[] {
  return kafkaClusterNodeNames.map((name, index) => ({
    name,
    nodeId: index + 1,
    port: options.port + kafkaClusterPortStep * index,
    controllerPort: options.controllerPort + kafkaClusterPortStep * index,
    dataDir: join(options.dataDir, `node-${index + 1}`),
  }));
}

/** `host:port` of every broker of the cluster, as clients list them in KAFKA_BROKERS. */
export function kafkaClusterBrokers(options: Pick<KafkaClusterOptions, 'port' | 'controllerPort'>): string[] {
  return kafkaClusterNodes({ ...options, dataDir: '' }).map((node) => `127.0.0.1:${node.port}`);
}

/**
 * The settings of one node of the cluster: a combined broker and controller that finds the
 * dynamic quorum through every controller's endpoint, with topics on three replicas of which two
 * must have a write before it is acknowledged, and no out-of-sync replica ever elected leader.
 */
export function kafkaClusterNodeProperties(
  node: KafkaClusterNode,
  nodes: readonly KafkaClusterNode[],
  defaultPartitions?: number,
  secure?: Settings,
  retentionCheckIntervalMs?: number,
): string {
  const { replicas, minInSync } = kafkaClusterReplication;
  return toProperties({
    ...kraftNodeSettings({ ...node, defaultPartitions, retentionCheckIntervalMs }),
    'controller.quorum.bootstrap.servers': nodes.map((n) => `127.0.0.1:${n.controllerPort}`).join(','),
    'default.replication.factor': replicas,
    // With acks=all, a write survives the loss of any one node; with two nodes gone it is refused.
    'min.insync.replicas': minInSync,
    // An out-of-sync replica made leader would drop acknowledged writes: wait for an in-sync one instead.
    'unclean.leader.election.enable': false,
    ...internalTopicReplication(replicas, minInSync),
    // TLS and SASL/SCRAM listeners in place of the plaintext ones (see kafkaSecureListenerSettings).
    ...secure,
  });
}

/**
 * TLS and SASL/SCRAM of the cluster (the cluster profile): clients reach the brokers on a SASL_SSL
 * listener, authenticating with SCRAM-SHA-512 and verifying the node's certificate; the brokers
 * replicate over the same listener as a user of their own; the controllers talk SSL with client
 * certificates required (mTLS), every node's certificate signed by `ca`. No authorizer: any
 * authenticated user may do anything, as on the plain listener before.
 */
export interface KafkaClusterSecurity {
  /** The CA (PEM) that signed every node's certificate. */
  ca: string;
  /** Each node's certificate and private key (PEM, the key PKCS#8 unencrypted). */
  nodeCertificates: Record<KafkaClusterNode['name'], { cert: string; key: string }>;
  /** Where the SCRAM credentials are kept (made once, 0600), see {@link kafkaScramCredentials}. */
  credentialsFile: string;
}

/** A SCRAM user name and password. */
export interface ScramUser {
  username: string;
  password: string;
}

/** The SCRAM-SHA-512 users of the cluster: the brokers' own (replication) and the application's. */
export interface KafkaScramCredentials {
  broker: ScramUser;
  client: ScramUser;
}

/** The SASL mechanism of the cluster's client listener. */
export const kafkaSaslMechanism = 'SCRAM-SHA-512';

/**
 * Reads the cluster's SCRAM credentials, or makes them (random passwords) and keeps them on first
 * use, readable by the owner only. Created exclusively ('wx'), so nodes prepared at once agree.
 */
export function kafkaScramCredentials(file: string): KafkaScramCredentials {
  const wanted: KafkaScramCredentials = {
    broker: { username: 'kafka-broker', password: randomBytes(24).toString('base64url') },
    client: { username: 'order-saga', password: randomBytes(24).toString('base64url') },
  };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, `${JSON.stringify(wanted, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
    return wanted;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return JSON.parse(readFileSync(file, 'utf8')) as KafkaScramCredentials;
}

/** The listener settings of a node with {@link KafkaClusterSecurity}; its key store is `keystore` (key and certificate, PEM). */
export function kafkaSecureListenerSettings(
  node: Pick<KafkaClusterNode, 'port' | 'controllerPort'>,
  ca: string,
  keystore: string,
  broker: ScramUser,
): Settings {
  return {
    listeners: `SASL_SSL://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
    'advertised.listeners': `SASL_SSL://127.0.0.1:${node.port}`,
    'inter.broker.listener.name': 'SASL_SSL',
    'listener.security.protocol.map': 'SASL_SSL:SASL_SSL,CONTROLLER:SSL',
    'sasl.enabled.mechanisms': kafkaSaslMechanism,
    'sasl.mechanism.inter.broker.protocol': kafkaSaslMechanism,
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': `org.apache.kafka.common.security.scram.ScramLoginModule required username="${broker.username}" password="${broker.password}";`,
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': keystore,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': ca,
    // Nodes verify each other's name (127.0.0.1 is in every certificate), as clients do.
    'ssl.endpoint.identification.algorithm': 'https',
    'listener.name.controller.ssl.client.auth': 'required',
  };
}

/** The `--add-scram` options of the storage tool that create the cluster's SCRAM users at format time. */
export function scramFormatOptions(credentials: KafkaScramCredentials): string[] {
  return [credentials.broker, credentials.client].flatMap((user) => ['--add-scram', `${kafkaSaslMechanism}=[name=${user.username},password=${user.password}]`]);
}

/** The kafkajs settings of a client of the secured cluster: TLS verified against the CA, SCRAM-SHA-512 as `user`. */
export function kafkaClientSecurity(ca: string, user: ScramUser): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  return { ssl: { ca: [readFileSync(ca, 'utf8')] }, sasl: { mechanism: 'scram-sha-512', username: user.username, password: user.password } };
}

/** What the cluster was formatted with, kept in cluster.json: the same for every node, made once. */
export interface KafkaClusterIdentity {
  clusterId: string;
  /** The initial voters: each node's id, controller port and metadata directory id. */
  controllers: { nodeId: number; controllerPort: number; directoryId: string }[];
}

/** The `--initial-controllers` value of the storage tool: `id@host:port:directoryId`, comma-separated. */
export function initialControllers(identity: KafkaClusterIdentity): string {
  return identity.controllers.map((c) => `${c.nodeId}@127.0.0.1:${c.controllerPort}:${c.directoryId}`).join(',');
}

/**
 * Reads the cluster's identity, or makes and keeps it on first use. Created exclusively ('wx'), so
 * nodes prepared at the same time agree on one. The voters' endpoints are in the formatted
 * metadata, so a cluster cannot move its controller ports: that is refused with what to do.
 */
export function kafkaClusterIdentity(file: string, nodes: readonly KafkaClusterNode[]): KafkaClusterIdentity {
  const wanted: KafkaClusterIdentity = {
    clusterId: newClusterId(),
    controllers: nodes.map((n) => ({ nodeId: n.nodeId, controllerPort: n.controllerPort, directoryId: newClusterId() })),
  };
  try {
    writeFileSync(file, `${JSON.stringify(wanted, null, 2)}\n`, { flag: 'wx' });
    return wanted;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const identity = JSON.parse(readFileSync(file, 'utf8')) as KafkaClusterIdentity;
  const formatted = identity.controllers.map((c) => c.controllerPort).join(', ');
  const now = nodes.map((n) => n.controllerPort).join(', ');
  if (formatted !== now) {
    throw new Error(
      `the Kafka cluster in ${file} was formatted with controller ports ${formatted}, not ${now}: set KAFKA_CONTROLLER_PORT back, or remove its folder to start a new cluster (its topics are lost)`,
    );
  }
  return identity;
}

/**
 * The node id of the active controller (the quorum's leader), as the nodes last recorded it in
 * their quorum-state files: the leader of the latest epoch. Brokers do not tell: in KRaft the
 * controller id of their metadata answer is a random live broker.
 */
export function activeKafkaController(nodes: readonly KafkaClusterNode[]): number | undefined {
  let latest: { leaderId: number; leaderEpoch: number } | undefined;
  for (const node of nodes) {
    const file = join(node.dataDir, 'kraft-logs', '__cluster_metadata-0', 'quorum-state');
    if (!existsSync(file)) continue;
    const state = JSON.parse(readFileSync(file, 'utf8')) as { leaderId: number; leaderEpoch: number };
    if (state.leaderId >= 0 && (!latest || state.leaderEpoch > latest.leaderEpoch)) latest = state;
  }
  return latest?.leaderId;
}

/** Resolves when `node` answers, is a registered broker of the cluster, and the cluster has an active controller. */
async function probeClusterNode(node: KafkaClusterNode, security: () => Pick<KafkaConfig, 'ssl' | 'sasl'>): Promise<void> {
  const admin = new Kafka({
    ...security(),
    clientId: 'stack-probe',
    brokers: [`127.0.0.1:${node.port}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 2000,
    requestTimeout: 5000,
  }).admin();
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    if (!cluster.brokers.some((broker) => broker.nodeId === node.nodeId)) {
      throw new Error(`node ${node.nodeId} is not a registered broker yet (brokers: ${cluster.brokers.map((b) => b.nodeId).join(', ') || 'none'})`);
    }
    // Metadata is served from each broker's cache even when the quorum is lost; creating a topic
    // (validated only, nothing created) needs the active controller, hence a quorum.
    await admin
      .createTopics({
        validateOnly: true,
        waitForLeaders: false,
        timeout: 3000,
        topics: [{ topic: 'stack-probe-quorum', numPartitions: 1, replicationFactor: 1 }],
      })
      .catch((err: Error) => {
        throw new Error(`the cluster did not confirm a controller quorum (${err.message})`);
      });
  } finally {
    await admin.disconnect();
  }
}

/**
 * The cluster profile's Kafka: three KRaft nodes, each broker and controller in one process with
 * its own id, ports and data folder, forming one dynamic quorum (`controller.quorum.bootstrap.servers`).
 * Each node's storage is formatted once with the cluster's id and the same initial voters, kept in
 * cluster.json. Each answers its probe only when it is itself a broker of the cluster and the
 * cluster has a quorum (two of the three controllers).
 */
export function createKafkaClusterServers(options: KafkaClusterOptions): ManagedServer[] {
  const nodes = kafkaClusterNodes(options);
  const classpath = `${options.libDir}/*`;
  const jvm = kafkaJvm(options.heapMb, options.log4jConfig);
  const identityFile = join(options.dataDir, 'cluster.json');
  const { security } = options;
  const clientSecurity = () => (security ? kafkaClientSecurity(security.ca, kafkaScramCredentials(security.credentialsFile).client) : {});
  return nodes.map((node): ManagedServer => {
    const propertiesFile = join(node.dataDir, 'server.properties');
    const keystore = join(node.dataDir, 'keystore.pem');
    const properties = (): string => {
      if (!security) return kafkaClusterNodeProperties(node, nodes, options.defaultPartitions, undefined, options.retentionCheckIntervalMs);
      // Kafka's PEM key store is one file: the private key, then the certificate.
      const pair = security.nodeCertificates[node.name];
      writeFileSync(keystore, `${readFileSync(pair.key, 'utf8')}${readFileSync(pair.cert, 'utf8')}`, { mode: 0o600 });
      chmodSync(keystore, 0o600);
      const secure = kafkaSecureListenerSettings(node, security.ca, keystore, kafkaScramCredentials(security.credentialsFile).broker);
      return kafkaClusterNodeProperties(node, nodes, options.defaultPartitions, secure, options.retentionCheckIntervalMs);
    };
    return {
      name: node.name,
      ports: [
        { port: node.port, setting: 'KAFKA_PORT' },
        { port: node.controllerPort, setting: 'KAFKA_CONTROLLER_PORT' },
      ],
      logPath: join(options.logsDir, `${node.name}.log`),
      stopSignal: 'SIGTERM',
      // A node asked to stop waits for the controller to move its partitions first, up to 5
      // minutes; with the other two nodes gone there is no controller to answer, so it is killed
      // after this. A node with a quorum stops in a few seconds.
      stopGraceMs: 20_000,

      prepare() {
        if (Math.max(node.port, node.controllerPort) > 65_535) {
          throw new Error(
            `node ${node.nodeId} would listen on ports ${node.port} and ${node.controllerPort}: KAFKA_PORT and KAFKA_CONTROLLER_PORT must leave room for ${kafkaClusterPortStep} per node`,
          );
        }
        mkdirSync(node.dataDir, { recursive: true });
        // It holds the brokers' SCRAM password when secured: the owner's only.
        writeFileSync(propertiesFile, properties(), { mode: 0o600 });
        chmodSync(propertiesFile, 0o600);
        if (existsSync(join(node.dataDir, 'kraft-logs', 'meta.properties'))) return;
        const identity = kafkaClusterIdentity(identityFile, nodes);
        // The SCRAM users are records of the cluster's metadata, written at format time.
        const scram = security ? scramFormatOptions(kafkaScramCredentials(security.credentialsFile)) : [];
        formatStorage(options.java, jvm, classpath, propertiesFile, [
          '-t',
          identity.clusterId,
          '--initial-controllers',
          initialControllers(identity),
          ...scram,
        ]);
      },

      launchSpec: () => ({ command: options.java, args: [...jvm, '-cp', classpath, 'kafka.Kafka', propertiesFile] }),
      probe: () => probeClusterNode(node, clientSecurity),
      endpoints: () => ({
        [`Kafka node ${node.nodeId}`]: `127.0.0.1:${node.port}${security ? ' (SASL_SSL, SCRAM-SHA-512)' : ''} (controller 127.0.0.1:${node.controllerPort}${security ? ', mTLS' : ''})`,
      }),
    };
  });
}

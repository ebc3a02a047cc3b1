import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigResourceTypes, Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStackConfig, type StackConfig } from '../../infra/stack/config.ts';
import { locateTools } from '../../infra/stack/install.ts';
import { isRunning, PidFiles } from '../../infra/stack/process.ts';
import { activeKafkaController, freeKafkaClusterPorts, kafkaClusterNodes, type KafkaClusterIdentity } from '../../infra/stack/servers/kafka.ts';
import type { ManagedServer } from '../../infra/stack/servers/server.ts';
import { kafkaClientSecurityOf, kafkaClusterServers, kafkaEnvOf, stackDown, stackFolders, stackStatus, stackUp } from '../../infra/stack/stack.ts';
import { waitUntil } from '../../infra/stack/wait.ts';
import { ensureTopics } from '../../src/messaging/topics.ts';

/** Waits until `problem` says nothing is wrong; fails the test with the last problem otherwise. */
async function until(problem: () => string | undefined | Promise<string | undefined>, timeoutMs: number): Promise<void> {
  const result = await waitUntil(
    async () => {
      const found = await problem();
      if (found !== undefined) throw new Error(found);
    },
    { timeoutMs },
  );
  if (!result.ready) throw new Error(result.reason);
}

/** The Kafka error code (`NOT_ENOUGH_REPLICAS`, ...) under a kafkajs error, retried or not. */
function errorTypeOf(err: unknown): string | undefined {
  for (let e = err as { type?: string; cause?: unknown; originalError?: unknown } | undefined; e; e = (e.cause ?? e.originalError) as typeof e) {
    if (e.type) return e.type;
  }
  return undefined;
}

// The cluster profile's Kafka (`npm start -- --profile cluster`): three KRaft nodes started by the
// stack's own code on free ports, with a data folder of their own.
describe('the cluster profile: three KRaft Kafka nodes, replication 3, min in-sync 2', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'order-saga-kafka-cluster-'));
  const quiet = () => undefined;
  const topic = 'cluster-orders';
  let config: StackConfig;
  let servers: ManagedServer[];
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  /** Sends once, without retries: what the cluster answers to one write. */
  let strictProducer: Producer;
  let consumer: Consumer;
  const received = new Set<string>();
  const acknowledged: string[] = [];
  let killed: ManagedServer | undefined;

  const pids = () => new PidFiles(stackFolders(config).run);
  const nodes = () => kafkaClusterNodes({ dataDir: join(dataDir, 'kafka-cluster'), port: config.KAFKA_PORT, controllerPort: config.KAFKA_CONTROLLER_PORT });
  const killNode = (server: ManagedServer) => {
    const record = pids().read(server.name)!;
    process.kill(record.pid, 'SIGKILL');
    return until(() => (isRunning(record) ? `${server.name} still runs` : undefined), 10_000);
  };
  const produce = async (label: string, count: number) => {
    for (let i = 0; i < count; i++) {
      const value = `${label}-${i}`;
      // As the application's publishers do, a send that fails (its leader just died and the
      // cluster has not moved the partition yet) is sent again; only an acknowledged one counts.
      await until(
        () =>
          producer.send({ topic, acks: -1, messages: [{ key: `order-${i}`, value }] }).then(
            () => undefined,
            (err: Error) => `${value} not acknowledged: ${err.message}`,
          ),
        90_000,
      );
      acknowledged.push(value);
    }
  };
  const allReceived = () =>
    until(() => {
      const missing = acknowledged.filter((value) => !received.has(value));
      return missing.length > 0 ? `${missing.length} acknowledged messages not consumed yet, e.g. ${missing[0]}` : undefined;
    }, 60_000);

  beforeAll(async () => {
    const { port, controllerPort } = await freeKafkaClusterPorts();
    config = loadStackConfig({
      STACK_PROFILE: 'cluster',
      STACK_DATA_DIR: dataDir,
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(controllerPort),
      KAFKA_HEAP_MB: '384',
    });
    servers = kafkaClusterServers(config, locateTools(config.STACK_TOOLS_DIR));
    await stackUp(config, servers, quiet);
    // The brokers the application gets in this profile.
    kafka = new Kafka({
      clientId: 'kafka-cluster-test',
      brokers: kafkaEnvOf(config).KAFKA_BROKERS!.split(','),
      logLevel: logLevel.NOTHING,
      retry: { retries: 12, maxRetryTime: 5000 },
      // The profile's listener: TLS against the stack's CA, SCRAM as the application's user.
      ...kafkaClientSecurityOf(config),
    });
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer();
    await producer.connect();
    strictProducer = kafka.producer({ retry: { retries: 0 } });
    await strictProducer.connect();
  }, 180_000);

  afterAll(async () => {
    await consumer?.disconnect().catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
    await strictProducer?.disconnect().catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
    if (servers) await stackDown(config, servers, quiet);
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  it('runs three nodes of one cluster, each answering, formatted with the one kept cluster id', async () => {
    const statuses = await stackStatus(config, servers);
    expect(statuses.map((s) => [s.name, s.state])).toEqual([
      ['kafka-1', 'up'],
      ['kafka-2', 'up'],
      ['kafka-3', 'up'],
    ]);
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.map((b) => [b.nodeId, b.port]).sort()).toEqual(nodes().map((n) => [n.nodeId, n.port]));
    const identity = JSON.parse(readFileSync(join(dataDir, 'kafka-cluster', 'cluster.json'), 'utf8')) as KafkaClusterIdentity;
    expect(cluster.clusterId).toBe(identity.clusterId);
    expect(kafkaEnvOf(config).KAFKA_REPLICATION_FACTOR).toBe('3');
  });

  it('puts a new topic on three replicas with min.insync.replicas 2 and no unclean leader election', async () => {
    // No replication factor given: the cluster's default applies, as it does to the internal topics.
    // Created as the processes create theirs (ensureTopics): kafkajs's own wait for the leaders gives
    // up on the answer a node gives while the new topic's metadata propagates.
    await ensureTopics(admin, { partitions: 3, extra: [topic] }, []);
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    expect(metadata!.partitions.map((p) => [p.replicas.length, p.isr.length])).toEqual([
      [3, 3],
      [3, 3],
      [3, 3],
    ]);
    const described = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas', 'unclean.leader.election.enable'] }],
      includeSynonyms: false,
    });
    expect(Object.fromEntries(described.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]))).toEqual({
      'min.insync.replicas': '2',
      'unclean.leader.election.enable': 'false',
    });
  });

  it('loses no acknowledged message when the active controller is killed, and refuses acks=all with one replica in sync', async () => {
    consumer = kafka.consumer({ groupId: 'kafka-cluster-test', retry: { retries: 12, maxRetryTime: 5000 } });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        received.add(message.value!.toString());
        return Promise.resolve();
      },
    });
    await produce('before', 30);
    await allReceived();
    // The group's offsets live in an internal topic that is replicated like any other.
    const offsets = (await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] })).topics[0]!;
    expect(new Set(offsets.partitions.map((p) => p.replicas.length))).toEqual(new Set([3]));

    const controllerId = activeKafkaController(nodes());
    expect(controllerId).toBeDefined();
    killed = servers[controllerId! - 1]!;
    const survivor = nodes().find((n) => n.nodeId !== controllerId)!.nodeId;
    // Two replicas, one on the node about to die: once it is out of the ISR one replica is in sync.
    const twoReplicas = 'cluster-two-replicas';
    await admin.createTopics({ topics: [{ topic: twoReplicas, replicaAssignment: [{ partition: 0, replicas: [controllerId!, survivor] }] }] });
    await producer.send({ topic: twoReplicas, acks: -1, messages: [{ value: 'both in sync' }] });

    await killNode(killed);
    await produce('during', 30);
    await allReceived();
    await until(() => (activeKafkaController(nodes()) === controllerId ? 'no new controller yet' : undefined), 30_000);

    // Once the dead node is fenced and out of the ISR, min.insync.replicas=2 refuses the write
    // (until then the leader waits for it and times out); with min in-sync 1 it would succeed.
    let acknowledgedWithOne = false;
    const refusal = await waitUntil(
      async () => {
        const outcome = await strictProducer
          .send({ topic: twoReplicas, acks: -1, timeout: 3000, messages: [{ value: 'one in sync' }] })
          .then(() => 'acknowledged', errorTypeOf);
        acknowledgedWithOne = outcome === 'acknowledged';
        if (outcome !== 'NOT_ENOUGH_REPLICAS') throw new Error(`answered ${outcome}, not NOT_ENOUGH_REPLICAS yet`);
      },
      { timeoutMs: 60_000, abortReason: () => (acknowledgedWithOne ? 'a write was acknowledged with one replica in sync' : undefined) },
    );
    expect(refusal).toEqual({ ready: true });
  }, 240_000);

  it('takes the killed node back through the stack, with its storage as formatted, and in sync again', async () => {
    const metaBefore = readFileSync(join(nodes()[servers.indexOf(killed!)]!.dataDir, 'kraft-logs', 'meta.properties'), 'utf8');
    const { started } = await stackUp(config, servers, quiet);
    expect(started).toEqual([killed!.name]);
    // A second start formats nothing: the node's cluster and directory ids are those it had.
    expect(readFileSync(join(nodes()[servers.indexOf(killed!)]!.dataDir, 'kraft-logs', 'meta.properties'), 'utf8')).toBe(metaBefore);
    await until(async () => {
      const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
      return metadata!.partitions.some((p) => p.isr.length < 3) ? 'a partition has fewer than 3 replicas in sync' : undefined;
    }, 60_000);
    await produce('after', 30);
    await allReceived();
    expect(received.size).toBe(90);
  }, 180_000);

  it('refuses an acks=all write with two of three nodes down, and stack:down still ends', async () => {
    // The consumer and the producer that retries are done; they would only wait on dead nodes.
    await consumer.disconnect();
    await producer.disconnect();
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    const partition = metadata!.partitions[0]!;
    // Kill the two nodes that do not lead this partition: its leader is left without a quorum
    // (no controller can shrink the ISR) and without the followers an acks=all write needs.
    const others = servers.filter((s, i) => i + 1 !== partition.leader);
    for (const server of others) await killNode(server);
    const outcome = await strictProducer
      .send({ topic, acks: -1, timeout: 3000, messages: [{ partition: partition.partitionId, value: 'two nodes down' }] })
      .then(() => 'acknowledged', errorTypeOf);
    // Never acknowledged: the ISR cannot shrink without a quorum, so the leader waits for followers
    // that never answer (REQUEST_TIMED_OUT), or the client gives up on the dead nodes first.
    expect(outcome).not.toBe('acknowledged');
    // Without a quorum the surviving node does not count as up.
    const statuses = await stackStatus(config, servers);
    expect(statuses.map((s) => [s.name, s.state === 'up' ? 'up' : 'not up'])).toEqual(servers.map((s) => [s.name, 'not up']));

    await strictProducer.disconnect();
    await admin.disconnect();
    const lines: string[] = [];
    await stackDown(config, servers, (line) => lines.push(line));
    expect(servers.map((s) => pids().read(s.name))).toEqual([undefined, undefined, undefined]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${servers[partition.leader - 1]!.name} (stopped|killed) \\(pid \\d+\\)$`));
  }, 120_000);
});

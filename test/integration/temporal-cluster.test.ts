import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Connection } from '@temporalio/client';
import { tsToMs } from '@temporalio/common';
import { loadStackConfig, type StackConfig } from '../../infra/stack/config.ts';
import { schemaRegistryUrl } from '../../infra/stack/servers/schema-registry.ts';
import type { ManagedServer } from '../../infra/stack/servers/server.ts';
import { schemaRegistryServer, stackStatus, temporalClusterServers } from '../../infra/stack/stack.ts';
import { eventTypes } from '../../src/domain/events.ts';
import { ensureTopics } from '../../src/messaging/topics.ts';
import { orderScenarios } from '../scenarios/order-scenarios.ts';
import { startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import { kafkaSecurity, temporalTls } from './helpers/secure-clients.ts';
import '../setup/servers.ts';

// The cluster profile's Temporal (`npm start -- --profile cluster`): the real server's services,
// each a process, on PostgreSQL, as the cluster suite's global setup started them with the
// stack's own code (test/setup/cluster-servers.ts).
describe('the cluster profile: Temporal server services on PostgreSQL with the standalone Web UI', () => {
  let config: StackConfig;
  let servers: ManagedServer[];
  let runtime: OrchestratedRuntime | undefined;

  beforeAll(() => {
    config = loadStackConfig(inject('clusterStackEnv'));
    servers = temporalClusterServers(config);
  });

  afterAll(async () => {
    await runtime?.close();
  });

  it('runs every service as a process of its own, each answering', async () => {
    const statuses = await stackStatus(config, servers);
    expect(statuses.map((s) => [s.name, s.state])).toEqual([
      ['temporal-frontend', 'up'],
      ['temporal-history-1', 'up'],
      ['temporal-history-2', 'up'],
      ['temporal-matching-1', 'up'],
      ['temporal-matching-2', 'up'],
      ['temporal-internal-worker', 'up'],
      ['temporal-ui', 'up'],
    ]);
  });

  it("gives the namespace the stack's retention (TEMPORAL_NAMESPACE_RETENTION_MS, here under the server's own 1 h floor)", async () => {
    const servers = inject('servers');
    const connection = await Connection.connect({ address: servers.temporalAddress, ...temporalTls(servers) });
    try {
      const { config: namespaceConfig } = await connection.workflowService.describeNamespace({ namespace: config.TEMPORAL_NAMESPACE });
      expect(tsToMs(namespaceConfig!.workflowExecutionRetentionTtl)).toBe(30 * 60_000);
      expect(config.TEMPORAL_NAMESPACE_RETENTION_MS).toBe(30 * 60_000);
    } finally {
      await connection.close();
    }
  });

  it('runs an orchestrated order to its end and finds it by its OrderStatus search attribute', async () => {
    runtime = await startOrchestratedRuntime(inject('servers'));
    const scenario = orderScenarios[0]!;
    const orderId = randomUUID();
    await runtime.sagas.start(
      { orderId, customerId: `customer-${orderId.slice(0, 8)}`, email: 'ada@example.com', items: scenario.items, paymentRef: scenario.paymentToken },
      `corr-${orderId}`,
    );
    const result = await runtime.sagas.result(orderId);
    expect(result.status).toBe(scenario.expected.status);

    // Visibility is written a moment after the workflow closes.
    const query = `OrderId = "${orderId}" AND OrderStatus = "${scenario.expected.status}"`;
    let listed: string[] = [];
    for (let attempt = 0; attempt < 50 && listed.length === 0; attempt++) {
      if (attempt > 0) await sleep(200);
      listed = [];
      for await (const workflow of runtime.client.workflow.list({ query })) listed.push(workflow.workflowId);
    }
    expect(listed).toEqual([`order-${orderId}`]);

    // The Web UI serves its page, and the same list only to a signed-in user: its API answers 401
    // without a session. The signed-in list, through the UI's filters, is web-ui.test.ts's.
    const page = await fetch(`http://127.0.0.1:${config.TEMPORAL_UI_PORT}/`);
    expect(page.status).toBe(200);
    const api = await fetch(
      `http://127.0.0.1:${config.TEMPORAL_UI_PORT}/api/v1/namespaces/${config.TEMPORAL_NAMESPACE}/workflows?query=${encodeURIComponent(query)}`,
    );
    expect(api.status).toBe(401);
    expect(await api.text()).not.toContain(`order-${orderId}`);
  });
});

describe("the cluster profile's Kafka: the flows' topics", () => {
  it('have three replicas, all in sync, with min.insync.replicas 2 and unclean leader election off', async () => {
    const admin = new Kafka({
      clientId: 'cluster-topics-check',
      brokers: inject('servers').kafkaBrokers,
      logLevel: logLevel.NOTHING,
      ...kafkaSecurity(inject('servers')),
    }).admin();
    await admin.connect();
    try {
      // As every process creates them at start: ensureTopics, no replication factor of its own.
      const prefix = `replicas-${randomUUID().slice(0, 8)}.`;
      await ensureTopics(admin, { prefix });
      const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
      expect(topics.length).toBe(eventTypes.length);
      const metadata = await admin.fetchTopicMetadata({ topics });
      for (const topic of metadata.topics) {
        for (const partition of topic.partitions) {
          expect({ topic: topic.name, replicas: partition.replicas.length, inSync: partition.isr.length }).toEqual({
            topic: topic.name,
            replicas: 3,
            inSync: 3,
          });
        }
      }
      const [config] = (await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topics[0]! }], includeSynonyms: false })).resources;
      const setting = (name: string) => config!.configEntries.find((entry) => entry.configName === name)?.configValue;
      expect({ minInSync: setting('min.insync.replicas'), unclean: setting('unclean.leader.election.enable') }).toEqual({ minInSync: '2', unclean: 'false' });
    } finally {
      await admin.disconnect();
    }
  });
});

describe("the cluster profile's schema registry", () => {
  it('is one process, answering its Confluent-compatible API at the URL the application processes get', async () => {
    const config = loadStackConfig(inject('clusterStackEnv'));
    const registry = schemaRegistryServer(config, { java: 'java', schemaRegistryJar: 'unused' });
    expect((await stackStatus(config, [registry])).map((s) => [s.name, s.state])).toEqual([['schema-registry', 'up']]);
    const url = inject('servers').schemaRegistryUrl;
    expect(url).toBe(schemaRegistryUrl(config.SCHEMA_REGISTRY_PORT));
    const response = await fetch(`${url}/subjects`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(expect.any(Array));
  });
});

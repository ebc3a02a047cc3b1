import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadStackConfig, type StackConfig } from '../../infra/stack/config.ts';
import { locateClusterTools, locateTools } from '../../infra/stack/install.ts';
import { freePort, isPortFree } from '../../infra/stack/ports.ts';
import { postgresUser } from '../../infra/stack/prerequisites.ts';
import { createPostgresServer } from '../../infra/stack/servers/postgres.ts';
import type { ManagedServer } from '../../infra/stack/servers/server.ts';
import { stackDown, stackFolders, stackStatus, stackUp, temporalClusterServers } from '../../infra/stack/stack.ts';
import { orderScenarios } from '../scenarios/order-scenarios.ts';
import { startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import '../setup/servers.ts';

/** A first port with the 60 after it free, for the cluster's services among themselves. */
async function freePortRange(size: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000);
    const free = await Promise.all(Array.from({ length: size }, (_, i) => isPortFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no ${size} free ports in a row between 20000 and 30000`);
}

// The cluster profile's Temporal (`npm start -- --profile cluster`): the real server's services,
// each a process, on a PostgreSQL of its own, started by the stack's code on free ports.
describe('the cluster profile: Temporal server services on PostgreSQL with the standalone Web UI', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'order-saga-cluster-'));
  // PostgreSQL runs as `postgres` when we are root, and must be able to enter the folder.
  chmodSync(dataDir, 0o755);
  const quiet = () => undefined;
  let config: StackConfig;
  let servers: ManagedServer[];
  let runtime: OrchestratedRuntime | undefined;

  beforeAll(async () => {
    config = loadStackConfig({
      STACK_PROFILE: 'cluster',
      STACK_DATA_DIR: dataDir,
      POSTGRES_PORT: String(await freePort()),
      TEMPORAL_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
      TEMPORAL_CLUSTER_PORT_BASE: String(await freePortRange(60)),
    });
    const tools = locateTools(config.STACK_TOOLS_DIR);
    // Names the install command when the binaries are missing (npm test's install builds them).
    locateClusterTools(config.STACK_TOOLS_DIR);
    const runAs = process.getuid?.() === 0 ? postgresUser() : undefined;
    servers = [
      createPostgresServer({
        binDir: tools.postgresBinDir,
        dataDir: join(dataDir, 'postgres'),
        port: config.POSTGRES_PORT,
        user: config.POSTGRES_USER,
        password: config.POSTGRES_PASSWORD,
        database: config.POSTGRES_DB,
        logPath: join(stackFolders(config).logs, 'postgres.log'),
        durable: false,
        maxConnections: 400,
        ...(runAs ? { runAs } : {}),
      }),
      ...temporalClusterServers(config),
    ];
    await stackUp(config, servers, quiet);
  }, 300_000);

  afterAll(async () => {
    await runtime?.close();
    if (servers) await stackDown(config, servers, quiet);
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  it('runs every service as a process of its own, each answering', async () => {
    const statuses = await stackStatus(config, servers);
    expect(statuses.map((s) => [s.name, s.state])).toEqual([
      ['postgres', 'up'],
      ['temporal-frontend', 'up'],
      ['temporal-history-1', 'up'],
      ['temporal-history-2', 'up'],
      ['temporal-matching-1', 'up'],
      ['temporal-matching-2', 'up'],
      ['temporal-internal-worker', 'up'],
      ['temporal-ui', 'up'],
    ]);
  });

  it('runs an orchestrated order to its end and finds it by its OrderStatus search attribute', async () => {
    runtime = await startOrchestratedRuntime({
      ...inject('servers'),
      temporalAddress: `127.0.0.1:${config.TEMPORAL_PORT}`,
      temporalNamespace: config.TEMPORAL_NAMESPACE,
      temporalUiUrl: `http://127.0.0.1:${config.TEMPORAL_UI_PORT}`,
    });
    const scenario = orderScenarios[0]!;
    const orderId = randomUUID();
    await runtime.sagas.start(
      { orderId, customerId: `customer-${orderId.slice(0, 8)}`, email: 'ada@example.com', items: scenario.items, paymentToken: scenario.paymentToken },
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

    // The Web UI serves its page and reaches the frontend for the same list.
    const page = await fetch(`http://127.0.0.1:${config.TEMPORAL_UI_PORT}/`);
    expect(page.status).toBe(200);
    const api = await fetch(
      `http://127.0.0.1:${config.TEMPORAL_UI_PORT}/api/v1/namespaces/${config.TEMPORAL_NAMESPACE}/workflows?query=${encodeURIComponent(query)}`,
    );
    expect(api.status).toBe(200);
    expect(JSON.stringify(await api.json())).toContain(`order-${orderId}`);
  });
});

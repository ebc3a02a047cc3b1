import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { ensureTopics } from '../../src/messaging/topics.ts';
import { locateTools } from '../../infra/stack/install.ts';
import { freePort } from '../../infra/stack/ports.ts';
import { PidFiles, isRunning } from '../../infra/stack/process.ts';
import { postgresUrl } from '../../infra/stack/servers/postgres.ts';
import { schemaRegistryUrl } from '../../infra/stack/servers/schema-registry.ts';
import { identityClientsFileOf, identityIssuerOf, stackDown, stackFolders, stackServers, stackStatus, stackUp } from '../../infra/stack/stack.ts';
import { jwksTokenVerifier } from '../../src/api/auth.ts';
import { AccessTokens, apiAudience } from '../../src/platform/access-tokens.ts';

// The same code as `npm run stack:up/status/down`, on its own ports and data folder.
describe('local stack lifecycle', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'order-saga-stack-'));
  chmodSync(dataDir, 0o755);
  const quiet = () => undefined;

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts every server once, keeps their data across a restart, and stops exactly what it started', async () => {
    const ports = {
      TEMPORAL_PORT: await freePort(),
      TEMPORAL_UI_PORT: await freePort(),
      KAFKA_PORT: await freePort(),
      KAFKA_CONTROLLER_PORT: await freePort(),
      POSTGRES_PORT: await freePort(),
      SMTP_SINK_PORT: await freePort(),
      SMTP_SINK_HTTP_PORT: await freePort(),
      ZIPKIN_PORT: await freePort(),
      IDENTITY_PORT: await freePort(),
      SCHEMA_REGISTRY_PORT: await freePort(),
    };
    const config = loadStackConfig({
      STACK_DATA_DIR: dataDir,
      KAFKA_HEAP_MB: '384',
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    });
    const servers = stackServers(config, locateTools(config.STACK_TOOLS_DIR));
    const pids = new PidFiles(stackFolders(config).run);
    const databaseUrl = postgresUrl({
      user: config.POSTGRES_USER,
      password: config.POSTGRES_PASSWORD,
      port: config.POSTGRES_PORT,
      database: config.POSTGRES_DB,
    });
    const kafka = new Kafka({ clientId: 'stack-lifecycle', brokers: [`127.0.0.1:${ports.KAFKA_PORT}`], logLevel: logLevel.NOTHING });

    try {
      expect((await stackUp(config, servers, quiet)).started.sort()).toEqual([
        'identity-provider',
        'kafka',
        'postgres',
        'schema-registry',
        'smtp-sink',
        'temporal',
        'zipkin',
      ]);
      const firstRecords = servers.map((s) => pids.read(s.name)!);

      const again = await stackUp(config, servers, quiet);
      expect(again.started).toEqual([]);
      expect(again.alreadyRunning.sort()).toEqual(['identity-provider', 'kafka', 'postgres', 'schema-registry', 'smtp-sink', 'temporal', 'zipkin']);
      expect(servers.map((s) => pids.read(s.name))).toEqual(firstRecords);

      const status = await stackStatus(config, servers);
      expect(status.map((s) => [s.name, s.state])).toEqual([
        ['postgres', 'up'],
        ['kafka', 'up'],
        ['temporal', 'up'],
        ['zipkin', 'up'],
        ['schema-registry', 'up'],
        ['identity-provider', 'up'],
        ['smtp-sink', 'up'],
      ]);
      expect(status.find((s) => s.name === 'temporal')!.endpoints['Temporal Web UI']).toBe(`http://localhost:${ports.TEMPORAL_UI_PORT}`);

      // Leave something in each server, then restart the stack.
      const connection = await Connection.connect({ address: `127.0.0.1:${ports.TEMPORAL_PORT}` });
      await new Client({ connection }).workflow.start('neverPolled', { workflowId: 'survives-restart', taskQueue: 'nobody-polls' });
      await connection.close();
      const admin = kafka.admin();
      await admin.connect();
      await ensureTopics(admin, { partitions: 2, extra: ['survives-restart'] }, []);
      await admin.disconnect();
      const db = new pg.Client({ connectionString: databaseUrl });
      await db.connect();
      await db.query("create table survives_restart as select 'kept' as value");
      await db.end();
      // The identity provider keeps its signing key: a token it gave out stays valid.
      const token = await AccessTokens.fromFile(identityClientsFileOf(config)).token({ role: 'operator' });
      // The schema registry keeps its schemas under their ids: messages in Kafka carry them.
      const registry = schemaRegistryUrl(ports.SCHEMA_REGISTRY_PORT);
      const schema = JSON.stringify({ type: 'object', properties: { kept: { type: 'string' } }, required: ['kept'], additionalProperties: false });
      const registered = await fetch(`${registry}/subjects/survives-restart-value/versions`, {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ schemaType: 'JSON', schema }),
      });
      expect(registered.status).toBe(200);
      const { id } = (await registered.json()) as { id: number };

      await stackDown(config, servers, quiet);
      expect(firstRecords.filter(isRunning)).toEqual([]);
      expect(servers.map((s) => pids.read(s.name)).filter((r) => r !== undefined)).toEqual([]);
      expect(new Set((await stackStatus(config, servers)).map((s) => s.state))).toEqual(new Set(['down']));

      await stackUp(config, servers, quiet);
      const reconnected = await Connection.connect({ address: `127.0.0.1:${ports.TEMPORAL_PORT}` });
      const described = await new Client({ connection: reconnected }).workflow.getHandle('survives-restart').describe();
      await reconnected.close();
      expect(described.status.name).toBe('RUNNING');
      const admin2 = kafka.admin();
      await admin2.connect();
      const metadata = await admin2.fetchTopicMetadata({ topics: ['survives-restart'] });
      await admin2.disconnect();
      expect(metadata.topics[0]!.partitions).toHaveLength(2);
      const db2 = new pg.Client({ connectionString: databaseUrl });
      await db2.connect();
      expect((await db2.query('select value from survives_restart')).rows).toEqual([{ value: 'kept' }]);
      await db2.end();
      const principal = await jwksTokenVerifier({ issuer: identityIssuerOf(config), audience: apiAudience }).verify(token);
      expect([...principal.roles]).toEqual(['operator']);
      const resolved = await fetch(`${registry}/schemas/ids/${id}`);
      expect(resolved.status).toBe(200);
      expect(((await resolved.json()) as { schema: string }).schema).toBe(schema);
      expect(await (await fetch(`${registry}/subjects`)).json()).toEqual(['survives-restart-value']);
    } finally {
      const running = servers.map((s) => pids.read(s.name)).filter((r) => r !== undefined);
      await stackDown(config, servers, quiet);
      expect(running.filter(isRunning)).toEqual([]);
    }
  }, 300_000);

  it('refuses to start a server whose port is taken, naming the port and the setting that moves it', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const config = loadStackConfig({ STACK_DATA_DIR: join(dataDir, 'blocked'), KAFKA_PORT: String(taken), KAFKA_CONTROLLER_PORT: String(await freePort()) });
      const kafkaOnly = stackServers(config, locateTools(config.STACK_TOOLS_DIR)).filter((s) => s.name === 'kafka');
      await expect(stackUp(config, kafkaOnly, quiet)).rejects.toThrow(
        `kafka cannot start: 127.0.0.1:${taken} is already in use by another process (free it, or set KAFKA_PORT)`,
      );
    } finally {
      blocker.close();
    }
  });
});

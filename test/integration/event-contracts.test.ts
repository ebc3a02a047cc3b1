import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { locateTools } from '../../infra/stack/install.ts';
import { freePort } from '../../infra/stack/ports.ts';
import type { ProcessRecord } from '../../infra/stack/process.ts';
import { createSchemaRegistryServer, schemaRegistryUrl } from '../../infra/stack/servers/schema-registry.ts';
import type { ManagedServer } from '../../infra/stack/servers/server.ts';
import { startServer, stopServer } from '../../infra/stack/start-server.ts';
import { placeChoreographedOrder } from '../../src/choreography/order-commands.ts';
import type { ChoreographyRuntime } from '../../src/choreography/runtime.ts';
import { choreographySubscriptions } from '../../src/choreography/services.ts';
import { recordCorrelationId } from '../../src/contexts/orders/choreography-state.ts';
import { createOrder } from '../../src/contexts/orders/order-store.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import { incompatibleChanges, readRecordedContracts } from '../../src/messaging/contract-check.ts';
import type { ConsumerRunner } from '../../src/messaging/consumer-runner.ts';
import { listDeadLetters, resetGroupToWindow } from '../../src/messaging/dead-letters.ts';
import { defaultDedupeWindow } from '../../src/messaging/dedupe-window.ts';
import { deterministicEventId } from '../../src/messaging/event-ids.ts';
import { eventSchemaDocument, schemaIdHeader, subjectOf, type SchemaDocument } from '../../src/messaging/event-schemas.ts';
import { addToOutbox } from '../../src/messaging/outbox.ts';
import { topicOf } from '../../src/messaging/topics.ts';
import { withTransaction } from '../../src/platform/database.ts';
import { projectorGroup, rebuildReadModel } from '../../src/projections/projector.ts';
import { startChoreographyHarness, startHarnessProjector, type ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { choreographyLag, eventually, orderStatusOf } from './helpers/choreography-scenarios.ts';
import { eventsOfOrder, readAllEvents } from './helpers/event-log.ts';
import '../setup/servers.ts';

type DataSchema = { properties: Record<string, unknown>; required: string[] };

/** `eventSchemaDocument` with `change` applied to the `data` schema of `type` `version` only. */
const withData =
  (type: string, version: number, change: (data: DataSchema) => void) =>
  (t: Parameters<typeof eventSchemaDocument>[0], v: number): SchemaDocument => {
    const document = structuredClone(eventSchemaDocument(t, v));
    if (t === type && v === version) change((document.properties as { data: DataSchema }).data);
    return document;
  };

const order = (overrides: Partial<OrderRequest> = {}): OrderRequest => ({
  orderId: randomUUID(),
  customerId: 'contracts',
  email: 'ada@example.com',
  items: [{ sku: 'MN-003', quantity: 1 }],
  paymentRef: 'tok_approve',
  ...overrides,
});

/**
 * Places a choreographed order as the code before `order.placed` v2 did: the order row and a
 * version 1 event in the outbox, in one transaction. A row such an instance left in the outbox
 * during a rolling upgrade is published by the new relay with version 1's schema id.
 */
async function placeAsVersion1(harness: ChoreographyHarness, request: OrderRequest, payment: { paymentRef: string } | { paymentToken: string }) {
  await withTransaction(harness.pool, async (tx) => {
    await createOrder(tx, request, 'choreographed');
    await recordCorrelationId(tx, request.orderId, `corr-${request.orderId}`);
    const { customerId, email, items } = request;
    // Written as the old producer wrote it: not through createEnvelope, which writes the current version.
    const v1 = {
      eventId: deterministicEventId('orders', request.orderId, 'order.placed'),
      type: 'order.placed' as const,
      schemaVersion: 1,
      occurredAt: new Date().toISOString(),
      orderId: request.orderId,
      correlationId: `corr-${request.orderId}`,
      causationId: null,
      producer: 'orders',
      flow: 'choreographed' as const,
      data: { customerId, email, items, ...payment },
    };
    await addToOutbox(tx, [v1]);
  });
}

describe('event contracts in the schema registry', () => {
  const servers = inject('servers');
  let harness: ChoreographyHarness;
  let runtime: ChoreographyRuntime;

  beforeAll(async () => {
    harness = await startChoreographyHarness(servers);
    runtime = await harness.startInstance();
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('registers every schema under its own subject, with BACKWARD compatibility set in the registry', async () => {
    for (const [type, version] of [
      ['order.placed', 1],
      ['order.placed', 2],
      ['payment.completed', 1],
    ] as const) {
      const subject = subjectOf(type, version);
      const config = (await (await fetch(`${servers.schemaRegistryUrl}/config/${subject}`)).json()) as { compatibilityLevel: string };
      expect({ subject, level: config.compatibilityLevel }).toEqual({ subject, level: 'BACKWARD' });
      const latest = (await (await fetch(`${servers.schemaRegistryUrl}/subjects/${subject}/versions/latest`)).json()) as { id: number; schema: string };
      expect(latest.id).toBe(harness.contracts.schemaIdOf(type, version));
      expect(JSON.parse(latest.schema)).toEqual(eventSchemaDocument(type, version));
    }
  });

  it('finds the catalog compatible with every recorded schema (what `npm test` checks before a change lands)', async () => {
    const recorded = readRecordedContracts();
    expect(recorded.length).toBeGreaterThan(15);
    expect(await incompatibleChanges({ url: servers.schemaRegistryUrl, recorded })).toEqual([]);
  });

  it('fails the check when a field is removed from a v1 event, naming the event and the field; an optional field added passes', async () => {
    const recorded = readRecordedContracts().filter((c) => c.subject === subjectOf('order.placed', 1) || c.subject === subjectOf('payment.completed', 1));
    const removed = withData('order.placed', 1, (data) => {
      delete data.properties.customerId;
      data.required = data.required.filter((field) => field !== 'customerId');
    });
    expect(await incompatibleChanges({ url: servers.schemaRegistryUrl, recorded, current: removed })).toEqual([
      expect.stringMatching(/^order\.placed v1: not compatible with the recorded schemas of order-saga\.order\.placed\.v1; fields: data\.customerId \(/),
    ]);
    const added = withData('payment.completed', 1, (data) => {
      data.properties.note = { type: 'string' };
    });
    expect(await incompatibleChanges({ url: servers.schemaRegistryUrl, recorded, current: added })).toEqual([]);
  });

  it('dead-letters a message with an unknown schema id, without one, or not matching the schema it names, with the reason; the partition moves on', async () => {
    const request = order();
    const v2Id = harness.contracts.schemaIdOf('order.placed', 2);
    const valid = {
      eventId: randomUUID(),
      type: 'order.placed',
      schemaVersion: 2,
      occurredAt: new Date().toISOString(),
      orderId: randomUUID(),
      correlationId: 'poison',
      causationId: null,
      producer: 'test',
      flow: 'choreographed',
      data: { customerId: 'poison', email: 'a@b.c', items: [{ sku: 'MN-003', quantity: 1 }] },
    };
    const poison = [
      { why: /schema id 987654 is not registered/, value: valid, headers: { [schemaIdHeader]: '987654' } },
      { why: /no schema-id header/, value: valid, headers: {} },
      // A v1 field in an event that names version 2's schema.
      {
        why: new RegExp(`does not match the schema it was written with \\(id ${v2Id}\\) at .*data`),
        value: { ...valid, data: { ...valid.data, paymentRef: 'x' } },
        headers: { [schemaIdHeader]: String(v2Id) },
      },
    ];
    const producer = harness.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    // Keyed by the order: the same partition, just ahead of the order's own event.
    await producer.send({
      topic: topicOf('order.placed', harness.prefix),
      acks: -1,
      messages: poison.map((p) => ({ key: request.orderId, value: JSON.stringify(p.value), headers: p.headers })),
    });
    await producer.disconnect();
    await placeChoreographedOrder(harness.pool, request, `corr-${request.orderId}`);
    await eventually('the order behind the poison to be confirmed', async () => (await orderStatusOf(harness, request.orderId))?.status === 'confirmed');

    for (const group of Object.keys(choreographySubscriptions) as (keyof typeof choreographySubscriptions)[]) {
      if (!choreographySubscriptions[group].includes('order.placed')) continue;
      const letters = (await listDeadLetters(harness.kafka, `${harness.prefix}${group}`)).filter((l) => l.key === request.orderId);
      expect({ group, count: letters.length }).toEqual({ group, count: poison.length });
      poison.forEach((p, i) => expect(letters[i]?.error).toMatch(p.why));
    }
  });

  it('runs v1 and v2 order.placed of the same flow in flight together, and a replay of the topic holding both changes nothing', async () => {
    const v1WithRef = order();
    const v1PreVault = order({ paymentRef: 'unused' });
    const v2 = order();
    await Promise.all([
      placeAsVersion1(harness, v1WithRef, { paymentRef: v1WithRef.paymentRef }),
      placeAsVersion1(harness, v1PreVault, { paymentToken: 'tok_approve' }),
      placeChoreographedOrder(harness.pool, v2, `corr-${v2.orderId}`),
    ]);
    const ids = [v1WithRef.orderId, v1PreVault.orderId, v2.orderId];
    await eventually('the three orders to be confirmed', async () =>
      (await Promise.all(ids.map((id) => orderStatusOf(harness, id)))).every((o) => o?.status === 'confirmed'),
    );

    const events = await readAllEvents(harness.kafka, harness.prefix);
    const placed = ids.map((id) => eventsOfOrder(events, id).find((e) => e.type === 'order.placed')!);
    expect(placed.map((e) => ({ version: e.schemaVersion, id: e.headers[schemaIdHeader] }))).toEqual([
      { version: 1, id: String(harness.contracts.schemaIdOf('order.placed', 1)) },
      { version: 1, id: String(harness.contracts.schemaIdOf('order.placed', 1)) },
      { version: 2, id: String(harness.contracts.schemaIdOf('order.placed', 2)) },
    ]);
    expect(placed[0]?.data).toMatchObject({ paymentRef: 'tok_approve' });
    expect(placed[1]?.data).toMatchObject({ paymentToken: 'tok_approve' });
    expect(placed[2]?.data).toMatchObject({ payment: { ref: 'tok_approve' } });
    // Each charged once, with the instrument its event carried in whichever version.
    expect(ids.map((id) => harness.ledger.charges.filter((c) => c.reference === id).length)).toEqual([1, 1, 1]);

    // The read model of the three, projected from the topics that hold both versions.
    const dlqProducer = harness.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await dlqProducer.connect();
    const start = () => startHarnessProjector(harness, dlqProducer);
    const readModel = async () => ({
      views: (await harness.pool.query('select * from read_model.order_view where order_id = any($1) order by order_id', [ids])).rows as unknown[],
      timeline: (await harness.pool.query('select * from read_model.order_timeline where order_id = any($1) order by order_id, event_id', [ids]))
        .rows as unknown[],
    });
    let projector: ConsumerRunner = await start();
    try {
      await eventually('the read model to show the three confirmed', async () => {
        const { rows } = await harness.pool.query<{ status: string }>('select status from read_model.order_view where order_id = any($1)', [ids]);
        return rows.length === 3 && rows.every((r) => r.status === 'confirmed');
      });
      await sleep(500);
      const projected = await readModel();
      // The timeline keeps the data in the current version, whatever version the event was written in.
      const placedRows = (projected.timeline as { type: string; schema_version: number; data: object }[]).filter((r) => r.type === 'order.placed');
      expect(placedRows.map((r) => r.schema_version)).toEqual([2, 2, 2]);
      expect(placedRows.map((r) => 'payment' in r.data)).toEqual(expect.arrayContaining([true]));
      expect(JSON.stringify(placedRows)).not.toContain('paymentToken');

      // Replay: the read model from the beginning of the topics, and every choreography group too.
      await projector.stop();
      await runtime.stop();
      await rebuildReadModel(harness.pool, harness.kafka, `${harness.prefix}${projectorGroup}`, harness.prefix);
      for (const [group, types] of Object.entries(choreographySubscriptions)) {
        const topics = types.map((type) => topicOf(type, harness.prefix));
        await resetGroupToWindow(harness.kafka, harness.pool, `${harness.prefix}${group}`, topics, defaultDedupeWindow, true);
      }
      runtime = await harness.startInstance();
      projector = await start();
      await eventually('the replay to finish', async () => (await choreographyLag(harness)) === 0);
      await eventually('the read model to be rebuilt', async () => JSON.stringify((await readModel()).views) === JSON.stringify(projected.views));
      expect(await readModel()).toEqual(projected);
      expect(ids.map((id) => harness.ledger.charges.filter((c) => c.reference === id).length)).toEqual([1, 1, 1]);
      expect((await Promise.all(ids.map((id) => orderStatusOf(harness, id)))).map((o) => o?.status)).toEqual(['confirmed', 'confirmed', 'confirmed']);
    } finally {
      await projector.stop();
      await dlqProducer.disconnect();
    }
  });
});

describe('a schema registry outage', () => {
  const root = mkdtempSync(join(tmpdir(), 'order-saga-registry-'));
  let registry: { server: ManagedServer; record: ProcessRecord } | undefined;
  let harness: ChoreographyHarness;

  /** Starts this file's own registry (its data folder kept across restarts), on `port`. */
  const startRegistry = async (port: number) => {
    const tools = locateTools(loadStackConfig().STACK_TOOLS_DIR);
    const server = createSchemaRegistryServer({
      java: tools.java,
      jar: tools.schemaRegistryJar,
      port,
      dataDir: join(root, 'data'),
      logPath: join(root, 'schema-registry.log'),
    });
    registry = { server, record: await startServer(server, 120_000) };
  };
  const stopRegistry = async () => {
    if (registry) await stopServer(registry.server, registry.record, 15_000);
    registry = undefined;
  };
  const dead = async (orderId: string) =>
    (
      await Promise.all(
        (Object.keys(choreographySubscriptions) as (keyof typeof choreographySubscriptions)[]).map((g) =>
          listDeadLetters(harness.kafka, `${harness.prefix}${g}`),
        ),
      )
    )
      .flat()
      .filter((l) => l.key === orderId);

  beforeAll(async () => {
    const port = await freePort();
    await startRegistry(port);
    // Its own registry, so that stopping and pausing it leaves the other test files' alone.
    harness = await startChoreographyHarness({ ...inject('servers'), schemaRegistryUrl: schemaRegistryUrl(port) });
    await harness.startInstance();
  }, 180_000);

  afterAll(async () => {
    if (registry) process.kill(registry.record.pid, 'SIGCONT');
    await harness?.close();
    await stopRegistry();
    rmSync(root, { recursive: true, force: true });
  });

  it('changes nothing for the schemas a process has cached; an event whose schema it has not waits for the registry and is applied once it is back', async () => {
    const port = registry!.server.ports[0]!.port;
    const url = schemaRegistryUrl(port);
    // A compatible revision of order.placed v2 (an optional field added), registered by a newer
    // producer: the consumers have not seen its id, so they must fetch it.
    const revision = structuredClone(eventSchemaDocument('order.placed', 2));
    (revision.properties as { data: DataSchema }).data.properties.giftNote = { type: 'string' };
    const registered = await fetch(`${url}/subjects/${subjectOf('order.placed', 2)}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schemaType: 'JSON', schema: JSON.stringify(revision) }),
    });
    const revisionId = ((await registered.json()) as { id: number }).id;
    expect(revisionId).not.toBe(harness.contracts.schemaIdOf('order.placed', 2));

    // Down: connections refused. Every schema this code registered at start is in its cache.
    await stopRegistry();
    const during = order();
    await placeChoreographedOrder(harness.pool, during, `corr-${during.orderId}`);
    await eventually(
      'an order placed while the registry is down to be confirmed',
      async () => (await orderStatusOf(harness, during.orderId))?.status === 'confirmed',
    );

    // The newer producer's order: its row, and its event sent with the revision's id.
    const newer = order();
    await withTransaction(harness.pool, async (tx) => {
      await createOrder(tx, newer, 'choreographed');
      await recordCorrelationId(tx, newer.orderId, `corr-${newer.orderId}`);
    });
    const event = {
      eventId: deterministicEventId('orders', newer.orderId, 'order.placed'),
      type: 'order.placed',
      schemaVersion: 2,
      occurredAt: new Date().toISOString(),
      orderId: newer.orderId,
      correlationId: `corr-${newer.orderId}`,
      causationId: null,
      producer: 'orders',
      flow: 'choreographed',
      data: { customerId: newer.customerId, email: newer.email, items: newer.items, payment: { ref: newer.paymentRef } },
    };
    const producer = harness.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({
      topic: topicOf('order.placed', harness.prefix),
      acks: -1,
      messages: [{ key: newer.orderId, value: JSON.stringify(event), headers: { [schemaIdHeader]: String(revisionId) } }],
    });
    await producer.disconnect();
    await sleep(5000);
    expect({ status: (await orderStatusOf(harness, newer.orderId))?.status, deadLetters: await dead(newer.orderId) }).toEqual({
      status: 'pending',
      deadLetters: [],
    });

    // Back (the same ids: its data survived the restart), then paused: a registry that hangs times out as one that is down.
    await startRegistry(port);
    process.kill(registry!.record.pid, 'SIGSTOP');
    await sleep(5000);
    expect((await orderStatusOf(harness, newer.orderId))?.status).toBe('pending');
    process.kill(registry!.record.pid, 'SIGCONT');
    await eventually("the newer producer's order to be confirmed", async () => (await orderStatusOf(harness, newer.orderId))?.status === 'confirmed');
    expect(await dead(newer.orderId)).toEqual([]);
    expect(harness.ledger.charges.filter((c) => c.reference === newer.orderId)).toHaveLength(1);
  });
});

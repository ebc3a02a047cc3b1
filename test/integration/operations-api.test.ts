/**
 * Issue 18: the API routes of the console's Operate tab, against the real servers: the catalog,
 * the dead letters (listed, replayed after the fix, each replay recorded with who sent it), the
 * backlog read from a real metrics endpoint, and who may call them.
 */
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../infra/stack/ports.ts';
import { buildApiApp } from '../../src/api/app.ts';
import { placeChoreographedOrder } from '../../src/choreography/order-commands.ts';
import { choreographySubscriptions } from '../../src/choreography/services.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import { outboxBacklog } from '../../src/messaging/outbox.ts';
import { deadLetterTopicOf, ensureTopics, topicOf } from '../../src/messaging/topics.ts';
import { registerKafkaBacklogMetrics, registerOutboxMetrics } from '../../src/observability/backlog-metrics.ts';
import { serveMetrics, type MetricsEndpoint } from '../../src/observability/metrics.ts';
import { wireOrderFlows } from '../../src/workers/order-flows.ts';
import { testAuth } from './helpers/auth.ts';
import { eventually, orderStatusOf } from './helpers/choreography-scenarios.ts';
import { startFullRuntime, type FullRuntime } from './helpers/full-runtime.ts';
import { testVault } from './helpers/vault.ts';
import '../setup/servers.ts';

type Problem = { statusCode: number; code: string; error: string; message: string };
interface LetterView {
  group: string;
  id: string;
  key: string | null;
  originalTopic: string;
  originalPartition: number | null;
  originalOffset: string;
  error: string;
  attempts: number | null;
  failedAt: string;
  headers: Record<string, string>;
  value: unknown;
  replays: { at: string; by: string }[];
}

const servers = inject('servers');
const auth = testAuth(servers);
const groupNames = ['orders', 'inventory', 'payments', 'notifications', 'projector'];

/** Orders the inventory group cannot reserve, as a defect in its handler would (until "fixed"). */
const defective = new Set<string>();
let runtime: FullRuntime;
/** What an API of its own needs, over the runtime's database and flows (the tests below add their own dead letters). */
const apiDeps = () => ({
  auth: auth.verifier,
  pool: runtime.harness.pool,
  flows: wireOrderFlows({ pool: runtime.harness.pool, sagas: runtime.orchestrated.sagas, vault: testVault }),
  temporalUiUrl: 'http://localhost:8233',
  namespace: 'default',
  readiness: [],
});
let admin: Admin;
let metrics: MetricsEndpoint;
let metricsUrl: string;
let deadUrl: string;

beforeAll(async () => {
  // The backlog's sources are given to the API when it is built, before the harness they watch exists: their ports first.
  metricsUrl = `http://127.0.0.1:${await freePort()}/metrics`;
  deadUrl = `http://127.0.0.1:${await freePort()}/metrics`;
  runtime = await startFullRuntime(servers, {
    // The defect fails the same way however long it is retried: dead-letter it after a second.
    retryWindowMs: 1000,
    adjustServices: (services) => {
      const reserve = services.inventory.handlers['order.placed']!;
      services.inventory.handlers['order.placed'] = (event, ctx) => {
        if (defective.has(event.orderId)) return Promise.reject(new Error('simulated defect in the inventory handler'));
        return reserve(event, ctx);
      };
      return services;
    },
    metricsSources: [
      { name: 'choreography', url: metricsUrl },
      { name: 'gone', url: deadUrl },
    ],
  });
  admin = runtime.harness.kafka.admin();
  await admin.connect();
}, 180_000);

afterAll(async () => {
  await metrics?.close();
  await admin?.disconnect();
  await runtime?.close();
});

const asOperator = async () => auth.tokens.headers({ role: 'operator' });
const asCustomer = async () => auth.tokens.headers({ role: 'customer', customerId: 'operations-api' });

describe('GET /catalog', () => {
  it('lists every product by SKU with its price and stock, as the inventory context holds them, to customers and operators', async () => {
    const { rows } = await runtime.harness.pool.query<{ sku: string; name: string; price_cents: number; currency: string; stock: number }>(
      'select sku, name, price_cents, currency, stock from inventory.catalog order by sku',
    );
    expect(rows.length).toBeGreaterThan(1);
    const expected = rows.map((r) => ({ sku: r.sku, name: r.name, priceCents: r.price_cents, currency: r.currency, stock: r.stock }));
    for (const headers of [await asCustomer(), await asOperator()]) {
      const res = await runtime.api.inject({ method: 'GET', url: '/catalog', headers });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ items: expected });
    }
    expect(expected).toContainEqual({ sku: 'KB-001', name: 'Mechanical keyboard', priceCents: 8900, currency: 'USD', stock: expect.any(Number) as number });
  });
});

describe('dead letters', () => {
  /** Places an order whose reservation is dead-lettered, and waits until the API lists its letter. */
  const placeStrandedOrder = async (): Promise<{ order: OrderRequest; letter: LetterView }> => {
    const order: OrderRequest = {
      orderId: randomUUID(),
      customerId: 'operations-api',
      email: 'ada@example.com',
      items: [{ sku: 'MS-002', quantity: 1 }],
      paymentRef: 'tok_approve',
    };
    defective.add(order.orderId);
    await placeChoreographedOrder(runtime.harness.pool, order, `corr-${order.orderId}`);
    let letter: LetterView | undefined;
    await eventually('the reservation to be dead-lettered and listed', async () => {
      const res = await runtime.api.inject({ method: 'GET', url: '/dead-letters?group=inventory' });
      expect(res.statusCode).toBe(200);
      letter = res.json<{ data: LetterView[] }>().data.find((l) => l.key === order.orderId);
      return letter !== undefined;
    });
    return { order, letter: letter! };
  };

  it('lists a dead letter with where it came from, why it failed, its decoded headers and its parsed value; replayed after the fix, the order reaches its end, and the replay is recorded with its actor', async () => {
    const { prefix } = runtime.harness;
    const { order, letter } = await placeStrandedOrder();
    expect(letter).toMatchObject({
      group: 'inventory',
      id: expect.stringMatching(/^\d+:\d+$/) as string,
      originalTopic: `${prefix}order.placed`,
      originalPartition: expect.any(Number) as number,
      originalOffset: expect.stringMatching(/^\d+$/) as string,
      error: expect.stringContaining('simulated defect in the inventory handler') as string,
      attempts: expect.any(Number) as number,
      replays: [],
    });
    expect(letter.attempts).toBeGreaterThanOrEqual(1);
    expect(Number.isNaN(Date.parse(letter.failedAt))).toBe(false);
    // The headers as text (Kafka hands them over as bytes): those the runner wrote, and the event's own.
    expect(letter.headers).toMatchObject({
      'dlq-consumer-group': `${prefix}inventory`,
      'dlq-original-topic': `${prefix}order.placed`,
      'dlq-error': letter.error,
    });
    // The value is the event itself, parsed.
    expect(letter.value).toMatchObject({ type: 'order.placed', orderId: order.orderId, correlationId: `corr-${order.orderId}` });
    expect(await orderStatusOf(runtime.harness, order.orderId)).toEqual({ status: 'pending', reason: null });

    // All groups in one list: the same letter, under its group.
    const all = (await runtime.api.inject({ method: 'GET', url: '/dead-letters' })).json<{ data: LetterView[] }>().data;
    expect(all.filter((l) => l.key === order.orderId)).toEqual([letter]);
    const failedAts = all.map((l) => l.failedAt);
    expect(failedAts).toEqual([...failedAts].sort().reverse());

    defective.delete(order.orderId); // the fix is deployed
    const operator = await asOperator();
    const replay = await runtime.api.inject({
      method: 'POST',
      url: '/dead-letters/inventory/replay',
      headers: operator,
      payload: { ids: [letter.id, '99:0', letter.id] },
    });
    expect(replay.statusCode).toBe(202);
    expect(replay.json()).toEqual({ group: 'inventory', replayed: [letter.id], unknown: ['99:0'] });
    await eventually('the order to be confirmed', async () => (await orderStatusOf(runtime.harness, order.orderId))?.status === 'confirmed');
    expect(runtime.harness.ledger.charges.filter((c) => c.reference === order.orderId)).toHaveLength(1);

    // Recorded: who replayed it (the operator token's subject), and when.
    const actor = `operator ${decodeJwt(operator.authorization.slice('Bearer '.length)).sub ?? ''}`;
    const listed = async () =>
      (await runtime.api.inject({ method: 'GET', url: '/dead-letters?group=inventory' })).json<{ data: LetterView[] }>().data.find((l) => l.id === letter.id)!;
    const once = await listed();
    expect(once.replays).toEqual([{ at: expect.any(String) as string, by: actor }]);
    expect(Number.isNaN(Date.parse(once.replays[0]!.at))).toBe(false);

    // Again: allowed (the consumers are idempotent: nothing is reserved or charged twice), and recorded again.
    const again = await runtime.api.inject({ method: 'POST', url: '/dead-letters/inventory/replay', headers: operator, payload: { ids: [letter.id] } });
    expect(again.json()).toEqual({ group: 'inventory', replayed: [letter.id], unknown: [] });
    const twice = await listed();
    expect(twice.replays.map((r) => r.by)).toEqual([actor, actor]);
    expect(twice.replays[1]!.at >= twice.replays[0]!.at).toBe(true);
  });

  it('reads every group in one pass (one consumer, not one per group), newest first, a value that is not JSON as its text and none as null', async () => {
    const { harness } = runtime;
    // Dead letters of two more groups, written as the consumer runner writes them.
    const producer = harness.kafka.producer();
    await producer.connect();
    const letterOf = (group: string, failedAt: string, value: string | null) => ({
      topic: deadLetterTopicOf(`${harness.prefix}${group}`),
      messages: [
        {
          key: `fake-${group}`,
          value,
          headers: {
            'dlq-original-topic': `${harness.prefix}order.placed`,
            'dlq-original-partition': '0',
            'dlq-original-offset': '0',
            'dlq-error': `written by the test for ${group}`,
            'dlq-attempts': '1',
            'dlq-consumer-group': `${harness.prefix}${group}`,
            'dlq-failed-at': failedAt,
          },
        },
      ],
    });
    await producer.send(letterOf('payments', '2099-01-01T00:00:00.000Z', 'not JSON {'));
    await producer.send(letterOf('projector', '2099-01-02T00:00:00.000Z', null));
    await producer.disconnect();

    let consumers = 0;
    const counting = new Proxy(harness.kafka, {
      get(target, property) {
        if (property === 'consumer') return (...args: Parameters<Kafka['consumer']>) => (consumers++, target.consumer(...args));
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const api = await buildApiApp({
      auth: auth.verifier,
      pool: harness.pool,
      flows: wireOrderFlows({ pool: harness.pool, sagas: runtime.orchestrated.sagas, vault: testVault }),
      temporalUiUrl: 'http://localhost:8233',
      namespace: 'default',
      readiness: [],
      deadLetters: {
        kafka: counting,
        producer: harness.kafka.producer(),
        groups: Object.fromEntries(groupNames.map((name) => [name, `${harness.prefix}${name}`])),
      },
    });
    try {
      const res = await api.inject({ method: 'GET', url: '/dead-letters', headers: await asOperator() });
      expect(res.statusCode).toBe(200);
      const data = res.json<{ data: LetterView[] }>().data;
      expect(consumers).toBe(1);
      // The newest first: the two written above, whose failedAt is later than any real one.
      expect(data.slice(0, 2)).toEqual([
        expect.objectContaining({ group: 'projector', key: 'fake-projector', value: null, error: 'written by the test for projector' }),
        expect.objectContaining({ group: 'payments', key: 'fake-payments', value: 'not JSON {', failedAt: '2099-01-01T00:00:00.000Z' }),
      ]);
    } finally {
      await api.close();
    }
  });

  it('answers an unknown group 400 naming the known ones, and ids that are not partition:offset 400', async () => {
    const list = await runtime.api.inject({ method: 'GET', url: '/dead-letters?group=shipping' });
    expect(list.json<Problem>()).toEqual({
      statusCode: 400,
      code: 'VALIDATION_FAILED',
      error: 'Bad Request',
      message: `querystring/group must be one of ${groupNames.join(', ')}`,
    });
    const replay = await runtime.api.inject({ method: 'POST', url: '/dead-letters/shipping/replay', payload: { ids: ['0:0'] } });
    expect(replay.json<Problem>()).toMatchObject({
      statusCode: 400,
      code: 'VALIDATION_FAILED',
      message: `params/group must be one of ${groupNames.join(', ')}`,
    });
    for (const ids of [[], ['0-0'], ['1234567890:0'], Array.from({ length: 101 }, (_, i) => `0:${i}`)]) {
      const res = await runtime.api.inject({ method: 'POST', url: '/dead-letters/inventory/replay', payload: { ids } });
      expect({ ids: ids.slice(0, 1), status: res.statusCode, code: res.json<Problem>().code }).toEqual({
        ids: ids.slice(0, 1),
        status: 400,
        code: 'VALIDATION_FAILED',
      });
    }
  });

  it('lists nothing for a group whose dead-letter topic does not exist yet', async () => {
    // The projector's dead-letter topic exists (the projector creates it); one of another prefix does not.
    const api = await buildApiApp({
      ...apiDeps(),
      deadLetters: {
        kafka: runtime.harness.kafka,
        producer: { send: () => Promise.reject(new Error('unused')), sendBatch: () => Promise.reject(new Error('unused')) },
        groups: { never: `never-${randomUUID()}` },
      },
    });
    try {
      expect((await admin.listTopics()).some((t) => t.startsWith('dlq.never-'))).toBe(false);
      const res = await api.inject({ method: 'GET', url: '/dead-letters', headers: await asOperator() });
      expect({ status: res.statusCode, body: res.json<unknown>() }).toEqual({ status: 200, body: { data: [] } });
      const replay = await api.inject({ method: 'POST', url: '/dead-letters/never/replay', headers: await asOperator(), payload: { ids: ['0:0'] } });
      expect({ status: replay.statusCode, body: replay.json<unknown>() }).toEqual({ status: 202, body: { group: 'never', replayed: [], unknown: ['0:0'] } });
    } finally {
      await api.close();
    }
  });

  it('answers 503 DEPENDENCY_UNAVAILABLE, never a 500, when Kafka cannot be reached', async () => {
    const nowhere = new Kafka({
      clientId: 'operations-api-test',
      brokers: [`127.0.0.1:${await freePort()}`],
      logLevel: logLevel.NOTHING,
      retry: { retries: 1 },
    });
    const api = await buildApiApp({
      ...apiDeps(),
      deadLetters: { kafka: nowhere, producer: nowhere.producer(), groups: { inventory: `${runtime.harness.prefix}inventory` } },
    });
    try {
      const list = await api.inject({ method: 'GET', url: '/dead-letters', headers: await asOperator() });
      expect(list.json<Problem>()).toEqual({
        statusCode: 503,
        code: 'DEPENDENCY_UNAVAILABLE',
        error: 'Service Unavailable',
        message: 'Kafka is unavailable: nothing was changed; try again later',
      });
      const replay = await api.inject({ method: 'POST', url: '/dead-letters/inventory/replay', headers: await asOperator(), payload: { ids: ['0:0'] } });
      expect(replay.json<Problem>()).toMatchObject({
        statusCode: 503,
        code: 'DEPENDENCY_UNAVAILABLE',
        message: expect.stringContaining('Kafka is unavailable: some of the dead letters may have been replayed') as string,
      });
    } finally {
      await api.close();
    }
  });

  it('answers 503 when Kafka does not answer within the read deadline', async () => {
    const api = await buildApiApp({
      ...apiDeps(),
      // A deadline no read can meet: what a Kafka that hangs looks like.
      deadLetters: {
        kafka: runtime.harness.kafka,
        producer: runtime.harness.kafka.producer(),
        groups: { inventory: `${runtime.harness.prefix}inventory` },
        readTimeoutMs: 1,
      },
    });
    try {
      const res = await api.inject({ method: 'GET', url: '/dead-letters', headers: await asOperator() });
      expect(res.json<Problem>()).toMatchObject({
        statusCode: 503,
        code: 'DEPENDENCY_UNAVAILABLE',
        message: expect.stringMatching(/^Kafka did not read .* within 1 ms: nothing was changed/) as string,
      });
    } finally {
      await api.close();
    }
  });
});

describe('GET /operations/backlog', () => {
  it("reports each group's lag and dead letters and the outbox from a real metrics endpoint, and a source that cannot be read as such", async () => {
    const { harness, projector } = runtime;
    // An idle group on order.placed (it never commits): its lag is every message of the topic, over its partitions.
    const idle = { groupId: `${harness.prefix}idle`, topics: [topicOf('order.placed', harness.prefix)] };
    // Its dead-letter topic, empty, as every consumer's is (the depth of a missing one cannot be read).
    await ensureTopics(admin, { extra: [deadLetterTopicOf(idle.groupId)] }, []);
    const registry = new Registry();
    const log = pino({ level: 'silent' });
    const watched = [
      ...Object.entries(choreographySubscriptions).map(([name, types]) => ({
        groupId: `${harness.prefix}${name}`,
        topics: types.map((t) => topicOf(t, harness.prefix)),
      })),
      projector,
      idle,
    ];
    registerKafkaBacklogMetrics(registry, admin, watched, log, deadLetterTopicOf);
    registerOutboxMetrics(registry, () => outboxBacklog(harness.pool), log);
    metrics = await serveMetrics(registry, { host: '127.0.0.1', port: Number(new URL(metricsUrl).port) });

    // One more dead letter in the inventory group's topic (whatever the tests before left there).
    const depth = async (groupId: string) =>
      (await admin.fetchTopicOffsets(deadLetterTopicOf(groupId))).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    const before = await depth(`${harness.prefix}inventory`);
    const order: OrderRequest = {
      orderId: randomUUID(),
      customerId: 'operations-api',
      email: 'ada@example.com',
      items: [{ sku: 'MS-002', quantity: 1 }],
      paymentRef: 'tok_approve',
    };
    defective.add(order.orderId);
    await placeChoreographedOrder(harness.pool, order, `corr-${order.orderId}`);
    // Dead-lettered: its order.placed was published and consumed, so the topic the idle group watches is complete.
    await eventually('the reservation to be dead-lettered', async () => (await depth(`${harness.prefix}inventory`)) > before);
    const placed = (await admin.fetchTopicOffsets(idle.topics[0]!)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);

    const res = await runtime.api.inject({ method: 'GET', url: '/operations/backlog' });
    expect(res.statusCode).toBe(200);
    const body = res.json<{
      scrapedAt: string;
      groups: { group: string; groupId: string; lag: number | null; deadLetters: number | null }[];
      outbox: { rows: number; oldestAgeSeconds: number } | null;
      sources: { name: string; url: string; ok: boolean; error?: string }[];
    }>();
    expect(Number.isNaN(Date.parse(body.scrapedAt))).toBe(false);
    expect(body.sources).toEqual([
      { name: 'choreography', url: metricsUrl, ok: true },
      { name: 'gone', url: deadUrl, ok: false, error: 'fetch failed: ECONNREFUSED' },
    ]);
    // Every watched group, by its display name where the API knows it, with a lag; the idle one by its id.
    expect(body.groups.map((g) => g.group).sort()).toEqual([...groupNames, idle.groupId].sort());
    for (const g of body.groups)
      expect({ group: g.group, lag: typeof g.lag, deadLetters: typeof g.deadLetters }).toEqual({ group: g.group, lag: 'number', deadLetters: 'number' });
    expect(body.groups.find((g) => g.groupId === idle.groupId)).toEqual({ group: idle.groupId, groupId: idle.groupId, lag: placed, deadLetters: 0 });
    expect(placed).toBeGreaterThan(0);
    const inventory = body.groups.find((g) => g.group === 'inventory')!;
    expect({ groupId: inventory.groupId, deadLetters: inventory.deadLetters }).toEqual({
      groupId: `${harness.prefix}inventory`,
      deadLetters: await depth(`${harness.prefix}inventory`),
    });
    expect(body.outbox).toEqual({ rows: expect.any(Number) as number, oldestAgeSeconds: expect.any(Number) as number });
  });
});

describe('who may call the Operate routes', () => {
  it.each([
    ['GET', '/dead-letters', undefined],
    ['POST', '/dead-letters/inventory/replay', { ids: ['0:0'] }],
    ['GET', '/operations/backlog', undefined],
  ] as const)('%s %s: operators only (a customer 403, no token 401)', async (method, url, payload) => {
    const customer = await runtime.api.inject({ method, url, headers: await asCustomer(), ...(payload ? { payload } : {}) });
    expect(customer.json<Problem>()).toMatchObject({
      statusCode: 403,
      code: 'FORBIDDEN',
      message: 'this route is for the operator role; the token has customer',
    });
    const nobody = await runtime.api.inject({ method, url, headers: { authorization: 'Bearer not-a-token' }, ...(payload ? { payload } : {}) });
    expect(nobody.json<Problem>()).toMatchObject({ statusCode: 401, code: 'UNAUTHENTICATED' });
  });
});

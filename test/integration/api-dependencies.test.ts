import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { createServer, type Socket } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../infra/stack/ports.ts';
import { createApiPool } from '../../src/api/api-pool.ts';
import { buildApiApp } from '../../src/api/app.ts';
import { dependencyChecks } from '../../src/api/readiness.ts';
import { OrderSagaClient } from '../../src/orchestration/order-saga-client.ts';
import { migrateAll } from '../../src/platform/migrations.ts';
import { orderScenarios } from '../scenarios/order-scenarios.ts';
import { createFakeOrderActivities } from '../workflows/fake-order-activities.ts';
import { signedIn, testAuth } from './helpers/auth.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import { wireOrderFlows } from '../../src/workers/order-flows.ts';
import { startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import { startOwnPostgres, type OwnPostgres } from './helpers/own-postgres.ts';
import { testVault } from './helpers/vault.ts';
import '../setup/servers.ts';

const require = createRequire(import.meta.url);
type Api = Awaited<ReturnType<typeof buildApiApp>>;
type Problem = { statusCode: number; code: string; error: string; message: string };

const order = (flow: string) => ({
  customerId: 'deps-1',
  email: 'ada@example.com',
  items: [{ sku: 'KB-001', quantity: 1 }],
  paymentToken: 'tok_approve',
  flow,
});
const place = (api: Api, body: unknown, key: string = randomUUID()) =>
  api.inject({ method: 'POST', url: '/orders', headers: { 'content-type': 'application/json', 'idempotency-key': key }, payload: JSON.stringify(body) });

describe('the API when its dependencies are away', () => {
  const servers = inject('servers');
  let orchestrated: OrchestratedRuntime;
  let kafkaAdmin: Admin;
  const apis: Api[] = [];
  const build = async ({
    sagas,
    ...deps
  }: Partial<Parameters<typeof buildApiApp>[0]> & Pick<Parameters<typeof buildApiApp>[0], 'pool'> & { sagas: OrderSagaClient }) => {
    const auth = testAuth(servers);
    // Every request carries a token of the suite's identity provider (helpers/auth.ts).
    const api = signedIn(
      await buildApiApp({
        temporalUiUrl: 'http://localhost:8233',
        namespace: 'default',
        readiness: [],
        flows: wireOrderFlows({ pool: deps.pool, sagas, vault: testVault }),
        auth: auth.verifier,
        ...deps,
      }),
      auth.tokens,
    );
    apis.push(api);
    return api;
  };

  beforeAll(async () => {
    orchestrated = await startOrchestratedRuntime(servers);
    kafkaAdmin = new Kafka({ clientId: 'api-readiness-test', brokers: servers.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
    await kafkaAdmin.connect();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(apis.map((api) => api.close()));
    await kafkaAdmin?.disconnect();
    await orchestrated?.close();
  });

  it('is ready when PostgreSQL, Kafka, the Temporal frontend and a worker on its task queue answer', async () => {
    const api = await build({
      pool: orchestrated.pool,
      sagas: orchestrated.sagas,
      readiness: dependencyChecks({ pool: orchestrated.pool, kafkaAdmin, sagas: orchestrated.sagas }),
    });
    const ready = await api.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: ['postgresql', 'kafka', 'temporal', 'temporal-worker'] });
  });

  it('answers /readyz 503 naming each dependency that is down: Kafka, the worker of its task queue, the Temporal frontend', async () => {
    const deadKafka = new Kafka({
      clientId: 'api-readiness-test',
      brokers: [`127.0.0.1:${await freePort()}`],
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
      connectionTimeout: 500,
    }).admin();
    const noWorker = new OrderSagaClient(orchestrated.client, `orders-without-worker-${randomUUID()}`, { timeoutMs: 1000 });
    const api = await build({
      pool: orchestrated.pool,
      sagas: noWorker,
      readiness: dependencyChecks({ pool: orchestrated.pool, kafkaAdmin: deadKafka, sagas: noWorker }),
    });
    const res = await api.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    const body = res.json<Problem>();
    expect(body).toMatchObject({ statusCode: 503, code: 'NOT_READY', error: 'Service Unavailable' });
    expect(body.message).toMatch(/kafka: /);
    expect(body.message).toMatch(/temporal-worker: no worker polls/);
    expect(body.message).not.toMatch(/postgresql|temporal: /);

    const deadFrontend = new OrderSagaClient(new Client({ connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }) }), 'orders', {
      timeoutMs: 1000,
    });
    const noTemporal = await build({
      pool: orchestrated.pool,
      sagas: deadFrontend,
      readiness: dependencyChecks({ pool: orchestrated.pool, kafkaAdmin, sagas: deadFrontend }),
      readinessTimeoutMs: 1500,
    });
    const down = (await noTemporal.inject({ method: 'GET', url: '/readyz' })).json<Problem>();
    expect(down).toMatchObject({ statusCode: 503, code: 'NOT_READY' });
    expect(down.message).toMatch(/temporal: /);
    expect(down.message).not.toMatch(/kafka|postgresql/);
  });

  it('answers a live read and a cancel of an orchestrated order at once while no worker polls, and the cancel is never applied later', async () => {
    const taskQueue = `orders-worker-down-${randomUUID()}`;
    const sagas = new OrderSagaClient(orchestrated.client, taskQueue, { timeoutMs: 1000 });
    const api = await build({ pool: orchestrated.pool, sagas });
    const placed = await place(api, order('orchestrated'));
    expect(placed.statusCode).toBe(202);
    const { orderId } = placed.json<{ orderId: string }>();

    const live = await api.inject({ method: 'GET', url: `/orders/${orderId}?source=workflow` });
    expect(live.statusCode).toBe(504);
    expect(live.json<Problem>()).toMatchObject({
      statusCode: 504,
      code: 'DEPENDENCY_TIMEOUT',
      error: 'Gateway Timeout',
      message: expect.stringMatching(/did not query the saga.*nothing was changed/) as unknown,
    });

    const cancel = await api.inject({ method: 'POST', url: `/orders/${orderId}/cancel` });
    expect(cancel.statusCode).toBe(503);
    expect(cancel.json<Problem>()).toMatchObject({
      statusCode: 503,
      code: 'DEPENDENCY_UNAVAILABLE',
      message: expect.stringMatching(/no worker polls.*the cancel was not sent and will not be applied/) as unknown,
    });

    // The worker comes back: the saga runs to its end, and the refused cancel is not applied.
    const connection = await NativeConnection.connect({ address: servers.temporalAddress });
    const worker = await Worker.create({
      connection,
      namespace: servers.temporalNamespace,
      taskQueue,
      workflowsPath: require.resolve('../../src/workflows/index.ts'),
      activities: createFakeOrderActivities(orderScenarios[0]!).activities,
    });
    const final = await worker.runUntil(sagas.result(orderId));
    await connection.close();
    expect(final.status).toBe('confirmed');

    // The worker is gone again; the saga has ended: its status comes from its history, no worker needed.
    const ended = await api.inject({ method: 'GET', url: `/orders/${orderId}?source=workflow` });
    expect(ended.statusCode).toBe(200);
    expect(ended.json()).toMatchObject({ orderId, status: 'confirmed', source: 'workflow' });
    const late = await api.inject({ method: 'POST', url: `/orders/${orderId}/cancel` });
    expect(late.json<Problem>()).toMatchObject({ statusCode: 409, code: 'ORDER_STATE_CONFLICT' });
  });

  it('answers an unknown order of a live read with 404, and nothing else', async () => {
    const api = await build({ pool: orchestrated.pool, sagas: orchestrated.sagas });
    const res = await api.inject({ method: 'GET', url: `/orders/${randomUUID()}?source=workflow` });
    expect(res.json()).toMatchObject({ statusCode: 404, code: 'ORDER_NOT_FOUND' });
  });

  it("cancels a statement of the API's pool that runs past its deadline, which the API answers 504", async () => {
    const pool = createApiPool(servers.databaseUrl, 1);
    try {
      const slow = await pool.query('select pg_sleep(30)').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(slow).toMatchObject({ code: '57014' });
      expect((await pool.query<{ ok: number }>('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it('answers 503 within its connect deadline, never hangs, when PostgreSQL accepts connections but never answers', async () => {
    // A server that takes the TCP connection and says nothing: what a hung database looks like.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const pool = createApiPool(`postgres://order_saga:order_saga@127.0.0.1:${port}/order_saga`, 2);
    try {
      const api = await build({ pool, sagas: orchestrated.sagas });
      const res = await api.inject({ method: 'GET', url: '/orders?customerId=deps-1' });
      expect(res.statusCode).toBe(503);
      expect(res.json<Problem>()).toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        message: expect.stringMatching(/^PostgreSQL is unavailable: nothing was changed/) as unknown,
      });
    } finally {
      sockets.forEach((socket) => socket.destroy());
      silent.close();
      await pool.end();
    }
  });

  describe('with its own PostgreSQL, stopped and started again', () => {
    let database: OwnPostgres;
    let pool: pg.Pool;
    let api: Api;
    const idleErrors: Error[] = [];

    beforeAll(async () => {
      database = await startOwnPostgres('order_saga_api');
      const url = database.url;
      await migrateAll(url);
      pool = createApiPool(url, 4, (err) => idleErrors.push(err));
      api = await build({ pool, sagas: orchestrated.sagas, readiness: dependencyChecks({ pool, kafkaAdmin, sagas: orchestrated.sagas }) });
    }, 120_000);

    afterAll(async () => {
      await pool?.end();
      await database?.close();
    });

    it('answers 503 in the error shape while PostgreSQL is away, saying whether the order was accepted, and serves again once it is back', async () => {
      const placed = await place(api, order('choreographed'));
      expect(placed.statusCode).toBe(202);
      const { orderId } = placed.json<{ orderId: string }>();

      await database.stop();
      const key = `key-${randomUUID()}`;
      const whileDown = {
        list: await api.inject({ method: 'GET', url: '/orders?customerId=deps-1' }),
        read: await api.inject({ method: 'GET', url: `/orders/${orderId}` }),
        place: await place(api, order('choreographed'), key),
        cancel: await api.inject({ method: 'POST', url: `/orders/${orderId}/cancel` }),
        ready: await api.inject({ method: 'GET', url: '/readyz' }),
      };
      for (const res of [whileDown.list, whileDown.read, whileDown.place, whileDown.cancel]) {
        expect(res.statusCode).toBe(503);
        expect(res.json<Problem>()).toMatchObject({
          statusCode: 503,
          code: 'DEPENDENCY_UNAVAILABLE',
          error: 'Service Unavailable',
          message: expect.stringMatching(/^PostgreSQL is unavailable: /) as unknown,
        });
      }
      expect(whileDown.list.json<Problem>().message).toMatch(/nothing was changed/);
      expect(whileDown.place.json<Problem>().message).toMatch(/retry with the same Idempotency-Key/);
      expect(whileDown.cancel.json<Problem>().message).toMatch(/the cancel may not have been applied/);
      expect(whileDown.ready.json<Problem>()).toMatchObject({ statusCode: 503, code: 'NOT_READY', message: expect.stringMatching(/^postgresql: /) as unknown });

      await database.start();
      await eventually('the API serves again', async () => (await api.inject({ method: 'GET', url: '/orders?customerId=deps-1' })).statusCode === 200);
      const retried = await place(api, order('choreographed'), key);
      expect(retried.statusCode).toBe(202);
      const rows = await pool.query('select order_id from orders.orders where order_id = any($1)', [[orderId, retried.json<{ orderId: string }>().orderId]]);
      expect(rows.rowCount).toBe(2);
    });
  });
});

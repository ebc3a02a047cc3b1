/**
 * Issue 19, the API's tables: an Idempotency-Key is remembered for API_IDEMPOTENCY_KEY_TTL_MS and
 * is unknown after it, whether or not its row is still there; the API sweeps the keys past it and
 * the dead-letter replay records past API_DEAD_LETTER_REPLAYS_RETENTION_MS, in batches, and leaves
 * the rest; the OpenAPI document states the key's lifetime. Against the suite's PostgreSQL.
 *
 * Rows are aged by moving their time back, and every retention here is an hour or more, so that
 * the sweeps never touch the rows of the other tests sharing the database.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiPool } from '../../src/api/api-pool.ts';
import { buildApiApp, type ApiDeps } from '../../src/api/app.ts';
import { OrderSagaClient } from '../../src/orchestration/order-saga-client.ts';
import { migrateAll } from '../../src/platform/migrations.ts';
import { deleteInBatches } from '../../src/platform/retention.ts';
import { wireOrderFlows } from '../../src/workers/order-flows.ts';
import { signedIn, testAuth } from './helpers/auth.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import { testVault } from './helpers/vault.ts';
import '../setup/servers.ts';

type Api = Awaited<ReturnType<typeof buildApiApp>>;

const hour = 3_600_000;

describe('retention of the API’s tables', () => {
  const servers = inject('servers');
  const { verifier, tokens } = testAuth(servers);
  let pool: pg.Pool;
  let connection: Connection;
  const apis: Api[] = [];
  const build = async (retention?: ApiDeps['retention']) => {
    const sagas = new OrderSagaClient(new Client({ connection, namespace: servers.temporalNamespace }));
    const api = await buildApiApp({
      pool,
      flows: wireOrderFlows({ pool, sagas, vault: testVault }),
      temporalUiUrl: servers.temporalUiUrl,
      namespace: 'default',
      readiness: [],
      auth: verifier,
      ...(retention ? { retention } : {}),
    });
    apis.push(api);
    return signedIn(api, tokens);
  };

  // Choreographed: placing one writes the order and its event to PostgreSQL, nothing else.
  const place = (api: Api, key: string, customerId = 'retention-customer', quantity = 1) =>
    api.inject({
      method: 'POST',
      url: '/orders',
      headers: { 'idempotency-key': key },
      payload: { customerId, email: 'ada@example.com', items: [{ sku: 'KB-001', quantity }], paymentToken: 'tok_approve', flow: 'choreographed' },
    });
  /** Moves the key's first request `ms` into the past. */
  const ageKey = async (key: string, ms: number) => {
    const { rowCount } = await pool.query("update api.idempotency_keys set created_at = now() - $2 * interval '1 millisecond' where idempotency_key = $1", [
      key,
      ms,
    ]);
    expect(rowCount).toBe(1);
  };
  const keyExists = async (key: string) => (await pool.query('select 1 from api.idempotency_keys where idempotency_key = $1', [key])).rowCount === 1;

  beforeAll(async () => {
    await migrateAll(servers.databaseUrl);
    pool = createApiPool(servers.databaseUrl, 4);
    // Lazy: these tests place choreographed orders only and never start a saga.
    connection = Connection.lazy({ address: servers.temporalAddress });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(apis.map((api) => api.close()));
    await connection?.close();
    await pool?.end();
  });

  it('answers a repeated Idempotency-Key with the stored order within its lifetime, and as a new request once the key is past it', async () => {
    const api = await build({ idempotencyKeyTtlMs: 2 * hour, deadLetterReplaysRetentionMs: 2 * hour, sweepIntervalMs: 3_600_000 });
    const key = `ttl-${randomUUID()}`;
    const first = await place(api, key);
    expect(first.statusCode).toBe(202);
    const { orderId } = first.json<{ orderId: string }>();

    // Within the lifetime (aged to just inside it): the same order, and another body is refused.
    await ageKey(key, 2 * hour - 60_000);
    const retry = await place(api, key);
    expect(retry.statusCode).toBe(202);
    expect(retry.json<{ orderId: string }>().orderId).toBe(orderId);
    expect((await place(api, key, 'retention-customer', 2)).json()).toMatchObject({ statusCode: 409, code: 'IDEMPOTENCY_KEY_REUSED' });

    // Past it, its row still there (this app's sweep runs hourly): a new order, with another body too.
    await ageKey(key, 2 * hour + 1000);
    const renewed = await place(api, key, 'retention-customer', 2);
    expect(renewed.statusCode).toBe(202);
    const renewedId = renewed.json<{ orderId: string }>().orderId;
    expect(renewedId).not.toBe(orderId);
    // The key now starts again from this request: its retry gets that new order, the first body is refused.
    expect((await place(api, key, 'retention-customer', 2)).json<{ orderId: string }>().orderId).toBe(renewedId);
    expect((await place(api, key)).json()).toMatchObject({ statusCode: 409, code: 'IDEMPOTENCY_KEY_REUSED' });
    // Both orders exist: the expired key placed a second one.
    for (const id of [orderId, renewedId]) expect((await pool.query('select 1 from orders.orders where order_id = $1', [id])).rowCount, `order ${id}`).toBe(1);
  });

  it('gives two concurrent requests with an expired key the same new order', async () => {
    const api = await build({ idempotencyKeyTtlMs: hour, deadLetterReplaysRetentionMs: hour, sweepIntervalMs: 3_600_000 });
    const key = `race-${randomUUID()}`;
    const { orderId } = (await place(api, key)).json<{ orderId: string }>();
    await ageKey(key, 2 * hour);
    const answers = await Promise.all(Array.from({ length: 8 }, () => place(api, key)));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(8).fill(202));
    const ids = new Set(answers.map((a) => a.json<{ orderId: string }>().orderId));
    expect(ids.size).toBe(1);
    expect(ids.has(orderId)).toBe(false);
  });

  it('sweeps the keys and the replay records past their retention from the running API, and leaves the fresh ones', async () => {
    const group = `retention-${randomUUID()}`;
    await pool.query(
      `insert into api.dead_letter_replays (group_id, letter_id, replayed_at, replayed_by)
       values ($1, '0:1', now() - interval '3 hours', 'op'), ($1, '0:2', now() - interval '3 hours', 'op'), ($1, '0:3', now() - interval '30 minutes', 'op')`,
      [group],
    );
    const replays = async () =>
      (await pool.query<{ letter_id: string }>('select letter_id from api.dead_letter_replays where group_id = $1 order by letter_id', [group])).rows.map(
        (r) => r.letter_id,
      );
    // The keys before the API starts, so that its first sweep (at ready) finds them.
    const placing = await build();
    const [old, fresh] = [`old-${randomUUID()}`, `fresh-${randomUUID()}`];
    expect((await place(placing, old)).statusCode).toBe(202);
    expect((await place(placing, fresh)).statusCode).toBe(202);
    await ageKey(old, 2 * hour);
    await ageKey(fresh, 30 * 60_000);

    const api = await build({ idempotencyKeyTtlMs: hour, deadLetterReplaysRetentionMs: 2 * hour, sweepIntervalMs: 200 });
    await api.ready();
    await eventually('the sweep of the expired key and replays', async () => !(await keyExists(old)) && (await replays()).length === 1, 10_000);
    expect(await keyExists(fresh)).toBe(true);
    expect(await replays()).toEqual(['0:3']);

    // Once the API is closed, nothing is swept any more.
    await api.close();
    const late = `late-${randomUUID()}`;
    expect((await place(placing, late)).statusCode).toBe(202);
    await ageKey(late, 2 * hour);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await keyExists(late)).toBe(true);
    await pool.query('delete from api.idempotency_keys where idempotency_key = $1', [late]);
  });

  it('states the key’s lifetime in the OpenAPI document, as configured', async () => {
    const described = async (api: Api) => {
      const spec = (await api.inject({ method: 'GET', url: '/docs/json' })).json<{
        paths: Record<string, { post?: { parameters?: { in: string; name: string; description?: string }[] } }>;
      }>();
      return spec.paths['/orders']!.post!.parameters!.find((p) => p.in === 'header' && p.name === 'idempotency-key')!.description;
    };
    expect(await described(await build())).toMatch(/same answer for 24 h .*API_IDEMPOTENCY_KEY_TTL_MS/);
    expect(await described(await build({ idempotencyKeyTtlMs: 15 * 60_000, deadLetterReplaysRetentionMs: hour, sweepIntervalMs: 3_600_000 }))).toMatch(
      /same answer for 15 min /,
    );
  });

  describe('deleteInBatches', () => {
    beforeAll(async () => {
      await pool.query('create table if not exists retention_batches (id integer primary key, expired boolean not null)');
      await pool.query('truncate retention_batches');
    });
    afterAll(async () => {
      await pool.query('drop table if exists retention_batches');
    });

    it('deletes more rows than one batch, a statement per batch, and only those its condition selects', async () => {
      await pool.query('insert into retention_batches select i, i <= 25 from generate_series(1, 30) as i');
      const statements: string[] = [];
      const counting = {
        query: (text: string, params: unknown[]) => {
          statements.push(text);
          return pool.query(text, params);
        },
      } as unknown as Pick<pg.PoolClient, 'query'>;
      expect(await deleteInBatches(counting, 'retention_batches', 'expired = $2', [true], 10)).toBe(25);
      expect(statements).toHaveLength(3);
      const { rows } = await pool.query<{ id: number }>('select id from retention_batches order by id');
      expect(rows.map((r) => r.id)).toEqual([26, 27, 28, 29, 30]);
      // Nothing left to delete: one statement, none deleted.
      expect(await deleteInBatches(counting, 'retention_batches', 'expired = $2', [true], 10)).toBe(0);
      expect(statements).toHaveLength(4);
    });
  });
});

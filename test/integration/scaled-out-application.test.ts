import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApiApp } from '../../src/api/app.ts';
import { cancelOrder, placeChoreographedOrder, reviewTimeoutMs, sweepReviewDeadlines } from '../../src/choreography/order-commands.ts';
import { lockOrder } from '../../src/contexts/orders/choreography-state.ts';
import { choreographySubscriptions, type ChoreographyGroup } from '../../src/choreography/services.ts';
import { orderWorkflowId, type OrderRequest } from '../../src/domain/order.ts';
import { TemporalEnv, loadConfig } from '../../src/platform/config.ts';
import { createPool } from '../../src/platform/database.ts';
import { migrateAll } from '../../src/platform/migrations.ts';
import { openOrderFlows } from '../../src/workers/order-flows.ts';
import type { TestServers } from '../setup/servers.ts';
import { signedIn, testAuth } from './helpers/auth.ts';
import { startChoreographyHarness, type ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import { readAllEvents } from './helpers/event-log.ts';
import { testVault } from './helpers/vault.ts';
import '../setup/servers.ts';

// The cluster profile runs two of each application process on one database and one set of
// consumer groups (infra/stack/stack.ts, instancesOf). These tests hold the code to what that
// needs: two instances do the work once between them, not once each.

const groups = Object.keys(choreographySubscriptions) as ChoreographyGroup[];

/**
 * A database of this file's own on the suite's PostgreSQL: the review-deadline sweeper takes
 * every due deadline of its database, and other files' orders must neither be taken nor counted.
 */
async function ownDatabase(servers: TestServers): Promise<string> {
  const name = `scaled_out_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: servers.databaseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(servers.databaseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** True once every member of `groupIds` has committed up to the end of every partition it reads. */
async function caughtUp(harness: ChoreographyHarness, groupIds: string[]): Promise<boolean> {
  const admin = harness.kafka.admin();
  await admin.connect();
  try {
    for (const groupId of groupIds) {
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId })) {
        const ends = await admin.fetchTopicOffsets(topic);
        for (const { partition, offset } of partitions) {
          const high = ends.find((p) => p.partition === partition)?.high ?? '0';
          if (high !== '0' && offset !== high) return false;
        }
      }
    }
    return true;
  } finally {
    await admin.disconnect();
  }
}

const request = (items: OrderRequest['items'], paymentToken: string): OrderRequest => ({
  orderId: randomUUID(),
  customerId: `customer-${randomUUID().slice(0, 8)}`,
  email: 'ada@example.com',
  items,
  // Below the router: the token where the reference goes (helpers/vault.ts).
  paymentRef: paymentToken,
});

describe('two instances of each consumer group and two outbox relays on one database', () => {
  let harness: ChoreographyHarness;
  let databaseUrl: string;
  const cancelOnCapture = new Set<string>();

  beforeAll(async () => {
    const servers = inject('servers');
    databaseUrl = await ownDatabase(servers);
    harness = await startChoreographyHarness(
      { ...servers, databaseUrl },
      {
        gateway: {
          onCapture: async (charge) => {
            if (cancelOnCapture.has(charge.reference)) await cancelOrder(harness.pool, charge.reference);
          },
        },
      },
    );
    // Two members of every group, each process with its own relay.
    await harness.startInstance({ relays: 1 });
    await harness.startInstance({ relays: 1 });
    const admin = harness.kafka.admin();
    await admin.connect();
    await eventually('both members in every group', async () => {
      const { groups: described } = await admin.describeGroups(groups.map((g) => `${harness.prefix}${g}`));
      return described.every((g) => g.state === 'Stable' && g.members.length === 2);
    });
    await admin.disconnect();
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('ends a burst of 40 orders (approved, declined, cancelled after the charge) with every event published once, applied once by each group, one charge at most and one email each', async () => {
    const smallOrder = [
      { sku: 'KB-001', quantity: 2 },
      { sku: 'MS-002', quantity: 1 },
    ];
    const orders = Array.from({ length: 40 }, (_, i) => {
      const kind: 'declined' | 'cancelled' | 'approved' = i % 8 === 0 ? 'declined' : i % 8 === 1 ? 'cancelled' : 'approved';
      return { kind, request: request(smallOrder, kind === 'declined' ? 'tok_decline' : 'tok_approve') };
    });
    for (const { kind, request: r } of orders) if (kind === 'cancelled') cancelOnCapture.add(r.orderId);
    await Promise.all(orders.map(({ request: r }) => placeChoreographedOrder(harness.pool, r, `corr-${r.orderId}`)));

    const ids = orders.map((o) => o.request.orderId);
    await eventually(
      'every order to end and its email to be recorded',
      async () => {
        const { rows } = await harness.pool.query<{ n: string }>(
          `select count(*) as n from orders.orders o join notifications.sent_messages s using (order_id)
           where o.order_id = any($1) and o.status in ('confirmed', 'cancelled')`,
          [ids],
        );
        return Number(rows[0]!.n) === orders.length;
      },
      120_000,
    );
    // Nothing left to publish, and every group has consumed everything: no late duplicate can follow.
    await eventually('the outbox to drain and every group to catch up', async () => {
      const { rows } = await harness.pool.query<{ n: string }>('select count(*) as n from messaging.outbox where sent_at is null');
      return (
        rows[0]!.n === '0' &&
        (await caughtUp(
          harness,
          groups.map((g) => `${harness.prefix}${g}`),
        ))
      );
    });

    const { rows: statuses } = await harness.pool.query<{ order_id: string; status: string; reason: string | null }>(
      'select order_id, status, reason from orders.orders where order_id = any($1)',
      [ids],
    );
    const expected = { approved: ['confirmed', null], declined: ['cancelled', 'payment_declined'], cancelled: ['cancelled', 'customer_cancelled'] } as const;
    for (const { kind, request: r } of orders) {
      const row = statuses.find((s) => s.order_id === r.orderId);
      expect({ kind, status: row?.status, reason: row?.reason }).toEqual({ kind, status: expected[kind][0], reason: expected[kind][1] });
      expect({
        kind,
        charges: harness.ledger.charges.filter((c) => c.reference === r.orderId).length,
        refunds: harness.ledger.refunds.filter((c) => c.reference === r.orderId).length,
        emails: harness.sink.messages.filter((m) => m.orderId === r.orderId).map((m) => m.subject),
      }).toEqual({
        kind,
        charges: kind === 'declined' ? 0 : 1,
        refunds: kind === 'cancelled' ? 1 : 0,
        emails: [`Order ${r.orderId} ${expected[kind][0]}`],
      });
    }

    // Two relays took turns: no outbox row went to Kafka twice.
    const events = (await readAllEvents(harness.kafka, harness.prefix)).filter((e) => ids.includes(e.orderId));
    const copies = new Map<string, number>();
    for (const e of events) copies.set(e.eventId, (copies.get(e.eventId) ?? 0) + 1);
    expect([...copies].filter(([, n]) => n > 1)).toEqual([]);

    // Each group applied every event it listens to, exactly the set of them (once: the dedupe key is the event id).
    const { rows: processed } = await harness.pool.query<{ consumer_group: string; event_id: string }>(
      'select consumer_group, event_id from messaging.processed_events where event_id = any($1)',
      [[...copies.keys()]],
    );
    for (const group of groups) {
      const listened = events.filter((e) => e.flow === 'choreographed' && choreographySubscriptions[group].includes(e.type)).map((e) => e.eventId);
      const applied = processed.filter((p) => p.consumer_group === `${harness.prefix}${group}`).map((p) => p.event_id);
      expect({ group, applied: applied.sort() }).toEqual({ group, applied: [...new Set(listened)].sort() });
    }
  }, 180_000);

  it('expires each review deadline once when two sweepers (two processes, each its own pool) run at the same time', async () => {
    const reviewed = Array.from({ length: 12 }, () => request([{ sku: 'LT-004', quantity: 1 }], 'tok_approve'));
    await Promise.all(reviewed.map((r) => placeChoreographedOrder(harness.pool, r, `corr-${r.orderId}`)));
    const ids = reviewed.map((r) => r.orderId);
    await eventually('every order to await its review', async () => {
      const { rows } = await harness.pool.query<{ n: string }>(
        "select count(*) as n from orders.orders where order_id = any($1) and status = 'awaiting_review'",
        [ids],
      );
      return Number(rows[0]!.n) === reviewed.length;
    });

    const pools = [createPool(databaseUrl, 4), createPool(databaseUrl, 4)];
    const afterDeadline = new Date(Date.now() + reviewTimeoutMs + 60_000);
    // Each takes one deadline per transaction, so the two interleave over the same rows.
    const sweepUntilDone = async (pool: pg.Pool) => {
      let total = 0;
      for (let n = await sweepReviewDeadlines(pool, afterDeadline, 1); n > 0; n = await sweepReviewDeadlines(pool, afterDeadline, 1)) total += n;
      return total;
    };
    const rejected = await Promise.all([...pools.map(sweepUntilDone), ...pools.map(sweepUntilDone)]);
    await Promise.all(pools.map((p) => p.end()));
    expect(rejected.reduce((a, b) => a + b, 0)).toBe(reviewed.length);

    await eventually(
      'every order to end cancelled with its email',
      async () => {
        const { rows } = await harness.pool.query<{ n: string }>(
          `select count(*) as n from orders.orders o join notifications.sent_messages s using (order_id)
           where o.order_id = any($1) and o.status = 'cancelled' and o.reason = 'review_timeout'`,
          [ids],
        );
        return Number(rows[0]!.n) === reviewed.length;
      },
      120_000,
    );
    const { rows: deadlines } = await harness.pool.query<{ resolution: string }>('select resolution from orders.review_deadlines where order_id = any($1)', [
      ids,
    ]);
    expect(deadlines.map((d) => d.resolution)).toEqual(reviewed.map(() => 'timed_out'));
    for (const r of reviewed) expect(harness.sink.messages.filter((m) => m.orderId === r.orderId)).toHaveLength(1);
  }, 180_000);

  it('lets a sweeper and customers cancelling the same orders at the same time all finish, without a deadlock', async () => {
    const reviewed = Array.from({ length: 6 }, () => request([{ sku: 'LT-004', quantity: 1 }], 'tok_approve'));
    await Promise.all(reviewed.map((r) => placeChoreographedOrder(harness.pool, r, `corr-${r.orderId}`)));
    const ids = reviewed.map((r) => r.orderId);
    await eventually('every order to await its review', async () => {
      const { rows } = await harness.pool.query<{ n: string }>(
        "select count(*) as n from orders.orders where order_id = any($1) and status = 'awaiting_review'",
        [ids],
      );
      return Number(rows[0]!.n) === reviewed.length;
    });
    const { rows: due } = await harness.pool.query<{ order_id: string }>(
      'select order_id from orders.review_deadlines where order_id = any($1) order by due_at',
      [ids],
    );
    const [first, ...others] = due.map((d) => d.order_id);
    // The sweeper meets an order someone else is changing (held here) while customers cancel the
    // orders after it: each side then holds what the other needs next, unless both lock alike.
    const holder = await harness.pool.connect();
    await holder.query('begin');
    await lockOrder(holder, first!);
    const sweeperPool = createPool(databaseUrl, 2);
    const afterDeadline = new Date(Date.now() + reviewTimeoutMs + 60_000);
    const waitingOnLocks = async () =>
      Number(
        (await harness.pool.query<{ n: string }>("select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"))
          .rows[0]!.n,
      );
    let settled = 0;
    const track = <T>(task: Promise<T>) => {
      void task.finally(() => (settled += 1)).catch(() => undefined);
      return task;
    };
    // The sweeper first (it takes the due deadlines, then meets the held order), then the cancels;
    // each step waits until what it started is done or waits for a lock.
    const tasks: Promise<unknown>[] = [track(sweepReviewDeadlines(sweeperPool, afterDeadline))];
    await eventually('the sweeper to be done or waiting on a lock', async () => settled + (await waitingOnLocks()) >= 1);
    tasks.push(...others.map((id) => track(cancelOrder(harness.pool, id))));
    await eventually('the cancels to be done or waiting on a lock', async () => settled + (await waitingOnLocks()) >= tasks.length);
    const work = Promise.allSettled(tasks);
    await holder.query('rollback');
    holder.release();
    const outcomes = await work;
    await sweeperPool.end();
    // A cancel that comes after the timeout has ended the order is refused as such; nothing else may fail.
    const failures = outcomes
      .flatMap((o) => (o.status === 'rejected' ? [String((o.reason as { code?: string }).code ?? o.reason)] : []))
      .filter((code) => code !== 'ORDER_STATE_CONFLICT');
    expect(failures).toEqual([]);
    const { rows } = await harness.pool.query<{ order_id: string; resolution: string | null }>(
      'select order_id, resolution from orders.review_deadlines where order_id = any($1)',
      [others],
    );
    expect(rows.map((r) => r.resolution).every((r) => r === 'timed_out' || r === 'cancelled')).toBe(true);
  }, 180_000);
});

describe('two API instances on one database', () => {
  const apps: Awaited<ReturnType<typeof buildApiApp>>[] = [];
  const closers: (() => Promise<void>)[] = [];
  let pool: pg.Pool;

  beforeAll(async () => {
    const servers = inject('servers');
    await migrateAll(servers.databaseUrl);
    pool = createPool(servers.databaseUrl, 4);
    // A task queue no worker polls: the orchestrated orders are only started, which is all this checks.
    const temporal = loadConfig(Type.Object(TemporalEnv), {
      TEMPORAL_ADDRESS: servers.temporalAddress,
      TEMPORAL_NAMESPACE: servers.temporalNamespace,
      TEMPORAL_TASK_QUEUE: `scaled-out-${randomUUID()}`,
    });
    for (let i = 0; i < 2; i++) {
      // Each instance with its own pool and Temporal connection, as two processes have.
      const own = createPool(servers.databaseUrl, 10);
      const { flows, close } = openOrderFlows(own, temporal, testVault);
      const { verifier, tokens } = testAuth(servers);
      // Each request carries a token of the suite's identity provider: a POST /orders, the customer's its body names (helpers/auth.ts).
      const app = signedIn(
        await buildApiApp({ pool: own, flows, temporalUiUrl: servers.temporalUiUrl, namespace: servers.temporalNamespace, readiness: [], auth: verifier }),
        tokens,
      );
      apps.push(app);
      closers.push(async () => {
        await app.close();
        await close();
        await own.end();
      });
    }
  });

  afterAll(async () => {
    for (const close of closers) await close();
    await pool?.end();
  });

  it.each(['choreographed', 'orchestrated'])(
    'answers the same %s order to a POST sent with the same Idempotency-Key to both at once, and places it once',
    async (flow) => {
      const attempts = Array.from({ length: 10 }, () => ({
        key: `key-${randomUUID()}`,
        body: { customerId: `customer-${randomUUID()}`, email: 'ada@example.com', items: [{ sku: 'MS-002', quantity: 1 }], paymentToken: 'tok_approve', flow },
      }));
      const answers = await Promise.all(
        attempts.map(({ key, body }) =>
          Promise.all(
            apps.map((app) =>
              app.inject({
                method: 'POST',
                url: '/orders',
                headers: { 'content-type': 'application/json', 'idempotency-key': key },
                payload: JSON.stringify(body),
              }),
            ),
          ),
        ),
      );
      for (const [first, second] of answers) {
        expect({ status: first!.statusCode, body: first!.json<unknown>() }).toEqual({ status: 202, body: second!.json<unknown>() });
        expect(second!.statusCode).toBe(202);
      }
      const orderIds = answers.map(([first]) => first!.json<{ orderId: string }>().orderId);
      expect(new Set(orderIds).size).toBe(attempts.length);
      const { rows } = await pool.query<{ n: string }>('select count(*) as n from api.idempotency_keys where idempotency_key = any($1)', [
        attempts.map((a) => a.key),
      ]);
      expect(Number(rows[0]!.n)).toBe(attempts.length);
      if (flow === 'choreographed') {
        // One order row and one order.placed per key: the second instance's place found the first's.
        const { rows: placed } = await pool.query<{ customer_id: string; n: string }>(
          "select o.customer_id, count(*) as n from orders.orders o join messaging.outbox m on m.message_key = o.order_id and m.topic = 'order.placed' where o.customer_id = any($1) group by o.customer_id",
          [attempts.map((a) => a.body.customerId)],
        );
        expect(placed.map((p) => Number(p.n))).toEqual(attempts.map(() => 1));
      } else {
        // One workflow per order id, and it is the one both answers link to; ended here, as no worker runs it.
        const connection = await Connection.connect({ address: inject('servers').temporalAddress });
        const client = new Client({ connection, namespace: inject('servers').temporalNamespace });
        for (const orderId of orderIds) {
          const handle = client.workflow.getHandle(orderWorkflowId(orderId));
          expect((await handle.describe()).status.name).toBe('RUNNING');
          await handle.terminate('test done: no worker polls its task queue');
        }
        await connection.close();
      }
    },
  );
});

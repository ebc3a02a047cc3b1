import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openPersonalData } from '../../src/contexts/customers/personal-data.ts';
import { orderWorkflowId, type Flow } from '../../src/domain/order.ts';
import { deadLetterTopicOf } from '../../src/messaging/topics.ts';
import { projectEvent } from '../../src/projections/projector.ts';
import { readModelQueries } from '../../src/projections/read-model-queries.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import { readAllEvents } from './helpers/event-log.ts';
import { startFullRuntime, type FullRuntime } from './helpers/full-runtime.ts';
import '../setup/servers.ts';

type View = { status?: string; reason?: string | null; notified?: boolean; total?: { amountCents: number } | null; customerId?: string | null };

/**
 * Erasure by crypto-shredding, end to end in both flows: the email is sealed with the customer's
 * key before it goes anywhere; DELETE /customers/:id/personal-data deletes the key, after which no
 * copy can be read, while the orders stay whole and replay still works.
 */
describe('erasure of a customer’s personal data', () => {
  let runtime: FullRuntime;
  const tag = randomUUID().slice(0, 8);
  const emailOf = (flow: Flow) => `erase-${tag}-${flow}@example.com`;
  const customerOf = (flow: Flow) => `erase-${tag}-${flow}`;
  const placed = new Map<Flow, string>();
  const reviewed = new Map<Flow, string>();
  const totals = new Map<Flow, View['total']>();

  const view = async (orderId: string) => {
    const res = await runtime.api.inject({ method: 'GET', url: `/orders/${orderId}` });
    return res.statusCode === 200 ? res.json<View>() : {};
  };
  const place = async (flow: Flow, sku: string) => {
    const res = await runtime.api.inject({
      method: 'POST',
      url: '/orders',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      payload: { customerId: customerOf(flow), email: emailOf(flow), items: [{ sku, quantity: 1 }], paymentToken: 'tok_approve', flow },
    });
    expect(res.statusCode).toBe(202);
    return res.json<{ orderId: string }>().orderId;
  };
  const mailTo = (flow: Flow) =>
    (flow === 'orchestrated' ? runtime.orchestrated.sink : runtime.harness.sink).messages.filter((m) => m.to.includes(emailOf(flow)));

  /** Where the email must never be in clear: every event of the run's topics, every workflow history, every row of the project's tables. */
  const clearCopies = async (): Promise<string[]> => {
    const found: string[] = [];
    const emails = [emailOf('orchestrated'), emailOf('choreographed')];
    const look = (where: string, text: string) => {
      if (emails.some((email) => text.includes(email))) found.push(where);
    };
    look('a Kafka topic', JSON.stringify(await readAllEvents(runtime.harness.kafka, runtime.harness.prefix)));
    for (const orderId of [placed.get('orchestrated')!, reviewed.get('orchestrated')!]) {
      const history = await runtime.orchestrated.client.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory();
      look(
        `the history of ${orderId}`,
        JSON.stringify(history, (_key, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v)),
      );
    }
    const { rows: tables } = await runtime.harness.pool.query<{ name: string }>(
      `select format('%I.%I', table_schema, table_name) as name from information_schema.tables
       where table_schema in ('orders', 'inventory', 'payments', 'notifications', 'customers', 'messaging', 'read_model', 'api') and table_type = 'BASE TABLE'`,
    );
    for (const { name } of tables) {
      const { rows } = await runtime.harness.pool.query<{ row: string }>(`select row_to_json(t)::text as row from ${name} t`);
      for (const { row } of rows) look(name, row);
    }
    return found;
  };

  beforeAll(async () => {
    runtime = await startFullRuntime(inject('servers'));
    // Per flow: an order that completes, and one that waits for review (LT-004) through the erasure.
    for (const flow of ['orchestrated', 'choreographed'] as const) {
      placed.set(flow, await place(flow, 'KB-001'));
      reviewed.set(flow, await place(flow, 'LT-004'));
    }
    for (const flow of ['orchestrated', 'choreographed'] as const) {
      await eventually(`${flow}: the first order confirmed and its email sent`, async () => (await view(placed.get(flow)!)).notified === true, 90_000);
      await eventually(`${flow}: the second order in review`, async () => (await view(reviewed.get(flow)!)).status === 'awaiting_review', 90_000);
      totals.set(flow, (await view(placed.get(flow)!)).total);
    }
  }, 240_000);

  afterAll(() => runtime?.close());

  it('sends the email while the customer has its key, and keeps no copy of it in clear anywhere', async () => {
    for (const flow of ['orchestrated', 'choreographed'] as const) expect(mailTo(flow)).toHaveLength(1);
    expect(await clearCopies()).toEqual([]);
  });

  it('erases for an operator, once: the key is gone, a second erasure deletes nothing', async () => {
    for (const flow of ['orchestrated', 'choreographed'] as const) {
      const erase = () => runtime.api.inject({ method: 'DELETE', url: `/customers/${customerOf(flow)}/personal-data` });
      const first = await erase();
      expect(first.statusCode).toBe(200);
      expect(first.json()).toMatchObject({ customerId: customerOf(flow), keysDeleted: 1 });
      expect((await erase()).json()).toMatchObject({ customerId: customerOf(flow), keysDeleted: 0 });
    }
  });

  it('leaves every sealed copy of the email unreadable, in the events and in the tables', async () => {
    const events = await readAllEvents(runtime.harness.kafka, runtime.harness.prefix);
    for (const flow of ['orchestrated', 'choreographed'] as const) {
      const placedEvent = events.find((e) => e.type === 'order.placed' && e.orderId === placed.get(flow));
      const sealed = (placedEvent?.data as { email?: string } | undefined)?.email ?? '';
      expect(sealed).toMatch(/^pii:v1:/);
      expect(await openPersonalData(runtime.harness.pool, sealed)).toBeUndefined();
      const { rows } = await runtime.harness.pool.query<{ email: string }>('select email from orders.orders where order_id = $1', [placed.get(flow)]);
      expect(await openPersonalData(runtime.harness.pool, rows[0]!.email)).toBeUndefined();
    }
    expect(await clearCopies()).toEqual([]);
  });

  it('keeps the orders whole, and completes an order in flight without an email and without a dead letter', async () => {
    for (const flow of ['orchestrated', 'choreographed'] as const) {
      const done = await view(placed.get(flow)!);
      expect(done).toMatchObject({ status: 'confirmed', customerId: customerOf(flow), total: totals.get(flow) });
      expect((await runtime.api.inject({ method: 'POST', url: `/orders/${reviewed.get(flow)!}/approve` })).statusCode).toBe(202);
      await eventually(`${flow}: the reviewed order confirmed after the erasure`, async () => (await view(reviewed.get(flow)!)).status === 'confirmed', 90_000);
    }
    // The choreography dropped the order's email: nothing pending, nothing dead-lettered, no second email.
    await eventually('the choreographed email dropped', async () => {
      const { rows } = await runtime.harness.pool.query('select 1 from notifications.pending_messages where order_id = $1', [reviewed.get('choreographed')]);
      return rows.length === 0;
    });
    for (const flow of ['orchestrated', 'choreographed'] as const) expect(mailTo(flow)).toHaveLength(1);
    const admin = runtime.harness.kafka.admin();
    await admin.connect();
    try {
      const topics = new Set(await admin.listTopics());
      const letters = deadLetterTopicOf(`${runtime.harness.prefix}notifications`);
      const offsets = topics.has(letters) ? await admin.fetchTopicOffsets(letters) : [];
      expect(offsets.every((o) => o.high === o.low)).toBe(true);
    } finally {
      await admin.disconnect();
    }
  });

  it('replays after the erasure: the workflow histories replay, and the read model refolds the same views from the events', async () => {
    const workflowsPath = createRequire(import.meta.url).resolve('../../src/workflows/index.ts');
    for (const orderId of [placed.get('orchestrated')!, reviewed.get('orchestrated')!]) {
      const history = await runtime.orchestrated.client.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory();
      await Worker.runReplayHistory({ workflowsPath }, history);
    }
    const readModel = readModelQueries(runtime.harness.pool);
    const events = await readAllEvents(runtime.harness.kafka, runtime.harness.prefix);
    for (const orderId of [...placed.values(), ...reviewed.values()]) {
      const before = await readModel.orderView(orderId);
      await runtime.harness.pool.query('delete from read_model.order_timeline where order_id = $1', [orderId]);
      await runtime.harness.pool.query('delete from read_model.order_view where order_id = $1', [orderId]);
      for (const event of events.filter((e) => e.orderId === orderId)) await projectEvent(runtime.harness.pool, event);
      const after = await readModel.orderView(orderId);
      expect({ status: after?.status, total: after?.total, customerId: after?.customerId }).toEqual({
        status: before?.status,
        total: before?.total,
        customerId: before?.customerId,
      });
    }
  });
});

import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { buildApiApp } from '../../src/api/app.ts';
import { orderWorkflowId } from '../../src/domain/order.ts';
import { orderScenarios, type OrderScenario } from '../scenarios/order-scenarios.ts';
import type { ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { startFullRuntime, type FullRuntime } from './helpers/full-runtime.ts';
import { choreographedEventsOf, eventually } from './helpers/choreography-scenarios.ts';
import { readAllEvents } from './helpers/event-log.ts';
import { testVault } from './helpers/vault.ts';
import '../setup/servers.ts';

type Api = Awaited<ReturnType<typeof buildApiApp>>;
type View = { status?: string; reason?: string | null; notified?: boolean };

// The scenario table end to end through HTTP, in both flows (the 24 h review timeout runs in the
// workflow tests and the choreography tests, where the clock can move).
const scenarios = orderScenarios.filter((s) => s.expected.reason !== 'review_timeout');

describe.each(['orchestrated', 'choreographed'] as const)('the scenario table through the HTTP API, %s', (flow) => {
  let harness: ChoreographyHarness;
  let api: Api;
  let runtime: FullRuntime;
  const cancelOnCapture = new Set<string>();
  const outcomes: { scenario: OrderScenario; orderId: string; view: View; events: string[] }[] = [];
  // Every payment token of this run ends with this tag (the gateway ignores what follows a +), and
  // every email carries it (ada+leak…@example.com): where the tag is in clear, a token or an email
  // is (the last test looks for it everywhere neither may be).
  const tokenTag = `+leak${randomUUID().slice(0, 8)}`;
  const logLines: string[] = [];
  const logSink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  const onCapture = async (charge: { reference: string }) => {
    if (cancelOnCapture.has(charge.reference)) await api.inject({ method: 'POST', url: `/orders/${charge.reference}/cancel` });
  };

  beforeAll(async () => {
    // The most verbose logs the processes write: a token in any line of them is found.
    runtime = await startFullRuntime(inject('servers'), {
      gateway: { onCapture },
      apiLogger: pino({ level: 'trace' }, logSink),
      choreographyLogger: pino({ level: 'trace' }, logSink),
    });
    ({ harness, api } = runtime);
    const view = async (orderId: string) => {
      const res = await api.inject({ method: 'GET', url: `/orders/${orderId}` });
      return res.statusCode === 200 ? res.json<View>() : {};
    };

    await Promise.all(
      scenarios.map(async (scenario) => {
        const res = await api.inject({
          method: 'POST',
          url: '/orders',
          headers: { 'content-type': 'application/json', 'idempotency-key': `http-${randomUUID()}` },
          payload: JSON.stringify({
            customerId: 'http-scenarios',
            email: `ada${tokenTag}@example.com`,
            items: scenario.items,
            paymentToken: `${scenario.paymentToken}${tokenTag}`,
            flow,
          }),
        });
        expect(res.statusCode).toBe(202);
        const { orderId } = res.json<{ orderId: string }>();
        if (scenario.action.kind === 'cancel_after_charge') cancelOnCapture.add(orderId);
        const command = { approve: 'approve', reject: 'reject', cancel_during_review: 'cancel' }[scenario.action.kind as string];
        if (command) {
          await eventually(`${orderId} awaiting review`, async () => (await view(orderId)).status === 'awaiting_review');
          expect((await api.inject({ method: 'POST', url: `/orders/${orderId}/${command}` })).statusCode).toBe(202);
        }
        let final: View = {};
        await eventually(
          `${orderId} final and notified`,
          async () => {
            final = await view(orderId);
            return (final.status === 'confirmed' || final.status === 'cancelled') && final.notified === true;
          },
          90_000,
        );
        // The last events of a cancellation (the refund) may land after the email: wait until the
        // timeline holds as many events as the scenario has, then compare which.
        let events: string[] = [];
        const expectedCount = (flow === 'choreographed' ? choreographedEventsOf(scenario) : scenario.expected.events).length;
        await eventually(`${orderId}: ${expectedCount} events in its timeline`, async () => {
          events = (await api.inject({ method: 'GET', url: `/orders/${orderId}/events` })).json<{ events: { type: string }[] }>().events.map((e) => e.type);
          return events.length >= expectedCount;
        });
        outcomes.push({ scenario, orderId, view: final, events });
      }),
    );
  }, 180_000);

  afterAll(() => runtime?.close());

  it("reaches every scenario's final status and reason, as GET /orders/:id shows it", () => {
    expect(outcomes).toHaveLength(scenarios.length);
    for (const { scenario, view } of outcomes) {
      expect({ scenario: scenario.name, status: view.status, reason: view.reason }).toEqual({
        scenario: scenario.name,
        status: scenario.expected.status,
        reason: scenario.expected.reason,
      });
    }
  });

  it("shows every scenario's events in its timeline, as GET /orders/:id/events shows it", () => {
    for (const { scenario, events } of outcomes) {
      // The choreography answers a cancel made before any charge with payment.voided; the workflow needs no event for it.
      const expected = flow === 'choreographed' ? choreographedEventsOf(scenario) : scenario.expected.events;
      expect({ scenario: scenario.name, events: [...events].sort() }).toEqual({ scenario: scenario.name, events: [...expected].sort() });
    }
  });

  it('charged and refunded each order as its scenario says', () => {
    const ledger = flow === 'orchestrated' ? runtime.orchestrated.ledger : harness.ledger;
    for (const { scenario, orderId } of outcomes) {
      expect({
        scenario: scenario.name,
        charges: ledger.charges.filter((c) => c.reference === orderId).length,
        refunds: ledger.refunds.filter((r) => r.reference === orderId).length,
      }).toEqual({
        scenario: scenario.name,
        charges: scenario.expected.charges,
        refunds: scenario.expected.refunds,
      });
    }
  });
  it('leaves the payment tokens and the emails in no topic, workflow history, table, log line or API answer (the vault and the sealed emails aside)', async () => {
    const orderIds = outcomes.map((o) => o.orderId);
    const found: string[] = [];
    const look = (where: string, text: string) => {
      if (text.includes(tokenTag)) found.push(where);
    };
    // Every event of this run's topics.
    look('a Kafka topic', JSON.stringify(await readAllEvents(harness.kafka, harness.prefix)));
    // Every workflow history, its payloads read as text (this runtime has no payload codec: the token would be there in clear).
    if (flow === 'orchestrated') {
      for (const orderId of orderIds)
        look(`the history of ${orderId}`, textOf(await runtime.orchestrated.client.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory()));
    }
    // Every row of every table of the project's schemas, the vault's sealed tokens included (in hex, as bytea reads).
    const { rows: tables } = await harness.pool.query<{ name: string }>(
      `select format('%I.%I', table_schema, table_name) as name from information_schema.tables
       where table_schema in ('orders', 'inventory', 'payments', 'notifications', 'messaging', 'read_model', 'api') and table_type = 'BASE TABLE'`,
    );
    expect(tables.map((t) => t.name)).toContain('payments.vault');
    for (const { name } of tables) {
      const { rows } = await harness.pool.query<{ row: string }>(`select row_to_json(t)::text as row from ${name} t`);
      for (const { row } of rows) {
        look(name, row);
        look(`${name} (hex)`, row.replaceAll(Buffer.from(tokenTag).toString('hex'), tokenTag));
      }
    }
    // Every log line the API and the choreography wrote.
    look('a log line', logLines.join(''));
    // Every answer about the orders.
    for (const orderId of orderIds) {
      for (const url of [`/orders/${orderId}`, `/orders/${orderId}/events`]) look(`GET ${url}`, (await api.inject({ method: 'GET', url })).body);
    }
    look('GET /orders', (await api.inject({ method: 'GET', url: '/orders?customerId=http-scenarios&limit=100' })).body);
    expect(found).toEqual([]);
    // And the vault holds one sealed token per order, which opens to the token the customer gave.
    const { rows: sealed } = await harness.pool.query<{ reference: string; order_id: string }>(
      'select reference, order_id from payments.vault where order_id = any($1)',
      [orderIds],
    );
    expect(sealed).toHaveLength(orderIds.length);
    const first = outcomes[0]!;
    expect(await testVault.reveal(harness.pool, sealed.find((s) => s.order_id === first.orderId)!.reference)).toBe(`${first.scenario.paymentToken}${tokenTag}`);
  });
});

/** A history (or any value) as text, with every byte array (a payload's data, its metadata) read as UTF-8. */
function textOf(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v));
}

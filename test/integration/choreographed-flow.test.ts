import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cancelOrder, decideReview, placeChoreographedOrder } from '../../src/choreography/order-commands.ts';
import { orderScenarios } from '../scenarios/order-scenarios.ts';
import { schemaIdProblems } from './helpers/contracts.ts';
import { startChoreographyHarness, type ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { choreographedEventsOf, eventually, orderStatusOf, runScenarios, type ChoreographedRun } from './helpers/choreography-scenarios.ts';
import { eventsOfOrder, type LoggedEvent } from './helpers/event-log.ts';
import '../setup/servers.ts';

describe.each([
  ['one instance of each consumer group and one relay', 1],
  ['two instances of each consumer group and two relays', 2],
])('choreographed flow over Kafka and PostgreSQL, %s', (_label, instances) => {
  let harness: ChoreographyHarness;
  const cancelOnCapture = new Set<string>();
  let runs: ChoreographedRun[] = [];
  let events: LoggedEvent[] = [];

  beforeAll(async () => {
    harness = await startChoreographyHarness(inject('servers'), {
      gateway: {
        onCapture: async (charge) => {
          if (cancelOnCapture.has(charge.reference)) await cancelOrder(harness.pool, charge.reference);
        },
      },
    });
    const first = await harness.startInstance();
    for (let i = 1; i < instances; i++) await harness.startInstance();
    ({ runs, events } = await runScenarios(harness, first, orderScenarios, cancelOnCapture));
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('reaches the same final status and reason as the orchestrated flow for every scenario', async () => {
    for (const { scenario, request } of runs) {
      expect({ scenario: scenario.name, ...(await orderStatusOf(harness, request.orderId)) }).toEqual({
        scenario: scenario.name,
        status: scenario.expected.status,
        reason: scenario.expected.reason,
      });
    }
  });

  it('publishes the same event types per order, once each after dropping duplicates by id', () => {
    for (const { scenario, request } of runs) {
      const mine = eventsOfOrder(events, request.orderId);
      expect({ scenario: scenario.name, types: mine.map((e) => e.type).sort() }).toEqual({
        scenario: scenario.name,
        types: [...choreographedEventsOf(scenario)].sort(),
      });
      for (const event of mine) expect(event).toMatchObject({ flow: 'choreographed', correlationId: `corr-${request.orderId}` });
    }
  });

  it('sends every event with the registry id of its schema, and each matches the schema that id names', async () => {
    const mine = runs.flatMap(({ request }) => eventsOfOrder(events, request.orderId));
    expect(mine.length).toBeGreaterThan(20);
    expect(await schemaIdProblems(harness.contracts, mine)).toEqual([]);
  });

  it('chains every event to its cause', () => {
    for (const { request } of runs) {
      const mine = eventsOfOrder(events, request.orderId);
      const ids = new Set(mine.map((e) => e.eventId));
      const placed = mine.filter((e) => e.causationId === null).map((e) => e.type);
      // Only the commands (place, cancel, review answers, sweeper) start a chain; everything else names an event of the order.
      expect(placed.every((type) => ['order.placed', 'order.cancel_requested', 'order.approved', 'order.rejected'].includes(type))).toBe(true);
      expect(mine.filter((e) => e.causationId !== null).every((e) => ids.has(e.causationId!))).toBe(true);
    }
  });

  it('captures at most once per order, refunds what it must, and sends one email per order', () => {
    for (const { scenario, request } of runs) {
      expect({
        scenario: scenario.name,
        charges: harness.ledger.charges.filter((c) => c.reference === request.orderId).length,
        refunds: harness.ledger.refunds.filter((r) => r.reference === request.orderId).length,
        emails: harness.sink.messages.filter((m) => m.orderId === request.orderId).map((m) => m.subject),
      }).toEqual({
        scenario: scenario.name,
        charges: scenario.expected.charges,
        refunds: scenario.expected.refunds,
        emails: [`Order ${request.orderId} ${scenario.expected.status}`],
      });
    }
  });

  it('puts back the stock of every cancelled order and keeps it for every confirmed one', async () => {
    for (const { scenario, request } of runs) {
      const { rows } = await harness.pool.query<{ status: string | null }>('select status from inventory.reservations where order_id = $1', [request.orderId]);
      const expected = scenario.expected.reason === 'out_of_stock' ? [] : [{ status: scenario.expected.status === 'confirmed' ? 'reserved' : 'released' }];
      expect({ scenario: scenario.name, rows }).toEqual({ scenario: scenario.name, rows: expected });
    }
  });

  it('leaves nothing in the outbox and nothing in the dead-letter topics', async () => {
    const { rows } = await harness.pool.query<{ unsent: string }>(
      "select count(*) as unsent from messaging.outbox where sent_at is null and payload->>'orderId' = any($1)",
      [runs.map((r) => r.request.orderId)],
    );
    expect(rows[0]?.unsent).toBe('0');
    const admin = harness.kafka.admin();
    await admin.connect();
    for (const group of ['orders', 'inventory', 'payments', 'notifications']) {
      const offsets = await admin.fetchTopicOffsets(`dlq.${harness.prefix}${group}`);
      expect({ group, deadLetters: offsets.reduce((n, p) => n + Number(p.high), 0) }).toEqual({ group, deadLetters: 0 });
    }
    await admin.disconnect();
  });

  it('refuses commands the order state does not allow', async () => {
    const confirmed = runs.find((r) => r.scenario.expected.status === 'confirmed')!;
    await expect(cancelOrder(harness.pool, confirmed.request.orderId)).rejects.toMatchObject({ code: 'ORDER_STATE_CONFLICT' });
    await expect(decideReview(harness.pool, confirmed.request.orderId, 'approve')).rejects.toMatchObject({ code: 'ORDER_STATE_CONFLICT' });
    await expect(cancelOrder(harness.pool, randomUUID())).rejects.toMatchObject({ code: 'ORDER_NOT_FOUND' });
  });

  it('tells a second reviewer that the review was already answered, not that the order awaits review', async () => {
    const reviewed = runs.find((r) => r.scenario.action.kind === 'approve')!;
    const request = { ...reviewed.request, orderId: randomUUID() };
    await placeChoreographedOrder(harness.pool, request, `corr-${request.orderId}`);
    await eventually(`${request.orderId} awaiting review`, async () => (await orderStatusOf(harness, request.orderId))?.status === 'awaiting_review');
    await decideReview(harness.pool, request.orderId, 'approve');
    await expect(decideReview(harness.pool, request.orderId, 'approve')).rejects.toMatchObject({
      code: 'ORDER_STATE_CONFLICT',
      message: expect.stringMatching(/approve is not allowed: (its review was already answered|it is not waiting for review)$/) as unknown,
    });
    await eventually(`${request.orderId} confirmed`, async () => (await orderStatusOf(harness, request.orderId))?.status === 'confirmed');
  });
});

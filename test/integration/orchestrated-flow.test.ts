import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OrderStateConflictError } from '../../src/domain/errors.ts';
import { currentSchemaVersions } from '../../src/domain/events.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import type { OrderSagaStatus } from '../../src/workflows/definitions.ts';
import { orderScenarios, type OrderScenario } from '../scenarios/order-scenarios.ts';
import { schemaIdProblems, testContracts } from './helpers/contracts.ts';
import { eventsOfOrder, readAllEvents, type LoggedEvent } from './helpers/event-log.ts';
import { startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import '../setup/servers.ts';

describe('orchestrated flow against Temporal, Kafka, PostgreSQL, the gateway simulator and SMTP', () => {
  let runtime: OrchestratedRuntime;
  /** Orders to cancel while the gateway holds their capture answer. */
  const cancelOnCapture = new Set<string>();
  const outcomes = new Map<string, { scenario: OrderScenario; request: OrderRequest; result: OrderSagaStatus }>();
  let events: LoggedEvent[] = [];

  const newRequest = (scenario: OrderScenario): OrderRequest => ({
    orderId: randomUUID(),
    customerId: `customer-${randomUUID().slice(0, 8)}`,
    email: 'ada@example.com',
    items: scenario.items,
    paymentRef: scenario.paymentToken,
  });

  const waitForStatus = async (orderId: string, status: string) => {
    for (let i = 0; i < 300; i++) {
      const current = await runtime.sagas.status(orderId).catch(() => undefined);
      if (current?.status === status) return;
      await sleep(100);
    }
    throw new Error(`order ${orderId} never reached ${status}`);
  };

  beforeAll(async () => {
    runtime = await startOrchestratedRuntime(inject('servers'), {
      gateway: {
        onCapture: async (charge) => {
          if (cancelOnCapture.has(charge.reference)) await runtime.sagas.cancel(charge.reference);
        },
      },
    });

    // The whole batch runs at once, each scenario driven through the client's updates.
    await Promise.all(
      orderScenarios.map(async (scenario) => {
        const request = newRequest(scenario);
        if (scenario.action.kind === 'cancel_after_charge') cancelOnCapture.add(request.orderId);
        await runtime.sagas.start(request, `corr-${request.orderId}`);
        const action = scenario.action.kind;
        if (action === 'approve' || action === 'reject' || action === 'cancel_during_review') {
          await waitForStatus(request.orderId, 'awaiting_review');
          await (action === 'approve'
            ? runtime.sagas.approve(request.orderId)
            : action === 'reject'
              ? runtime.sagas.reject(request.orderId)
              : runtime.sagas.cancel(request.orderId));
        } else if (action === 'none' && scenario.expected.reason === 'review_timeout') {
          return; // 24 h of real time: the time-skipping tests cover it
        }
        outcomes.set(scenario.name, { scenario, request, result: await runtime.sagas.result(request.orderId) });
      }),
    );
    events = await readAllEvents(runtime.kafka);
  }, 180_000);

  afterAll(async () => {
    await runtime?.close();
  });

  const ran = () => [...outcomes.values()];

  it('runs every scenario but the 24 h timeout to its final status, reason and compensations', () => {
    expect(ran()).toHaveLength(orderScenarios.length - 1);
    for (const { scenario, result } of ran()) {
      expect({
        scenario: scenario.name,
        status: result.status,
        reason: result.reason,
        compensations: result.compensations,
        stepsDone: result.stepsDone,
      }).toEqual({
        scenario: scenario.name,
        ...scenario.expected,
        events: undefined,
        charges: undefined,
        refunds: undefined,
      } as never);
    }
  });

  it('publishes exactly the expected event types per order, once each after dropping duplicates by id', () => {
    for (const { scenario, request } of ran()) {
      const mine = eventsOfOrder(events, request.orderId);
      expect({ scenario: scenario.name, types: mine.map((e) => e.type).sort() }).toEqual({
        scenario: scenario.name,
        types: [...scenario.expected.events].sort(),
      });
      for (const event of mine) {
        expect(event).toMatchObject({
          flow: 'orchestrated',
          correlationId: `corr-${request.orderId}`,
          schemaVersion: currentSchemaVersions[event.type],
          topic: event.type,
        });
      }
    }
  });

  it('sends every event with the registry id of its schema, and each matches the schema that id names', async () => {
    const mine = ran().flatMap(({ request }) => eventsOfOrder(events, request.orderId));
    expect(mine.length).toBeGreaterThan(20);
    expect(await schemaIdProblems(await testContracts(inject('servers')), mine)).toEqual([]);
  });

  it('keeps one order on one partition, so its events arrive in order per topic', () => {
    for (const { request } of ran()) {
      const partitions = new Set(eventsOfOrder(events, request.orderId).map((e) => e.partition));
      // Every topic has the same partition count and the key is the order id: same partition everywhere.
      expect(partitions.size).toBe(1);
    }
  });

  it('captures at most once per order at the gateway, and refunds what it must', () => {
    for (const { scenario, request } of ran()) {
      const charges = runtime.ledger.charges.filter((c) => c.reference === request.orderId);
      const refunds = runtime.ledger.refunds.filter((r) => r.reference === request.orderId);
      expect({ scenario: scenario.name, charges: charges.length, refunds: refunds.length }).toEqual({
        scenario: scenario.name,
        charges: scenario.expected.charges,
        refunds: scenario.expected.refunds,
      });
    }
  });

  it('records the final status in the orders table and sends the customer one email', async () => {
    for (const { scenario, request } of ran()) {
      const { rows } = await runtime.pool.query<{ status: string; reason: string | null }>('select status, reason from orders.orders where order_id = $1', [
        request.orderId,
      ]);
      expect(rows).toEqual([{ status: scenario.expected.status, reason: scenario.expected.reason }]);
      const mails = runtime.sink.messages.filter((m) => m.orderId === request.orderId);
      expect(mails.map((m) => m.subject)).toEqual([`Order ${request.orderId} ${scenario.expected.status}`]);
    }
  });

  it('lets the Web UI find orders by OrderStatus (a visibility query on the custom search attributes)', async () => {
    const cancelled = ran()
      .filter((o) => o.result.status === 'cancelled')
      .map((o) => `order-${o.request.orderId}`);
    const confirmed = ran()
      .filter((o) => o.result.status === 'confirmed')
      .map((o) => `order-${o.request.orderId}`);
    let listed: string[] = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      listed = [];
      for await (const wf of runtime.client.workflow.list({ query: `OrderStatus = "cancelled" AND Flow = "orchestrated"` })) listed.push(wf.workflowId);
      if (cancelled.every((id) => listed.includes(id))) break;
      await sleep(200);
    }
    expect(listed).toEqual(expect.arrayContaining(cancelled));
    expect(listed.filter((id) => confirmed.includes(id))).toEqual([]);
  });

  it('never starts a second saga for a resubmitted order', async () => {
    const request = newRequest(orderScenarios[0]!);
    const first = await runtime.sagas.start(request, 'corr-resubmit');
    const again = await runtime.sagas.start(request, 'corr-resubmit');
    await runtime.sagas.result(request.orderId);
    const afterEnd = await runtime.sagas.start(request, 'corr-resubmit');
    expect(again.runId).toBe(first.runId);
    expect(afterEnd.runId).toBe(first.runId);
  });

  it('refuses to cancel a confirmed order and to approve an order that is not under review', async () => {
    const confirmed = ran().find((o) => o.result.status === 'confirmed')!;
    await expect(runtime.sagas.cancel(confirmed.request.orderId)).rejects.toBeInstanceOf(OrderStateConflictError);
    await expect(runtime.sagas.approve(confirmed.request.orderId)).rejects.toMatchObject({ code: 'ORDER_STATE_CONFLICT' });
    await expect(runtime.sagas.cancel(randomUUID())).rejects.toMatchObject({ code: 'ORDER_NOT_FOUND' });
  });

  it('tells a second reviewer that the review was already answered, not that the order awaits review', async () => {
    const request = newRequest(orderScenarios.find((s) => s.action.kind === 'approve')!);
    await runtime.sagas.start(request, `corr-${request.orderId}`);
    await waitForStatus(request.orderId, 'awaiting_review');
    await runtime.sagas.approve(request.orderId);
    // The order may still be awaiting review for a moment, or already past it: either way the answer says why.
    await expect(runtime.sagas.approve(request.orderId)).rejects.toMatchObject({
      code: 'ORDER_STATE_CONFLICT',
      message: expect.stringMatching(/approve is not allowed: (its review was already answered \(approved\)|it is not waiting for review)$/) as unknown,
    });
    expect((await runtime.sagas.result(request.orderId)).status).toBe('confirmed');
  });
});

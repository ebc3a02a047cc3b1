import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { buildApiApp } from '../../src/api/app.ts';
import { orderScenarios, type OrderScenario } from '../scenarios/order-scenarios.ts';
import type { ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { startFullRuntime, type FullRuntime } from './helpers/full-runtime.ts';
import { choreographedEventsOf, eventually } from './helpers/choreography-scenarios.ts';
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
  const onCapture = async (charge: { reference: string }) => {
    if (cancelOnCapture.has(charge.reference)) await api.inject({ method: 'POST', url: `/orders/${charge.reference}/cancel` });
  };

  beforeAll(async () => {
    runtime = await startFullRuntime(inject('servers'), { gateway: { onCapture } });
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
          payload: JSON.stringify({ customerId: 'http-scenarios', email: 'ada@example.com', items: scenario.items, paymentToken: scenario.paymentToken, flow }),
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
});

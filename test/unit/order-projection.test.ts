import { describe, expect, it } from 'vitest';
import type { EventEnvelope, EventType } from '../../src/domain/events.ts';
import { projectOrder } from '../../src/projections/order-projection.ts';
import { orderScenarios } from '../scenarios/order-scenarios.ts';

const dataFor = (type: EventType, reason: string | null): Record<string, unknown> => {
  switch (type) {
    case 'order.placed':
      return { customerId: 'c-1', email: 'a@b.c', items: [{ sku: 'KB-001', quantity: 1 }] };
    case 'inventory.reserved':
      return { lines: [], total: { amountCents: 8900, currency: 'USD' } };
    case 'payment.failed':
      return { reason: 'payment_declined', message: 'declined' };
    case 'order.cancelled':
      return { reason };
    default:
      return {};
  }
};

/** The scenario's events as envelopes, one second apart, in publication order. */
const eventsOf = (types: EventType[], reason: string | null): EventEnvelope[] =>
  types.map((type, i) => ({
    eventId: `e-${i}`,
    type,
    schemaVersion: 1,
    occurredAt: new Date(Date.UTC(2026, 10, 27, 12, 0, i)).toISOString(),
    orderId: 'o-1',
    correlationId: 'c',
    causationId: i === 0 ? null : `e-${i - 1}`,
    producer: 'test',
    flow: 'choreographed',
    data: dataFor(type, reason) as never,
  }));

/** Deterministic shuffles: reversed, rotated, odd-even. */
const arrivals = <T>(items: T[]): T[][] => [
  items,
  [...items].reverse(),
  [...items.slice(3), ...items.slice(0, 3)],
  [...items.filter((_, i) => i % 2), ...items.filter((_, i) => !(i % 2))],
];

describe('order projection', () => {
  it.each(orderScenarios.map((s) => [s.name, s] as const))(
    '%s: the view has the final status and reason whatever order the events arrive in',
    (_name, scenario) => {
      const events = eventsOf(scenario.expected.events, scenario.expected.reason);
      const views = arrivals(events).map((arrival) => projectOrder(arrival));
      for (const view of views) expect(view).toEqual(views[0]);
      expect(views[0]).toMatchObject({
        status: scenario.expected.status,
        reason: scenario.expected.reason,
        eventCount: scenario.expected.events.length,
        notified: true,
      });
      expect(views[0]!.paymentStatus).toBe(
        scenario.expected.refunds
          ? 'refunded'
          : scenario.expected.charges
            ? 'captured'
            : scenario.expected.events.includes('payment.failed')
              ? 'declined'
              : null,
      );
    },
  );

  it('shows the furthest status an event proves, so a partial timeline never looks further back than it is', () => {
    const [placed, reserved, paid] = eventsOf(['order.placed', 'inventory.reserved', 'payment.completed'], null);
    expect(projectOrder([paid!]).status).toBe('paid');
    expect(projectOrder([reserved!, placed!]).status).toBe('reserved');
  });
});

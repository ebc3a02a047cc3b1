import { describe, expect, it } from 'vitest';
import { handOffs, summarize, type TimelineEvent } from '../../src/console/timeline.ts';

/** A timeline event `ms` after 12:00:00, caused by `cause`. */
const event = (eventId: string, type: string, ms: number, cause: string | null, data: unknown = {}): TimelineEvent => ({
  eventId,
  type,
  occurredAt: new Date(Date.UTC(2026, 10, 30, 12, 0, 0, ms)).toISOString(),
  producer: type.split('.')[0]!,
  flow: 'choreographed',
  causationId: cause,
  correlationId: 'c',
  data,
});

describe("the console's timeline summary", () => {
  const choreographed = [
    event('e1', 'order.placed', 0, null, { items: [{ sku: 'KB-001', quantity: 2 }] }),
    event('e2', 'inventory.reserved', 40, 'e1', { total: { amountCents: 17800, currency: 'USD' } }),
    event('e3', 'payment.completed', 95, 'e2', { amount: { amountCents: 17800, currency: 'USD' }, chargeId: 'ch' }),
    event('e4', 'order.confirmed', 130, 'e3', { total: { amountCents: 17800, currency: 'USD' } }),
    event('e5', 'notification.sent', 180, 'e4', { template: 'order_confirmed', messageId: 'm' }),
  ];

  it('times each step from placement, names its cause and sums the chain of hand-offs to the end', () => {
    // Given out of order: the summary sorts by time.
    const summary = summarize([...choreographed].reverse());
    expect(summary.steps.map((s) => [s.type, s.at, s.took, s.causedBy])).toEqual([
      ['order.placed', 0, 0, null],
      ['inventory.reserved', 40, 40, 'order.placed'],
      ['payment.completed', 95, 55, 'inventory.reserved'],
      ['order.confirmed', 130, 35, 'payment.completed'],
      ['notification.sent', 180, 50, 'order.confirmed'],
    ]);
    expect(summary).toMatchObject({ end: 'confirmed', toEnd: 130, events: 5, hops: 3, compensations: 0 });
    expect(summary.steps.map((s) => s.detail)).toEqual(['2 × KB-001', '178.00 USD', '178.00 USD', '178.00 USD', 'order_confirmed']);
  });

  it('counts no hand-off for steps whose cause is outside the timeline (a workflow), and marks compensations', () => {
    const orchestrated = [
      event('o1', 'order.placed', 0, null),
      event('o2', 'inventory.reserved', 30, 'wf'),
      event('o3', 'payment.failed', 60, 'wf', { reason: 'payment_declined', message: 'card declined' }),
      event('o4', 'inventory.released', 70, 'wf', { lines: [] }),
      event('o5', 'order.cancelled', 80, 'wf', { reason: 'payment_declined' }),
    ];
    const summary = summarize(orchestrated);
    expect(summary).toMatchObject({ end: 'cancelled', toEnd: 80, hops: 0, compensations: 1 });
    expect(summary.steps.map((s) => s.kind)).toEqual(['step', 'step', 'failure', 'compensation', 'end']);
    expect(summary.steps[2]!.detail).toBe('payment_declined: card declined');
  });

  it('has no end while the order runs, and a cycle of causes does not loop', () => {
    const running = summarize([event('a', 'order.placed', 0, 'b'), event('b', 'inventory.reserved', 10, 'a')]);
    expect(running).toMatchObject({ end: null, toEnd: null, events: 2, hops: 1 });
  });

  it('counts the hand-offs by what carries them: a Kafka message per step, or two Temporal tasks per step and one to start', () => {
    const summary = summarize(choreographed);
    expect(handOffs('choreographed', summary)).toBe(3);
    expect(handOffs('orchestrated', summary)).toBe(7);
    expect(handOffs('orchestrated', summarize([]))).toBe(0);
  });
});

import { Counter, Histogram, type Registry } from 'prom-client';
import type { EventEnvelope } from '../domain/events.ts';

/** What the metrics read of the order's read-model view (src/projections' OrderView fits): observability depends on nothing above platform and domain. */
export interface EndedOrderView {
  reason: string | null;
  placedAt: string | null;
}

/** Outcomes and durations of orders in both flows, counted by the projector as orders end. */
export function createOrderMetrics(registry: Registry) {
  const ended = new Counter({
    name: 'orders_completed_total',
    help: 'Orders that reached a final state, by flow, outcome (confirmed or cancelled) and cancellation reason',
    labelNames: ['flow', 'outcome', 'reason'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'order_saga_duration_seconds',
    help: 'Time from order.placed to the final event of the order (confirmed or cancelled), by flow and outcome',
    labelNames: ['flow', 'outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86_400],
    registers: [registry],
  });
  return {
    /** Records a final event the projector applied for the first time. */
    orderEnded(event: EventEnvelope, view: EndedOrderView) {
      const outcome = event.type === 'order.confirmed' ? 'confirmed' : 'cancelled';
      ended.inc({ flow: event.flow, outcome, reason: outcome === 'confirmed' ? 'none' : (view.reason ?? 'unknown') });
      if (view.placedAt) duration.observe({ flow: event.flow, outcome }, Math.max(0, (Date.parse(event.occurredAt) - Date.parse(view.placedAt)) / 1000));
    },
  };
}

export type OrderMetrics = ReturnType<typeof createOrderMetrics>;

/** An event of an order's timeline, as `GET /orders/:id/events` and the stream answer it. */
export interface TimelineEvent {
  eventId: string;
  type: string;
  occurredAt: string;
  producer: string;
  flow: string;
  causationId: string | null;
  correlationId: string;
  data: unknown;
}

/** What a step did to the order. */
export type StepKind = 'step' | 'review' | 'failure' | 'compensation' | 'end';

/** One event of the timeline, as the page shows it. */
export interface Step {
  eventId: string;
  type: string;
  producer: string;
  kind: StepKind;
  /** Milliseconds since `order.placed` (or since the first event, if that one is not in yet). */
  at: number;
  /** Milliseconds since the event before it. */
  took: number;
  /** The type of the event that caused it, when that event is in the timeline. */
  causedBy: string | null;
  /** What the data says in a few words (a reason, an amount, a template). */
  detail: string;
}

/** An order's timeline, summed up for the side-by-side view. */
export interface TimelineSummary {
  steps: Step[];
  /** `confirmed` or `cancelled` once the order has ended, else null. */
  end: 'confirmed' | 'cancelled' | null;
  /** Milliseconds from placement to its end, once it has ended. */
  toEnd: number | null;
  /** When the order was placed (epoch milliseconds). */
  placedAt: number;
  events: number;
  /**
   * Steps on the way to the end (or to the latest event): the links of the chain of causes that
   * ends there (each event caused by the one before it). Both flows record the same chain; what
   * carries a link differs (see {@link handOffs}).
   */
  hops: number;
  compensations: number;
}

const kinds: Record<string, StepKind> = {
  'order.review_requested': 'review',
  'order.approved': 'review',
  'order.rejected': 'failure',
  'inventory.rejected': 'failure',
  'payment.failed': 'failure',
  'order.cancel_requested': 'compensation',
  'inventory.released': 'compensation',
  'payment.refunded': 'compensation',
  'payment.voided': 'compensation',
  'order.confirmed': 'end',
  'order.cancelled': 'end',
};

/** A few words on what an event's data says. */
function detailOf(type: string, data: unknown): string {
  const d = (data ?? {}) as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === 'string' || typeof value === 'number' ? String(value) : '');
  const money = (m: unknown) => {
    const { amountCents, currency } = (m ?? {}) as { amountCents?: number; currency?: string };
    return typeof amountCents === 'number' ? `${(amountCents / 100).toFixed(2)} ${currency ?? ''}`.trim() : '';
  };
  switch (type) {
    case 'order.placed':
      return Array.isArray(d.items) ? (d.items as { sku: string; quantity: number }[]).map((i) => `${i.quantity} × ${i.sku}`).join(', ') : '';
    case 'inventory.reserved':
    case 'order.review_requested':
    case 'order.confirmed':
      return money(d.total);
    case 'payment.completed':
    case 'payment.refunded':
      return money(d.amount);
    case 'inventory.rejected':
      return `${text(d.reason)} ${text(d.sku)}`.trim();
    case 'payment.failed':
      return `${text(d.reason)}: ${text(d.message)}`;
    case 'order.rejected':
    case 'order.cancel_requested':
    case 'order.cancelled':
    case 'payment.voided':
      return text(d.reason);
    case 'inventory.released':
      return text(d.reason);
    case 'notification.sent':
      return text(d.template);
    default:
      return '';
  }
}

/** Sums up a timeline (events in any order; they are sorted by time). */
export function summarize(events: readonly TimelineEvent[]): TimelineSummary {
  const sorted = [...events].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt) || a.eventId.localeCompare(b.eventId));
  const byId = new Map(sorted.map((e) => [e.eventId, e]));
  const placed = sorted.find((e) => e.type === 'order.placed') ?? sorted[0];
  const start = placed ? Date.parse(placed.occurredAt) : 0;
  let previous = start;
  const steps = sorted.map((e): Step => {
    const time = Date.parse(e.occurredAt);
    const step: Step = {
      eventId: e.eventId,
      type: e.type,
      producer: e.producer,
      kind: kinds[e.type] ?? 'step',
      at: time - start,
      took: Math.max(0, time - previous),
      causedBy: e.causationId ? (byId.get(e.causationId)?.type ?? null) : null,
      detail: detailOf(e.type, e.data),
    };
    previous = time;
    return step;
  });
  const ended = sorted.find((e) => e.type === 'order.confirmed' || e.type === 'order.cancelled');
  const chainEnd = ended ?? sorted[sorted.length - 1];
  return {
    steps,
    end: ended ? (ended.type === 'order.confirmed' ? 'confirmed' : 'cancelled') : null,
    toEnd: ended ? Date.parse(ended.occurredAt) - start : null,
    placedAt: start,
    events: sorted.length,
    hops: chainEnd ? chainLength(chainEnd, byId) - 1 : 0,
    compensations: steps.filter((s) => s.kind === 'compensation').length,
  };
}

/** The number of events on the chain of causes that ends at `event` (a cause outside the timeline ends it). */
function chainLength(event: TimelineEvent, byId: ReadonlyMap<string, TimelineEvent>): number {
  let length = 1;
  const seen = new Set([event.eventId]);
  for (let cause = event.causationId; cause && byId.has(cause) && !seen.has(cause); cause = byId.get(cause)?.causationId ?? null) {
    seen.add(cause);
    length += 1;
  }
  return length;
}

/**
 * What carried the order from step to step, counted: in the choreographed flow each link of the
 * chain of causes is one Kafka message that the next service consumes; in the orchestrated flow
 * each is two tasks through the Temporal server (the activity task that runs the step, and the
 * workflow task that takes its result and schedules the next), plus the workflow task that starts
 * the saga. A model of each flow's mechanics applied to the measured chain, not a count of packets.
 */
export function handOffs(flow: string, summary: Pick<TimelineSummary, 'hops' | 'events'>): number {
  if (summary.events === 0) return 0;
  return flow === 'orchestrated' ? 2 * summary.hops + 1 : summary.hops;
}

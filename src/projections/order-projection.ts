import type { EventEnvelope } from '../domain/events.ts';
import type { OrderStatus } from '../domain/order.ts';

/** An order as the read model shows it. */
export interface OrderView {
  orderId: string;
  flow: EventEnvelope['flow'];
  customerId: string | null;
  items: { sku: string; quantity: number }[] | null;
  status: OrderStatus;
  reason: string | null;
  totalCents: number | null;
  currency: string | null;
  /** `voided`: the choreographed payments context answered a cancel with "nothing charged, and nothing will be". */
  paymentStatus: 'captured' | 'declined' | 'unavailable' | 'refunded' | 'voided' | null;
  stockStatus: 'reserved' | 'rejected' | 'released' | null;
  notified: boolean;
  eventCount: number;
  placedAt: string | null;
  updatedAt: string;
}

/** Rank of each status: the view shows the furthest one any event proves. */
const statusRank: Record<OrderStatus, number> = { pending: 0, reserved: 1, awaiting_review: 2, paid: 3, confirmed: 4, cancelled: 5 };

/** The status an event proves the order reached, if any. */
function statusProvenBy(event: EventEnvelope): OrderStatus | undefined {
  switch (event.type) {
    case 'order.placed':
      return 'pending';
    case 'inventory.reserved':
      return 'reserved';
    case 'order.review_requested':
      return 'awaiting_review';
    case 'payment.completed':
      return 'paid';
    case 'order.confirmed':
      return 'confirmed';
    case 'order.cancelled':
      return 'cancelled';
    default:
      return undefined;
  }
}

/**
 * Folds all the known events of one order into its view. The result depends only on the set of
 * events, not on their arrival order: a late or duplicated event cannot move the view backwards
 * (statuses only move forward, final ones win), so the projector simply refolds an order's
 * timeline whenever a new event arrives.
 */
export function projectOrder(events: readonly EventEnvelope[]): OrderView {
  const sorted = [...events].sort((a, b) => a.occurredAt.localeCompare(b.occurredAt) || a.eventId.localeCompare(b.eventId));
  const first = sorted[0];
  if (!first) throw new Error('an order view needs at least one event');
  const view: OrderView = {
    orderId: first.orderId,
    flow: first.flow,
    customerId: null,
    items: null,
    status: 'pending',
    reason: null,
    totalCents: null,
    currency: null,
    paymentStatus: null,
    stockStatus: null,
    notified: false,
    eventCount: sorted.length,
    placedAt: null,
    updatedAt: sorted[sorted.length - 1]!.occurredAt,
  };
  for (const event of sorted) {
    const proven = statusProvenBy(event);
    if (proven && statusRank[proven] > statusRank[view.status]) view.status = proven;
    switch (event.type) {
      case 'order.placed':
        view.customerId = event.data.customerId;
        view.items = event.data.items;
        view.placedAt = event.occurredAt;
        break;
      case 'inventory.reserved': {
        const { total } = event.data;
        view.totalCents = total.amountCents;
        view.currency = total.currency;
        if (view.stockStatus === null) view.stockStatus = 'reserved';
        break;
      }
      case 'inventory.rejected':
        view.stockStatus = 'rejected';
        break;
      case 'inventory.released':
        view.stockStatus = 'released';
        break;
      case 'payment.completed':
        if (view.paymentStatus !== 'refunded') view.paymentStatus = 'captured';
        break;
      case 'payment.failed':
        view.paymentStatus = event.data.reason === 'payment_declined' ? 'declined' : 'unavailable';
        break;
      case 'payment.refunded':
        view.paymentStatus = 'refunded';
        break;
      case 'payment.voided':
        if (view.paymentStatus === null) view.paymentStatus = 'voided';
        break;
      case 'order.cancelled':
        view.reason = event.data.reason;
        break;
      case 'notification.sent':
        view.notified = true;
        break;
      default:
        break;
    }
  }
  return view;
}

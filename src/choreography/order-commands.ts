import type pg from 'pg';
import { createOrder } from '../contexts/orders/order-store.ts';
import { OrderNotFoundError, OrderStateConflictError } from '../domain/errors.ts';
import type { EventData, EventType } from '../domain/events.ts';
import type { CancellationReason, OrderRequest, OrderStatus } from '../domain/order.ts';
import { createEnvelope } from '../messaging/envelope.ts';
import { deterministicEventId } from '../messaging/event-ids.ts';
import { addToOutbox } from '../messaging/outbox.ts';
import { withTransaction, type Queryable } from '../platform/database.ts';

/** How long a review may wait before the sweeper rejects the order (DESIGN: 24 h). */
export const reviewTimeoutMs = 24 * 60 * 60 * 1000;

/** Adds one event of the orders context to the outbox, with an id derived from the order and `parts`. */
export async function emitOrderEvent<T extends EventType>(
  tx: Queryable,
  order: { orderId: string; correlationId: string },
  type: T,
  data: EventData<T>,
  causationId: string | null = null,
): Promise<string> {
  const event = createEnvelope({
    eventId: deterministicEventId('orders', order.orderId, type),
    type,
    orderId: order.orderId,
    correlationId: order.correlationId,
    causationId,
    producer: 'orders',
    flow: 'choreographed',
    data,
  });
  await addToOutbox(tx, [event]);
  return event.eventId;
}

/**
 * Accepts a choreographed order: the order row and its `order.placed` event in one transaction.
 * Submitting the same order again changes nothing and emits nothing.
 * @throws OrderConflictError when the id exists with other contents.
 */
export async function placeOrder(pool: pg.Pool, request: OrderRequest, correlationId: string): Promise<{ created: boolean }> {
  return withTransaction(pool, async (tx) => {
    const { created } = await createOrder(tx, request, 'choreographed');
    if (!created) return { created };
    await tx.query('update orders.orders set correlation_id = $2 where order_id = $1', [request.orderId, correlationId]);
    const { customerId, email, items, paymentToken } = request;
    await emitOrderEvent(tx, { orderId: request.orderId, correlationId }, 'order.placed', { customerId, email, items, paymentToken });
    return { created };
  });
}

interface LockedOrder {
  orderId: string;
  status: OrderStatus;
  correlationId: string;
  cancelRequested: boolean;
  /** payment.completed was seen before the order was reserved (events of two topics cross). */
  paymentCompleted: boolean;
  /** The stock was released (with this reason) while the order waited for payments to settle a cancel. */
  stockReleased: boolean;
  releaseReason: CancellationReason | null;
  /** Payments answered the cancel: refunded, or nothing charged and nothing will be. */
  paymentSettled: boolean;
  totalCents: number | null;
  currency: string | null;
}

/** Reads the order under a row lock, so commands and handlers on one order take turns. */
export async function lockOrder(tx: Queryable, orderId: string): Promise<LockedOrder | undefined> {
  const { rows } = await tx.query<{
    status: OrderStatus;
    correlation_id: string | null;
    cancel_requested_at: Date | null;
    payment_completed_at: Date | null;
    stock_released_at: Date | null;
    release_reason: CancellationReason | null;
    payment_settled_at: Date | null;
    total_cents: number | null;
    currency: string | null;
  }>(
    `select status, correlation_id, cancel_requested_at, payment_completed_at, stock_released_at, release_reason, payment_settled_at, total_cents, currency
       from orders.orders where order_id = $1 for update`,
    [orderId],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    orderId,
    status: row.status,
    correlationId: row.correlation_id ?? orderId,
    cancelRequested: row.cancel_requested_at !== null,
    paymentCompleted: row.payment_completed_at !== null,
    stockReleased: row.stock_released_at !== null,
    releaseReason: row.release_reason,
    paymentSettled: row.payment_settled_at !== null,
    totalCents: row.total_cents,
    currency: row.currency,
  };
}

/**
 * The customer cancels: allowed until the order is confirmed. Emits `order.cancel_requested`;
 * inventory releases, payments refunds or confirms that nothing was and will be charged, and the
 * order ends cancelled once both have answered. A second cancel is a no-op.
 * @throws OrderStateConflictError when the order is confirmed or already cancelled.
 */
export async function cancelOrder(pool: pg.Pool, orderId: string): Promise<void> {
  await withTransaction(pool, async (tx) => {
    const order = await lockOrder(tx, orderId);
    if (!order) throw new OrderNotFoundError(orderId);
    if (order.status === 'confirmed' || order.status === 'cancelled') throw new OrderStateConflictError(orderId, order.status, 'cancel');
    if (order.cancelRequested) return;
    await tx.query('update orders.orders set cancel_requested_at = now() where order_id = $1', [orderId]);
    await tx.query(`update orders.review_deadlines set resolved_at = now(), resolution = 'cancelled' where order_id = $1 and resolved_at is null`, [orderId]);
    await emitOrderEvent(tx, order, 'order.cancel_requested', { reason: 'customer_cancelled' });
  });
}

/**
 * A reviewer answers: approve lets payments charge, reject releases the stock and cancels.
 * @throws OrderStateConflictError when the order is not waiting for review.
 */
export async function decideReview(pool: pg.Pool, orderId: string, decision: 'approve' | 'reject'): Promise<void> {
  await withTransaction(pool, async (tx) => {
    const order = await lockOrder(tx, orderId);
    if (!order) throw new OrderNotFoundError(orderId);
    const resolved = await tx.query(
      `update orders.review_deadlines set resolved_at = now(), resolution = $2 where order_id = $1 and resolved_at is null returning 1`,
      [orderId, decision === 'approve' ? 'approved' : 'rejected'],
    );
    if (order.status !== 'awaiting_review' || order.cancelRequested || resolved.rowCount === 0) throw new OrderStateConflictError(orderId, order.status, decision);
    if (decision === 'approve') {
      const total = order.totalCents !== null && order.currency !== null ? { amountCents: order.totalCents, currency: order.currency } : undefined;
      await emitOrderEvent(tx, order, 'order.approved', total ? { total } : {});
    } else {
      await emitOrderEvent(tx, order, 'order.rejected', { reason: 'review_rejected' });
    }
  });
}

/**
 * The review timeout of the choreographed flow, which has no durable timer: rejects every order
 * whose review deadline passed by `now` and is still unanswered. Runs in one transaction per
 * call; `skip locked` lets several sweepers share the work.
 * @returns how many orders it rejected.
 */
export async function sweepReviewDeadlines(pool: pg.Pool, now: Date, limit = 100): Promise<number> {
  return withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<{ order_id: string }>(
      'select order_id from orders.review_deadlines where resolved_at is null and due_at <= $1 order by due_at limit $2 for update skip locked',
      [now, limit],
    );
    let rejected = 0;
    for (const { order_id: orderId } of rows) {
      const order = await lockOrder(tx, orderId);
      await tx.query(`update orders.review_deadlines set resolved_at = now(), resolution = 'timed_out' where order_id = $1`, [orderId]);
      if (order?.status === 'awaiting_review' && !order.cancelRequested) {
        await emitOrderEvent(tx, order, 'order.rejected', { reason: 'review_timeout' });
        rejected += 1;
      }
    }
    return rejected;
  });
}

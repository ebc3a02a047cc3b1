import type { CancellationReason, OrderStatus } from '../../domain/order.ts';
import type { Queryable } from '../../platform/database.ts';

// The columns of orders.orders that only the choreographed flow uses (migrations
// 1795000100000_choreography.sql, 1795000300000_early_payment.sql, 1795000400000_cancel_settlement.sql):
// with no coordinator, the orders group remembers here what it learnt from events that crossed.
// Each marker below is idempotent: it sets a flag that a second call leaves set.

/** An order read under its row lock, with what the choreography remembers about it. */
export interface LockedOrder {
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

/** Reads the order under a row lock, so commands and handlers on one order take turns; undefined when there is none. */
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

/** Records the correlation id the order's events carry (set once, when the order is accepted). */
export async function recordCorrelationId(tx: Queryable, orderId: string, correlationId: string): Promise<void> {
  await tx.query('update orders.orders set correlation_id = $2 where order_id = $1', [orderId, correlationId]);
}

/** Records that the customer asked to cancel the order. */
export async function markCancelRequested(tx: Queryable, orderId: string): Promise<void> {
  await tx.query('update orders.orders set cancel_requested_at = now() where order_id = $1', [orderId]);
}

/** Records that the payment was captured before the order was reserved; the reservation settles it. */
export async function markPaymentCompleted(tx: Queryable, orderId: string): Promise<void> {
  await tx.query('update orders.orders set payment_completed_at = now() where order_id = $1', [orderId]);
}

/** Records that payments answered the order's cancel (refunded, or nothing charged and nothing will be). */
export async function markPaymentSettled(tx: Queryable, orderId: string): Promise<void> {
  await tx.query('update orders.orders set payment_settled_at = now() where order_id = $1', [orderId]);
}

/** Records that the stock was released, and why, while the order waits for payments to settle its cancel. */
export async function markStockReleased(tx: Queryable, orderId: string, reason: CancellationReason): Promise<void> {
  await tx.query('update orders.orders set stock_released_at = now(), release_reason = $2 where order_id = $1', [orderId, reason]);
}

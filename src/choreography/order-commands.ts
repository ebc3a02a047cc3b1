import type pg from 'pg';
import { lockOrder, markCancelRequested, recordCorrelationId } from '../contexts/orders/choreography-state.ts';
import { createOrder } from '../contexts/orders/order-store.ts';
import { lockDueReviewDeadlines, resolveReviewDeadline } from '../contexts/orders/review-deadlines.ts';
import { OrderNotFoundError, OrderStateConflictError } from '../domain/errors.ts';
import type { EventData, EventType } from '../domain/events.ts';
import type { OrderRequest } from '../domain/order.ts';
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
export async function placeChoreographedOrder(pool: pg.Pool, request: OrderRequest, correlationId: string): Promise<{ created: boolean }> {
  return withTransaction(pool, async (tx) => {
    const { created } = await createOrder(tx, request, 'choreographed');
    if (!created) return { created };
    await recordCorrelationId(tx, request.orderId, correlationId);
    const { customerId, email, items, paymentRef } = request;
    await emitOrderEvent(tx, { orderId: request.orderId, correlationId }, 'order.placed', { customerId, email, items, payment: { ref: paymentRef } });
    return { created };
  });
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
    await markCancelRequested(tx, orderId);
    await resolveReviewDeadline(tx, orderId, 'cancelled');
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
    const resolved = await resolveReviewDeadline(tx, orderId, decision === 'approve' ? 'approved' : 'rejected');
    if (order.status !== 'awaiting_review' || order.cancelRequested || !resolved) {
      // Two reviewers (or two API instances) answering at once: the second finds the order still
      // awaiting review, with its answer already taken.
      const why =
        order.status !== 'awaiting_review'
          ? 'it is not waiting for review'
          : order.cancelRequested
            ? 'a cancel was requested'
            : 'its review was already answered';
      throw new OrderStateConflictError(orderId, order.status, decision, why);
    }
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
 * call; it locks each order before its deadline, as cancel and the review answer do, so none of
 * them deadlocks with it, and `skip locked` lets several sweepers share the work.
 * @returns how many orders it rejected.
 */
export async function sweepReviewDeadlines(pool: pg.Pool, now: Date, limit = 100): Promise<number> {
  return withTransaction(pool, async (tx) => {
    let rejected = 0;
    for (const orderId of await lockDueReviewDeadlines(tx, now, limit)) {
      // Its order is locked (above, the same lock: this reads it); the deadline is ours only if
      // nobody resolved it since the sweep's snapshot (another sweeper, a cancel, a review answer).
      const order = await lockOrder(tx, orderId);
      if (!(await resolveReviewDeadline(tx, orderId, 'timed_out'))) continue;
      if (order?.status === 'awaiting_review' && !order.cancelRequested) {
        await emitOrderEvent(tx, order, 'order.rejected', { reason: 'review_timeout' });
        rejected += 1;
      }
    }
    return rejected;
  });
}

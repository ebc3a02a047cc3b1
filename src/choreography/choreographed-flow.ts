import type pg from 'pg';
import { getOrder } from '../contexts/orders/order-store.ts';
import { OrderNotFoundError } from '../domain/errors.ts';
import type { OrderRequest } from '../domain/order.ts';
import type { OrderFlow, OrderFlowStatus } from '../flows/order-flows.ts';
import { cancelOrder, decideReview, placeChoreographedOrder } from './order-commands.ts';

/**
 * The choreographed flow behind the flows port: the orders context's commands, each one
 * transaction that writes the order and the event the next service reacts to (outbox).
 */
export class ChoreographedFlow implements OrderFlow {
  readonly name = 'choreographed' as const;

  constructor(private readonly pool: pg.Pool) {}

  /** The order row and its `order.placed` event, in one transaction. */
  place(order: OrderRequest, correlationId: string): Promise<{ created?: boolean }> {
    return placeChoreographedOrder(this.pool, order, correlationId);
  }

  /**
   * The order as the orders context keeps it. Not the read model: the orders row is the flow's
   * own state, written in the same transaction as the events it emits, so it is never behind
   * them (the read model is projected from those events later; GET /orders/:id serves it). The
   * row does not know whether the email went out (the notifications context does): `notified`
   * is null.
   * @throws OrderNotFoundError when there is no choreographed order with this id.
   */
  async status(orderId: string): Promise<OrderFlowStatus> {
    const order = await getOrder(this.pool, orderId);
    if (order.flow !== 'choreographed') throw new OrderNotFoundError(orderId);
    return { orderId, flow: 'choreographed', status: order.status, reason: order.reason, total: order.total, step: order.status, notified: null };
  }

  /** Emits `order.cancel_requested`; inventory and payments compensate. */
  cancel(orderId: string): Promise<void> {
    return cancelOrder(this.pool, orderId);
  }

  /** Emits `order.approved`: payments charges. */
  approve(orderId: string): Promise<void> {
    return decideReview(this.pool, orderId, 'approve');
  }

  /** Emits `order.rejected`: inventory releases the stock, then the order is cancelled. */
  reject(orderId: string): Promise<void> {
    return decideReview(this.pool, orderId, 'reject');
  }
}

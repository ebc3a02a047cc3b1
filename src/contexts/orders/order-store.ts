import { sameJson } from '../../domain/canonical-json.ts';
import { OrderConflictError, OrderNotFoundError } from '../../domain/errors.ts';
import type { Money } from '../../domain/money.ts';
import { canTransition, type Flow, type OrderLine, type OrderRequest, type OrderStatus } from '../../domain/order.ts';
import type { Queryable } from '../../platform/database.ts';

/** An order as the orders context keeps it. */
export interface OrderRecord {
  orderId: string;
  customerId: string;
  email: string;
  items: OrderLine[];
  flow: Flow;
  status: OrderStatus;
  total: Money | null;
  reason: string | null;
}

/** Outcome of {@link transitionOrder}. */
export type TransitionOutcome =
  | { applied: true; order: OrderRecord }
  /** Already in that status: a retry or a duplicate event; nothing changed. */
  | { applied: false; why: 'already'; order: OrderRecord }
  /** The transition does not fit (late or out-of-order event); recorded by the caller, not applied. */
  | { applied: false; why: 'not_allowed'; order: OrderRecord };

interface OrderRow {
  order_id: string;
  customer_id: string;
  email: string;
  items: OrderLine[];
  flow: Flow;
  status: OrderStatus;
  total_cents: number | null;
  currency: string | null;
  reason: string | null;
}

const toRecord = (row: OrderRow): OrderRecord => ({
  orderId: row.order_id,
  customerId: row.customer_id,
  email: row.email,
  items: row.items,
  flow: row.flow,
  status: row.status,
  total: row.total_cents === null || row.currency === null ? null : { amountCents: row.total_cents, currency: row.currency },
  reason: row.reason,
});

/**
 * Creates the order in status `pending`, idempotently by order id: creating the same order again
 * returns the existing one.
 * @throws OrderConflictError when the id exists with different contents.
 */
export async function createOrder(db: Queryable, request: OrderRequest, flow: Flow): Promise<{ created: boolean; order: OrderRecord }> {
  const inserted = await db.query<OrderRow>(
    `insert into orders.orders (order_id, customer_id, email, items, flow, status)
     values ($1, $2, $3, $4, $5, 'pending')
     on conflict (order_id) do nothing
     returning *`,
    [request.orderId, request.customerId, request.email, JSON.stringify(request.items), flow],
  );
  if (inserted.rows[0]) {
    await db.query(`insert into orders.status_history (order_id, status) values ($1, 'pending') on conflict do nothing`, [request.orderId]);
    return { created: true, order: toRecord(inserted.rows[0]) };
  }
  const existing = await getOrder(db, request.orderId);
  // The items come back from jsonb, which reorders object keys: compare content, not text.
  if (existing.customerId !== request.customerId || existing.email !== request.email || existing.flow !== flow || !sameJson(existing.items, request.items)) {
    throw new OrderConflictError(request.orderId);
  }
  return { created: false, order: existing };
}

/**
 * Reads one order.
 * @throws OrderNotFoundError when there is none.
 */
export async function getOrder(db: Queryable, orderId: string): Promise<OrderRecord> {
  const { rows } = await db.query<OrderRow>('select * from orders.orders where order_id = $1', [orderId]);
  if (!rows[0]) throw new OrderNotFoundError(orderId);
  return toRecord(rows[0]);
}

/**
 * Moves the order to `to` if the state machine allows it, recording the status history; a
 * second call for the same status changes nothing. The check and the change are one statement,
 * so two concurrent callers cannot both apply a transition.
 */
export async function transitionOrder(
  db: Queryable,
  orderId: string,
  to: OrderStatus,
  details: { reason?: string; total?: Money } = {},
): Promise<TransitionOutcome> {
  const current = await getOrder(db, orderId);
  if (current.status === to) return { applied: false, why: 'already', order: current };
  if (!canTransition(current.status, to)) return { applied: false, why: 'not_allowed', order: current };
  const { rows } = await db.query<OrderRow>(
    `update orders.orders
        set status = $2, reason = coalesce($3, reason), total_cents = coalesce($4, total_cents), currency = coalesce($5, currency), updated_at = now()
      where order_id = $1 and status = $6
      returning *`,
    [orderId, to, details.reason ?? null, details.total?.amountCents ?? null, details.total?.currency ?? null, current.status],
  );
  if (!rows[0]) return transitionOrder(db, orderId, to, details); // lost a race: decide again on the new state
  await db.query('insert into orders.status_history (order_id, status, reason) values ($1, $2, $3) on conflict do nothing', [
    orderId,
    to,
    details.reason ?? null,
  ]);
  return { applied: true, order: toRecord(rows[0]) };
}

/** The statuses an order went through, in order. */
export async function statusHistory(db: Queryable, orderId: string): Promise<OrderStatus[]> {
  const { rows } = await db.query<{ status: OrderStatus }>('select status from orders.status_history where order_id = $1 order by reached_at, ctid', [orderId]);
  return rows.map((r) => r.status);
}

/** The flow that runs an order, or undefined when there is no order with this id (yet). */
export async function flowOf(db: Queryable, orderId: string): Promise<Flow | undefined> {
  const { rows } = await db.query<{ flow: Flow }>('select flow from orders.orders where order_id = $1', [orderId]);
  return rows[0]?.flow;
}

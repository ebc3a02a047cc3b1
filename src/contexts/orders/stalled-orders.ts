import type { OrderStatus } from '../../domain/order.ts';
import type { Queryable } from '../../platform/database.ts';

/**
 * Choreographed orders that are waiting on the system, not on a person: not final, and not
 * waiting for a review (unless the customer cancelled meanwhile). Their last change is the later
 * of their last status change and their cancel request.
 */
const openOrders = `
  from orders.orders
  where flow = 'choreographed'
    and status not in ('confirmed', 'cancelled')
    and not (status = 'awaiting_review' and cancel_requested_at is null)`;
const lastChange = 'greatest(updated_at, cancel_requested_at)';

/** A choreographed order that has not moved for a while. */
export interface StalledOrder {
  orderId: string;
  status: OrderStatus;
  cancelRequested: boolean;
  lastChangeAt: Date;
}

/**
 * The choreographed orders waiting on the system whose last change is older than `olderThanMs`,
 * oldest first: what the operator looks at when ChoreographedOrderStalled fires. Read-only.
 */
export async function findStalledOrders(db: Queryable, olderThanMs: number, limit = 100): Promise<StalledOrder[]> {
  const { rows } = await db.query<{ order_id: string; status: OrderStatus; cancel_requested_at: Date | null; last_change_at: Date }>(
    `select order_id, status, cancel_requested_at, ${lastChange} as last_change_at ${openOrders}
       and ${lastChange} < now() - make_interval(secs => $1) order by last_change_at limit $2`,
    [olderThanMs / 1000, limit],
  );
  return rows.map((r) => ({ orderId: r.order_id, status: r.status, cancelRequested: r.cancel_requested_at !== null, lastChangeAt: r.last_change_at }));
}

/**
 * Seconds since the least recently changed choreographed order waiting on the system last
 * changed; 0 when there is none. Read-only.
 */
export async function oldestOpenOrderChangeAgeSeconds(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ age: number | null }>(`select extract(epoch from now() - min(${lastChange}))::float8 as age ${openOrders}`);
  return rows[0]?.age ?? 0;
}

import type pg from 'pg';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { OrderStatus } from '../domain/order.ts';
import type { Queryable } from '../platform/database.ts';

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
 * oldest first: what the operator looks at when ChoreographedOrderStalled fires.
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
 * `choreography_open_order_oldest_change_age_seconds`, computed when Prometheus scrapes: how long
 * ago the least recently changed choreographed order that waits on the system last changed (0
 * when there is none). A healthy flow keeps it at seconds; an order whose event was dead-lettered
 * (or a stopped group) makes it grow, which ChoreographedOrderStalled (infra/prometheus/alerts.yml)
 * watches. A failed read leaves the gauge empty for that scrape and is logged.
 */
export function registerStalledOrderMetrics(registry: Registry, pool: pg.Pool, log: Logger): void {
  new Gauge({
    name: 'choreography_open_order_oldest_change_age_seconds',
    help: 'Seconds since the least recently changed choreographed order waiting on the system (not final, not in review) last changed',
    registers: [registry],
    async collect() {
      try {
        const { rows } = await pool.query<{ age: number | null }>(`select extract(epoch from now() - min(${lastChange}))::float8 as age ${openOrders}`);
        this.set(rows[0]?.age ?? 0);
      } catch (err) {
        log.warn({ err }, 'open orders could not be read');
      }
    },
  });
}

import type { Queryable } from '../../platform/database.ts';

// The choreographed flow has no durable timer: a review's 24 h timeout is a deadline row that a
// sweeper resolves once it is due (migration 1795000100000_choreography.sql).

/** How a review deadline ended. */
export type ReviewResolution = 'approved' | 'rejected' | 'timed_out' | 'cancelled';

/** Opens the order's review deadline, due at `dueAt`; a second call keeps the first deadline. */
export async function openReviewDeadline(tx: Queryable, orderId: string, dueAt: Date): Promise<void> {
  await tx.query('insert into orders.review_deadlines (order_id, due_at) values ($1, $2) on conflict do nothing', [orderId, dueAt]);
}

/**
 * Resolves the order's open review deadline with `resolution`; false when there was none open
 * (never opened, or resolved already: the first resolution stays).
 */
export async function resolveReviewDeadline(tx: Queryable, orderId: string, resolution: ReviewResolution): Promise<boolean> {
  const { rowCount } = await tx.query(
    'update orders.review_deadlines set resolved_at = now(), resolution = $2 where order_id = $1 and resolved_at is null returning 1',
    [orderId, resolution],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Locks the orders of up to `limit` open review deadlines due by `now`, earliest first, and
 * returns them. The order row is locked, not the deadline: cancel and the review answer lock the
 * order and then resolve its deadline, and a sweeper that held deadlines while waiting for orders
 * deadlocked with them (40P01, a customer's cancel failed). `skip locked` lets several sweepers
 * share the work, and passes over an order being changed (the next sweep takes it if it is still
 * due). The deadline may have been resolved meanwhile: the caller resolves it with
 * {@link resolveReviewDeadline} and acts only when that says it was still open.
 */
export async function lockDueReviewDeadlines(tx: Queryable, now: Date, limit: number): Promise<string[]> {
  const { rows } = await tx.query<{ order_id: string }>(
    `select d.order_id from orders.review_deadlines d join orders.orders o using (order_id)
     where d.resolved_at is null and d.due_at <= $1 order by d.due_at limit $2 for update of o skip locked`,
    [now, limit],
  );
  return rows.map((r) => r.order_id);
}

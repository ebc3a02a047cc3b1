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
 * Locks up to `limit` open review deadlines due by `now`, earliest first, and returns their
 * orders. `skip locked` lets several sweepers share the work: each takes deadlines the others
 * do not hold. Read-only until the caller resolves them in the same transaction.
 */
export async function lockDueReviewDeadlines(tx: Queryable, now: Date, limit: number): Promise<string[]> {
  const { rows } = await tx.query<{ order_id: string }>(
    'select order_id from orders.review_deadlines where resolved_at is null and due_at <= $1 order by due_at limit $2 for update skip locked',
    [now, limit],
  );
  return rows.map((r) => r.order_id);
}

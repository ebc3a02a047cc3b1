import type { Money } from '../../domain/money.ts';
import type { Queryable } from '../../platform/database.ts';

// What the payments context of the choreographed flow learns about an order from several events,
// in any order (migration 1795000100000_payment_requests.sql): the token (order.placed), the
// amount and whether a review is needed (inventory.reserved), the approval (order.approved) and
// the cancel (order.cancel_requested). Each recording is an upsert: idempotent, and independent
// of the order the events come in.

/** What the payments context knows about an order's charge. */
export interface PaymentRequest {
  token: string | null;
  /** Null until the reservation said. */
  amountCents: number | null;
  currency: string | null;
  /** Null until the reservation said. */
  needsReview: boolean | null;
  approved: boolean;
  cancelled: boolean;
}

/** Sets one column of the order's request, creating the row if needed. `column` is one of ours, never input. */
async function upsertRequest(tx: Queryable, orderId: string, column: 'token' | 'approved' | 'cancelled', value: string | boolean): Promise<void> {
  await tx.query(
    `insert into payments.payment_requests (order_id, ${column}) values ($1, $2) on conflict (order_id) do update set ${column} = excluded.${column}`,
    [orderId, value],
  );
}

/** Records the order's payment: its vault reference (or, for an order accepted before the vault, its token). */
export function recordPaymentToken(tx: Queryable, orderId: string, token: string): Promise<void> {
  return upsertRequest(tx, orderId, 'token', token);
}

/** Records that a reviewer approved the order. */
export function recordPaymentApproval(tx: Queryable, orderId: string): Promise<void> {
  return upsertRequest(tx, orderId, 'approved', true);
}

/** Records that the customer cancelled the order: no charge starts after this. */
export function recordPaymentCancel(tx: Queryable, orderId: string): Promise<void> {
  return upsertRequest(tx, orderId, 'cancelled', true);
}

/** Records the amount to charge (the reserved total) and whether the order waits for a review first. */
export async function recordAmountDue(tx: Queryable, orderId: string, total: Money, needsReview: boolean): Promise<void> {
  await tx.query(
    `insert into payments.payment_requests (order_id, amount_cents, currency, needs_review) values ($1, $2, $3, $4)
     on conflict (order_id) do update set amount_cents = excluded.amount_cents, currency = excluded.currency, needs_review = excluded.needs_review`,
    [orderId, total.amountCents, total.currency, needsReview],
  );
}

/** Reads the order's request under a row lock, so the decision to charge and a cancel take turns; undefined when nothing was recorded. */
export async function lockPaymentRequest(tx: Queryable, orderId: string): Promise<PaymentRequest | undefined> {
  const { rows } = await tx.query<{
    token: string | null;
    amount_cents: number | null;
    currency: string | null;
    needs_review: boolean | null;
    approved: boolean;
    cancelled: boolean;
  }>('select token, amount_cents, currency, needs_review, approved, cancelled from payments.payment_requests where order_id = $1 for update', [orderId]);
  const row = rows[0];
  return (
    row && {
      token: row.token,
      amountCents: row.amount_cents,
      currency: row.currency,
      needsReview: row.needs_review,
      approved: row.approved,
      cancelled: row.cancelled,
    }
  );
}

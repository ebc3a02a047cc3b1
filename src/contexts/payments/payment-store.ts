import { PaymentDeclinedError } from '../../domain/errors.ts';
import type { Money } from '../../domain/money.ts';
import type { Queryable } from '../../platform/database.ts';
import { failpoint } from '../../platform/failpoints.ts';
import type { PaymentGateway } from './gateway-client.ts';

/** A captured payment. */
export interface Payment {
  orderId: string;
  amount: Money;
  chargeId: string;
}

/** A refunded payment. */
export interface RefundRecord {
  orderId: string;
  amount: Money;
  refundId: string;
}

/**
 * Charges the order once, idempotently by order id: a second call returns the first capture (or
 * the first decline) without calling the processor; a call after a crash between the capture and
 * our insert calls the processor again with the same Idempotency-Key and gets the same capture.
 * @throws PaymentDeclinedError when the card is declined (recorded: a retry declines again).
 * @throws PaymentGatewayUnavailableError when the processor cannot answer (retry later).
 */
export async function chargePayment(db: Queryable, gateway: PaymentGateway, request: { orderId: string; amount: Money; token: string }): Promise<Payment> {
  const existing = await db.query<{ status: string; amount_cents: number; currency: string; charge_id: string | null; decline_message: string | null }>(
    'select status, amount_cents, currency, charge_id, decline_message from payments.payments where order_id = $1',
    [request.orderId],
  );
  const row = existing.rows[0];
  if (row?.status === 'captured') return { orderId: request.orderId, amount: { amountCents: row.amount_cents, currency: row.currency }, chargeId: row.charge_id! };
  if (row?.status === 'declined') throw new PaymentDeclinedError(request.orderId, row.decline_message ?? 'declined');

  try {
    const charge = await gateway.charge(request);
    failpoint('after-capture-before-record');
    await db.query(
      `insert into payments.payments (order_id, status, amount_cents, currency, charge_id) values ($1, 'captured', $2, $3, $4)
       on conflict (order_id) do nothing`,
      [request.orderId, charge.amountCents, charge.currency, charge.id],
    );
    return { orderId: request.orderId, amount: { amountCents: charge.amountCents, currency: charge.currency }, chargeId: charge.id };
  } catch (err) {
    if (err instanceof PaymentDeclinedError) {
      await db.query(
        `insert into payments.payments (order_id, status, amount_cents, currency, decline_message) values ($1, 'declined', $2, $3, $4)
         on conflict (order_id) do nothing`,
        [request.orderId, request.amount.amountCents, request.amount.currency, err.gatewayMessage],
      );
    }
    throw err;
  }
}

/**
 * Refunds the order's charge once, idempotently: a second call returns the first refund; an
 * order that was never charged is a no-op returning null. The processor is asked even when we
 * have no payment row, because a crash may have fallen between its capture and our insert.
 * @throws PaymentGatewayUnavailableError when the processor cannot answer (retry later).
 */
export async function refundPayment(db: Queryable, gateway: PaymentGateway, orderId: string): Promise<{ refundedNow: boolean; refund: RefundRecord | null }> {
  const existing = await db.query<{ amount_cents: number; currency: string; refund_id: string }>('select amount_cents, currency, refund_id from payments.refunds where order_id = $1', [orderId]);
  if (existing.rows[0]) {
    const r = existing.rows[0];
    return { refundedNow: false, refund: { orderId, amount: { amountCents: r.amount_cents, currency: r.currency }, refundId: r.refund_id } };
  }
  const refund = await gateway.refund(orderId);
  if (!refund) return { refundedNow: false, refund: null };
  await db.query(`insert into payments.refunds (order_id, amount_cents, currency, refund_id) values ($1, $2, $3, $4) on conflict (order_id) do nothing`, [
    orderId,
    refund.amountCents,
    refund.currency,
    refund.id,
  ]);
  return { refundedNow: true, refund: { orderId, amount: { amountCents: refund.amountCents, currency: refund.currency }, refundId: refund.id } };
}

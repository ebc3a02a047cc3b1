import { PaymentDeclinedError } from '../../domain/errors.ts';
import type { Money } from '../../domain/money.ts';
import type { Queryable } from '../../platform/database.ts';
import { failpoint } from '../../platform/failpoints.ts';
import type { GatewayCharge, GatewayRefund, PaymentGateway } from './gateway-client.ts';

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
  if (row?.status === 'captured')
    return { orderId: request.orderId, amount: { amountCents: row.amount_cents, currency: row.currency }, chargeId: row.charge_id! };
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
  const existing = await db.query<{ amount_cents: number; currency: string; refund_id: string }>(
    'select amount_cents, currency, refund_id from payments.refunds where order_id = $1',
    [orderId],
  );
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

// The choreographed flow's payments group calls the gateway outside any transaction, in three
// steps: record the intent, call the gateway, record the outcome (see the migration
// 1795000400000_charge_intent.sql). The functions below are those steps.

/** An order's payment row: a charge in flight (`charging`), or its outcome. */
export interface PaymentState {
  status: 'charging' | 'captured' | 'declined';
  /** The event whose handling started the charge: only its (re)delivery calls the gateway. */
  startedByEvent: string | null;
  amount: Money;
  chargeId: string | null;
  refunded: boolean;
}

/** The payment row of an order, with whether it was refunded; undefined when it was never charged. */
export async function paymentOf(db: Queryable, orderId: string): Promise<PaymentState | undefined> {
  const { rows } = await db.query<{
    status: PaymentState['status'];
    started_by_event: string | null;
    amount_cents: number;
    currency: string;
    charge_id: string | null;
    refunded: boolean;
  }>(
    `select p.status, p.started_by_event, p.amount_cents, p.currency, p.charge_id, r.order_id is not null as refunded
       from payments.payments p left join payments.refunds r using (order_id) where p.order_id = $1`,
    [orderId],
  );
  const row = rows[0];
  return (
    row && {
      status: row.status,
      startedByEvent: row.started_by_event,
      amount: { amountCents: row.amount_cents, currency: row.currency },
      chargeId: row.charge_id,
      refunded: row.refunded,
    }
  );
}

/**
 * Records that `startedByEvent` is about to charge the order (a `charging` row), unless the
 * order has a payment row already; returns the order's payment row either way.
 */
export async function recordChargeIntent(db: Queryable, request: { orderId: string; amount: Money; startedByEvent: string }): Promise<PaymentState> {
  await db.query(
    `insert into payments.payments (order_id, status, amount_cents, currency, started_by_event) values ($1, 'charging', $2, $3, $4)
     on conflict (order_id) do nothing`,
    [request.orderId, request.amount.amountCents, request.amount.currency, request.startedByEvent],
  );
  return (await paymentOf(db, request.orderId))!;
}

/** What the gateway answered to a charge. */
export type ChargeOutcome = { kind: 'captured'; charge: GatewayCharge } | { kind: 'declined'; message: string };

/**
 * Asks the gateway for the order's charge (Idempotency-Key derived from the order: asking again
 * returns the same charge). A decline is an outcome, not an error.
 * @throws PaymentGatewayUnavailableError when the processor cannot answer (retry later).
 */
export async function chargeAtGateway(gateway: PaymentGateway, request: { orderId: string; amount: Money; token: string }): Promise<ChargeOutcome> {
  try {
    return { kind: 'captured', charge: await gateway.charge(request) };
  } catch (err) {
    if (err instanceof PaymentDeclinedError) return { kind: 'declined', message: err.gatewayMessage };
    throw err;
  }
}

/** Records the gateway's answer to the order's `charging` row; false when it was recorded already. */
export async function recordChargeOutcome(db: Queryable, orderId: string, outcome: ChargeOutcome): Promise<boolean> {
  const { rowCount } =
    outcome.kind === 'captured'
      ? await db.query(
          `update payments.payments set status = 'captured', amount_cents = $2, currency = $3, charge_id = $4 where order_id = $1 and status = 'charging'`,
          [orderId, outcome.charge.amountCents, outcome.charge.currency, outcome.charge.id],
        )
      : await db.query(`update payments.payments set status = 'declined', decline_message = $2 where order_id = $1 and status = 'charging'`, [
          orderId,
          outcome.message,
        ]);
  return (rowCount ?? 0) > 0;
}

/** Records the refund of the order's charge; false when it was recorded already. */
export async function recordRefund(db: Queryable, orderId: string, refund: GatewayRefund): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into payments.refunds (order_id, amount_cents, currency, refund_id) values ($1, $2, $3, $4) on conflict (order_id) do nothing`,
    [orderId, refund.amountCents, refund.currency, refund.id],
  );
  return (rowCount ?? 0) > 0;
}

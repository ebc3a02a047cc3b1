import type { Transporter } from 'nodemailer';
import { releaseStockIn, reserveStockIn } from '../contexts/inventory/inventory-store.ts';
import { sendNotification } from '../contexts/notifications/notifier.ts';
import { transitionOrder } from '../contexts/orders/order-store.ts';
import type { PaymentGateway } from '../contexts/payments/gateway-client.ts';
import { chargePayment, refundPayment } from '../contexts/payments/payment-store.ts';
import { OutOfStockError, PaymentDeclinedError, UnknownSkuError } from '../domain/errors.ts';
import type { EventData, EventType } from '../domain/events.ts';
import type { Money } from '../domain/money.ts';
import { needsReview, type CancellationReason } from '../domain/order.ts';
import type { NotificationTemplate } from '../domain/saga-steps.ts';
import type { EventHandler, HandlerContext } from '../messaging/consumer-runner.ts';
import { lockOrder, reviewTimeoutMs } from './order-commands.ts';

/** What the services need besides the database transaction each handler gets. */
export interface ChoreographyDeps {
  gateway: PaymentGateway;
  mailer: Pick<Transporter, 'sendMail'>;
  /** The clock the review deadline is set from. @default () => new Date() */
  now?: () => Date;
}

/** A consumer group of the choreography: its name, the context it speaks for, and its handlers. */
export interface ChoreographyService {
  groupId: string;
  producerName: string;
  handlers: Partial<Record<string, EventHandler>>;
}

/**
 * The orders service: records progress, opens the review, confirms, and cancels with the reason
 * carried by the release (DESIGN.md choreography table). An event that does not fit the order's
 * state (late, duplicate, out of order) changes nothing: the state machine refuses it.
 */
function ordersService(deps: ChoreographyDeps): ChoreographyService {
  const cancel = async (ctx: HandlerContext, orderId: string, reason: CancellationReason) => {
    const outcome = await transitionOrder(ctx.tx, orderId, 'cancelled', { reason });
    if (outcome.applied) ctx.emit('order.cancelled', { reason });
  };
  /** The charge is captured: the order is paid, then confirmed, unless a cancel came in meanwhile. */
  const settlePayment = async (ctx: HandlerContext, orderId: string, cancelRequested: boolean) => {
    await transitionOrder(ctx.tx, orderId, 'paid');
    // A cancel that came in while the charge ran wins: the refund and the release follow.
    if (cancelRequested) return;
    const confirmed = await transitionOrder(ctx.tx, orderId, 'confirmed');
    if (confirmed.applied && confirmed.order.total) ctx.emit('order.confirmed', { total: confirmed.order.total });
  };
  return {
    groupId: 'orders',
    producerName: 'orders',
    handlers: {
      'inventory.reserved': async (event, ctx) => {
        const { total } = event.data as EventData<'inventory.reserved'>;
        const order = await lockOrder(ctx.tx, event.orderId);
        if (!order || order.cancelRequested) return;
        if (!(await transitionOrder(ctx.tx, event.orderId, 'reserved', { total })).applied) return;
        // The payment's event overtook this one (another topic): settle it now.
        if (order.paymentCompleted) return settlePayment(ctx, event.orderId, false);
        if (!needsReview(total)) return; // payments charges on inventory.reserved
        await transitionOrder(ctx.tx, event.orderId, 'awaiting_review');
        const dueAt = new Date((deps.now ?? (() => new Date()))().getTime() + reviewTimeoutMs);
        await ctx.tx.query('insert into orders.review_deadlines (order_id, due_at) values ($1, $2) on conflict do nothing', [event.orderId, dueAt]);
        ctx.emit('order.review_requested', { total });
      },
      'payment.completed': async (event, ctx) => {
        const order = await lockOrder(ctx.tx, event.orderId);
        if (!order) return;
        if (order.status === 'pending') {
          // Charged before this group saw the reservation: remember it; inventory.reserved settles it.
          await ctx.tx.query('update orders.orders set payment_completed_at = now() where order_id = $1', [event.orderId]);
          return;
        }
        await settlePayment(ctx, event.orderId, order.cancelRequested);
      },
      'inventory.rejected': (event, ctx) => cancel(ctx, event.orderId, 'out_of_stock'),
      'inventory.released': (event, ctx) => cancel(ctx, event.orderId, (event.data as EventData<'inventory.released'>).reason ?? 'customer_cancelled'),
    },
  };
}

/** The inventory service: reserves on `order.placed`, releases on every reason to undo. */
function inventoryService(): ChoreographyService {
  const release = async (ctx: HandlerContext, orderId: string, reason: CancellationReason) => {
    const outcome = await releaseStockIn(ctx.tx, orderId);
    // Released now, or recorded as released before anything was reserved: either way the order can end.
    if (outcome.releasedNow || outcome.tombstonedNow) {
      ctx.emit('inventory.released', { lines: (outcome.reservation?.lines ?? []).map(({ sku, quantity }) => ({ sku, quantity })), reason });
    }
  };
  return {
    groupId: 'inventory',
    producerName: 'inventory',
    handlers: {
      'order.placed': async (event, ctx) => {
        const { items } = event.data as EventData<'order.placed'>;
        try {
          const reservation = await reserveStockIn(ctx.tx, event.orderId, items);
          if (reservation.status === 'reserved') ctx.emit('inventory.reserved', { lines: reservation.lines, total: reservation.total });
        } catch (err) {
          if (!(err instanceof OutOfStockError || err instanceof UnknownSkuError)) throw err;
          ctx.emit('inventory.rejected', { reason: err instanceof OutOfStockError ? 'out_of_stock' : 'unknown_sku', sku: err.sku });
        }
      },
      'payment.failed': (event, ctx) => release(ctx, event.orderId, (event.data as EventData<'payment.failed'>).reason),
      'order.rejected': (event, ctx) => release(ctx, event.orderId, (event.data as EventData<'order.rejected'>).reason),
      'order.cancel_requested': (event, ctx) => release(ctx, event.orderId, 'customer_cancelled'),
    },
  };
}

/**
 * The payments service: learns the token, the amount and the approval from three events in any
 * order, charges once it knows enough (never after a cancellation), and refunds on a cancel.
 */
function paymentsService(deps: ChoreographyDeps): ChoreographyService {
  const upsert = (ctx: HandlerContext, orderId: string, column: 'token' | 'approved' | 'cancelled', value: string | boolean) =>
    ctx.tx.query(`insert into payments.payment_requests (order_id, ${column}) values ($1, $2) on conflict (order_id) do update set ${column} = excluded.${column}`, [orderId, value]);

  const maybeCharge = async (ctx: HandlerContext, orderId: string) => {
    const { rows } = await ctx.tx.query<{ token: string | null; amount_cents: number | null; currency: string | null; needs_review: boolean | null; approved: boolean; cancelled: boolean }>(
      'select token, amount_cents, currency, needs_review, approved, cancelled from payments.payment_requests where order_id = $1 for update',
      [orderId],
    );
    const request = rows[0];
    if (!request || request.cancelled || request.token === null || request.amount_cents === null || request.needs_review === null) return;
    if (request.needs_review && !request.approved) return;
    const charged = await ctx.tx.query('select 1 from payments.payments where order_id = $1', [orderId]);
    if ((charged.rowCount ?? 0) > 0) return; // charged (or declined) by an earlier event
    const amount: Money = { amountCents: request.amount_cents, currency: request.currency ?? 'USD' };
    try {
      const payment = await chargePayment(ctx.tx, deps.gateway, { orderId, amount, token: request.token });
      ctx.emit('payment.completed', { amount: payment.amount, chargeId: payment.chargeId });
    } catch (err) {
      if (!(err instanceof PaymentDeclinedError)) throw err; // gateway unavailable: retried, then dead-lettered
      ctx.emit('payment.failed', { reason: 'payment_declined', message: err.gatewayMessage });
    }
  };

  return {
    groupId: 'payments',
    producerName: 'payments',
    handlers: {
      'order.placed': async (event, ctx) => {
        const { paymentToken } = event.data as EventData<'order.placed'>;
        if (!paymentToken) return;
        await upsert(ctx, event.orderId, 'token', paymentToken);
        await maybeCharge(ctx, event.orderId);
      },
      'inventory.reserved': async (event, ctx) => {
        const { total } = event.data as EventData<'inventory.reserved'>;
        await ctx.tx.query(
          `insert into payments.payment_requests (order_id, amount_cents, currency, needs_review) values ($1, $2, $3, $4)
           on conflict (order_id) do update set amount_cents = excluded.amount_cents, currency = excluded.currency, needs_review = excluded.needs_review`,
          [event.orderId, total.amountCents, total.currency, needsReview(total)],
        );
        await maybeCharge(ctx, event.orderId);
      },
      'order.approved': async (event, ctx) => {
        await upsert(ctx, event.orderId, 'approved', true);
        await maybeCharge(ctx, event.orderId);
      },
      'order.cancel_requested': async (event, ctx) => {
        await upsert(ctx, event.orderId, 'cancelled', true);
        await ctx.tx.query('select 1 from payments.payment_requests where order_id = $1 for update', [event.orderId]);
        const { refund } = await refundPayment(ctx.tx, deps.gateway, event.orderId);
        if (refund) ctx.emit('payment.refunded', { amount: refund.amount, refundId: refund.refundId });
      },
    },
  };
}

/** The notifications service: emails the customer when the order is confirmed or cancelled. */
function notificationsService(deps: ChoreographyDeps): ChoreographyService {
  /** Sends the emails waiting for this order once its recipient is known. */
  const flush = async (ctx: HandlerContext, orderId: string) => {
    const recipient = await ctx.tx.query<{ email: string }>('select email from notifications.recipients where order_id = $1', [orderId]);
    const to = recipient.rows[0]?.email;
    if (!to) return; // order.placed not seen yet: it flushes when it comes
    const pending = await ctx.tx.query<{ template: NotificationTemplate; data: { total?: Money; reason?: string } }>(
      'delete from notifications.pending_messages where order_id = $1 returning template, data',
      [orderId],
    );
    for (const { template, data } of pending.rows) {
      const { sentNow, messageId } = await sendNotification(ctx.tx, deps.mailer, { orderId, template, to, data: { orderId, ...data } });
      if (sentNow) ctx.emit('notification.sent', { template, messageId }, template);
    }
  };
  const queue = async (ctx: HandlerContext, orderId: string, template: NotificationTemplate, data: object) => {
    await ctx.tx.query('insert into notifications.pending_messages (order_id, template, data) values ($1, $2, $3) on conflict do nothing', [orderId, template, JSON.stringify(data)]);
    await flush(ctx, orderId);
  };
  return {
    groupId: 'notifications',
    producerName: 'notifications',
    handlers: {
      'order.placed': async (event, ctx) => {
        await ctx.tx.query('insert into notifications.recipients (order_id, email) values ($1, $2) on conflict do nothing', [event.orderId, (event.data as EventData<'order.placed'>).email]);
        await flush(ctx, event.orderId);
      },
      'order.confirmed': (event, ctx) => queue(ctx, event.orderId, 'order_confirmed', { total: (event.data as EventData<'order.confirmed'>).total }),
      'order.cancelled': (event, ctx) => queue(ctx, event.orderId, 'order_cancelled', { reason: (event.data as EventData<'order.cancelled'>).reason }),
    },
  };
}

/** The four consumer groups of the choreographed flow, by group id. */
export function createChoreographyServices(deps: ChoreographyDeps): Record<ChoreographyGroup, ChoreographyService> {
  return { orders: ordersService(deps), inventory: inventoryService(), payments: paymentsService(deps), notifications: notificationsService(deps) };
}

/** The event types each consumer group listens to (DESIGN.md choreography table). */
export const choreographySubscriptions = {
  orders: ['inventory.reserved', 'payment.completed', 'inventory.rejected', 'inventory.released'],
  inventory: ['order.placed', 'payment.failed', 'order.rejected', 'order.cancel_requested'],
  payments: ['order.placed', 'inventory.reserved', 'order.approved', 'order.cancel_requested'],
  notifications: ['order.placed', 'order.confirmed', 'order.cancelled'],
} as const satisfies Record<string, readonly EventType[]>;

/** A consumer group of the choreographed flow. */
export type ChoreographyGroup = keyof typeof choreographySubscriptions;

import type { Transporter } from 'nodemailer';
import { releaseStockIn, reserveStockIn } from '../contexts/inventory/inventory-store.ts';
import { openPersonalData } from '../contexts/customers/personal-data.ts';
import {
  dropPendingMessages,
  claimPendingMessages,
  deliverEmail,
  type ClaimedMessage,
  queueMessage,
  recipientOf,
  recordRecipient,
  recordSent,
} from '../contexts/notifications/notifier.ts';
import { lockOrder, markPaymentCompleted, markPaymentSettled, markStockReleased } from '../contexts/orders/choreography-state.ts';
import { transitionOrder } from '../contexts/orders/order-store.ts';
import { openReviewDeadline } from '../contexts/orders/review-deadlines.ts';
import type { PaymentGateway } from '../contexts/payments/gateway-client.ts';
import { lockPaymentRequest, recordAmountDue, recordPaymentApproval, recordPaymentCancel, recordPaymentToken } from '../contexts/payments/payment-requests.ts';
import { chargeAtGateway, paymentOf, recordChargeIntent, recordChargeOutcome, recordRefund } from '../contexts/payments/payment-store.ts';
import { OutOfStockError, PaymentGatewayUnavailableError, UnknownSkuError } from '../domain/errors.ts';
import type { EventType } from '../domain/events.ts';
import type { Money } from '../domain/money.ts';
import { needsReview, type CancellationReason } from '../domain/order.ts';
import type { NotificationTemplate } from '../domain/saga-steps.ts';
import { handledTypes, networkStep, type EventHandlers, type HandlerContext, type NetworkStep } from '../messaging/consumer-runner.ts';
import type { PaymentVault } from '../contexts/payments/payment-vault.ts';
import { reviewTimeoutMs } from './order-commands.ts';

/** What the services need besides the database transaction each handler gets. */
export interface ChoreographyDeps {
  gateway: PaymentGateway;
  /** Where the payments context opens an order's payment reference, right before it charges. */
  vault: Pick<PaymentVault, 'tokenOf'>;
  mailer: Pick<Transporter, 'sendMail'>;
  /** The clock the review deadline is set from. @default () => new Date() */
  now?: () => Date;
}

/** A consumer group of the choreography: its name, the context it speaks for, and its handlers. */
export interface ChoreographyService {
  groupId: string;
  producerName: string;
  handlers: EventHandlers;
}

/**
 * The orders service: records progress, opens the review, confirms, and cancels with the reason
 * carried by the release (DESIGN.md choreography table). An event that does not fit the order's
 * state (late, duplicate, out of order) changes nothing: the state machine refuses it.
 *
 * A customer's cancel may cross a charge in flight, so it ends the order only once both answers
 * are in, in either order: the stock released (`inventory.released`) and the payment settled
 * (`payment.refunded`, or `payment.voided`: nothing charged and nothing will be). Until then the
 * customer is told nothing, since a charge may still be captured (and then refunded).
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
  /** Payments answered a cancel; the order ends if its stock is back already. */
  const paymentSettled = async (ctx: HandlerContext, orderId: string) => {
    const order = await lockOrder(ctx.tx, orderId);
    if (!order) return;
    await markPaymentSettled(ctx.tx, orderId);
    if (order.stockReleased) await cancel(ctx, orderId, order.releaseReason ?? 'customer_cancelled');
  };
  return {
    groupId: 'orders',
    producerName: 'orders',
    handlers: {
      'inventory.reserved': async (event, ctx) => {
        const { total } = event.data;
        const order = await lockOrder(ctx.tx, event.orderId);
        if (!order || order.cancelRequested) return;
        if (!(await transitionOrder(ctx.tx, event.orderId, 'reserved', { total })).applied) return;
        // The payment's event overtook this one (another topic): settle it now.
        if (order.paymentCompleted) return settlePayment(ctx, event.orderId, false);
        if (!needsReview(total)) return; // payments charges on inventory.reserved
        await transitionOrder(ctx.tx, event.orderId, 'awaiting_review');
        const dueAt = new Date((deps.now ?? (() => new Date()))().getTime() + reviewTimeoutMs);
        await openReviewDeadline(ctx.tx, event.orderId, dueAt);
        ctx.emit('order.review_requested', { total });
      },
      'payment.completed': async (event, ctx) => {
        const order = await lockOrder(ctx.tx, event.orderId);
        if (!order) return;
        if (order.status === 'pending') {
          // Charged before this group saw the reservation: remember it; inventory.reserved settles it.
          await markPaymentCompleted(ctx.tx, event.orderId);
          return;
        }
        await settlePayment(ctx, event.orderId, order.cancelRequested);
      },
      'inventory.rejected': (event, ctx) => cancel(ctx, event.orderId, 'out_of_stock'),
      'inventory.released': async (event, ctx) => {
        const reason = event.data.reason ?? 'customer_cancelled';
        const order = await lockOrder(ctx.tx, event.orderId);
        if (!order) return;
        if (order.cancelRequested && !order.paymentSettled) {
          await markStockReleased(ctx.tx, event.orderId, reason);
          return; // the payment's settlement ends the order
        }
        await cancel(ctx, event.orderId, reason);
      },
      'payment.refunded': (event, ctx) => paymentSettled(ctx, event.orderId),
      'payment.voided': (event, ctx) => paymentSettled(ctx, event.orderId),
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
        const { items } = event.data;
        try {
          const reservation = await reserveStockIn(ctx.tx, event.orderId, items);
          if (reservation.status === 'reserved') ctx.emit('inventory.reserved', { lines: reservation.lines, total: reservation.total });
        } catch (err) {
          if (!(err instanceof OutOfStockError || err instanceof UnknownSkuError)) throw err;
          ctx.emit('inventory.rejected', { reason: err instanceof OutOfStockError ? 'out_of_stock' : 'unknown_sku', sku: err.sku });
        }
      },
      'payment.failed': (event, ctx) => release(ctx, event.orderId, event.data.reason),
      'order.rejected': (event, ctx) => release(ctx, event.orderId, event.data.reason),
      'order.cancel_requested': (event, ctx) => release(ctx, event.orderId, 'customer_cancelled'),
    },
  };
}

/**
 * The payments service: learns the token, the amount and the approval from three events in any
 * order, charges once it knows enough (never after a cancel), and answers every cancel.
 *
 * No transaction waits on the gateway: a charge commits its intent (a `charging` payment row
 * naming the event that started it), calls the gateway outside any transaction with the order's
 * Idempotency-Key, then records the outcome (see {@link NetworkStep}). A crash in between is
 * recovered by the redelivery of the starting event, which finds its intent and calls again: the
 * gateway answers with the same charge.
 *
 * A cancel (`order.cancel_requested`) is answered once, by one of:
 * - nothing charged: `payment.voided` at once, and the cancel flag stops any later charge;
 * - a charge in flight: nothing yet; its outcome answers (declined: `payment.voided`; captured:
 *   `payment.completed`, whose handler here refunds it: `payment.refunded`);
 * - captured: a refund, then `payment.refunded`.
 */
function paymentsService(deps: ChoreographyDeps): ChoreographyService {
  /** Starts the charge once the order is chargeable, or resumes it on the redelivery of the event that started it. */
  const maybeCharge = async (event: { orderId: string; eventId: string }, ctx: HandlerContext): Promise<NetworkStep | undefined> => {
    const { orderId } = event;
    const request = await lockPaymentRequest(ctx.tx, orderId);
    if (!request || request.token === null || request.amountCents === null || request.needsReview === null) return;
    const existing = await paymentOf(ctx.tx, orderId);
    // This event started a charge whose outcome we never recorded (a crash, a gateway outage):
    // ask again with the same key even if a cancel came in since, because the processor may have
    // captured it; the cancel waits for this outcome, and a capture is then refunded.
    const resuming = existing?.status === 'charging' && existing.startedByEvent === event.eventId;
    // The same request body as the first call: the processor refuses a key reused with another.
    const amount: Money = resuming ? existing.amount : { amountCents: request.amountCents, currency: request.currency ?? 'USD' };
    if (!resuming) {
      if (existing || request.cancelled) return; // settled, in flight under another event, or cancelled
      if (request.needsReview && !request.approved) return;
      await recordChargeIntent(ctx.tx, { orderId, amount, startedByEvent: event.eventId });
    }
    // Opened in the transaction, right before the call: the token never leaves this step.
    const token = await deps.vault.tokenOf(ctx.tx, request.token);
    return networkStep(
      () => chargeAtGateway(deps.gateway, { orderId, amount, token }),
      async (outcome, ctx2) => {
        if (!(await recordChargeOutcome(ctx2.tx, orderId, outcome))) return;
        if (outcome.kind === 'captured') {
          ctx2.emit('payment.completed', {
            amount: { amountCents: outcome.charge.amountCents, currency: outcome.charge.currency },
            chargeId: outcome.charge.id,
          });
          return; // a cancel that came in meanwhile is refunded on payment.completed
        }
        ctx2.emit('payment.failed', { reason: 'payment_declined', message: outcome.message });
        const now = await lockPaymentRequest(ctx2.tx, orderId);
        if (now?.cancelled) ctx2.emit('payment.voided', { reason: 'declined' });
      },
    );
  };

  /** Refunds the order's captured charge (Idempotency-Key derived from the order); emits payment.refunded once. */
  const refund = (orderId: string): NetworkStep =>
    networkStep(
      async () => {
        const answer = await deps.gateway.refund(orderId);
        // We hold a capture the processor does not know: retry, and dead-letter if it persists.
        if (!answer) throw new PaymentGatewayUnavailableError(`the processor has no charge for order ${orderId}`);
        return answer;
      },
      async (answer, ctx) => {
        if (await recordRefund(ctx.tx, orderId, answer))
          ctx.emit('payment.refunded', { amount: { amountCents: answer.amountCents, currency: answer.currency }, refundId: answer.id });
      },
    );

  return {
    groupId: 'payments',
    producerName: 'payments',
    handlers: {
      'order.placed': async (event, ctx) => {
        // The vault's reference; an order accepted before the vault carried its token instead.
        const instrument = event.data.payment;
        if (!instrument) return;
        const payment = 'ref' in instrument ? instrument.ref : instrument.legacyToken;
        await recordPaymentToken(ctx.tx, event.orderId, payment);
        return maybeCharge(event, ctx);
      },
      'inventory.reserved': async (event, ctx) => {
        const { total } = event.data;
        await recordAmountDue(ctx.tx, event.orderId, total, needsReview(total));
        return maybeCharge(event, ctx);
      },
      'order.approved': async (event, ctx) => {
        await recordPaymentApproval(ctx.tx, event.orderId);
        return maybeCharge(event, ctx);
      },
      'order.cancel_requested': async (event, ctx) => {
        await recordPaymentCancel(ctx.tx, event.orderId);
        const payment = await paymentOf(ctx.tx, event.orderId);
        if (!payment) return void ctx.emit('payment.voided', { reason: 'never_charged' });
        if (payment.status === 'declined') return void ctx.emit('payment.voided', { reason: 'declined' });
        if (payment.status === 'charging') return; // the charge's outcome answers the cancel
        if (!payment.refunded) return refund(event.orderId);
      },
      // Our own event: a charge captured after the order's cancel came in is refunded now.
      'payment.completed': async (event, ctx) => {
        const request = await lockPaymentRequest(ctx.tx, event.orderId);
        const payment = await paymentOf(ctx.tx, event.orderId);
        if (request?.cancelled && payment?.status === 'captured' && !payment.refunded) return refund(event.orderId);
      },
    },
  };
}

/**
 * The notifications service: emails the customer when the order is confirmed or cancelled.
 *
 * No transaction waits on SMTP: an event claims the order's pending emails (commit), sends them
 * outside any transaction, then records them sent (see {@link NetworkStep}). A claim is a lease
 * of one delivery attempt: two events never send one email twice, nor do two attempts of one
 * event at the same time (a rebalance or a consumer restart can hand an event to a second attempt
 * while the first is still sending: the second waits and retries). The redelivery of the claiming
 * event after a crash between the SMTP hand-over and that record sends it again once the lease
 * has run out, with the same Message-ID (docs/choreographed-flow.md, "Email: at least once, one
 * Message-ID").
 */
function notificationsService(deps: ChoreographyDeps): ChoreographyService {
  /** Sends the emails waiting for this order once its recipient is known. */
  const flush = async (ctx: HandlerContext, orderId: string, eventId: string): Promise<NetworkStep | undefined> => {
    const recipient = await recipientOf(ctx.tx, orderId);
    if (!recipient) return; // order.placed not seen yet: it flushes when it comes
    // Sealed with the customer's key; opened only here, right before the send.
    const to = await openPersonalData(ctx.tx, recipient);
    if (to === undefined) {
      // The customer was erased: nothing can be sent to it, now or on a replay.
      ctx.log.info({ orderId }, 'customer erased: its pending emails are dropped');
      await dropPendingMessages(ctx.tx, orderId);
      return;
    }
    const claimed = await claimPendingMessages(ctx.tx, orderId, eventId);
    if (claimed.length === 0) return;
    return networkStep(
      async () => {
        const sent: { template: NotificationTemplate; messageId: string }[] = [];
        for (const { template, data } of claimed)
          sent.push({ template, messageId: await deliverEmail(deps.mailer, { orderId, template, to, data: { orderId, ...data } }) });
        return sent;
      },
      async (sent, ctx2) => {
        for (const { template, messageId } of sent) {
          if (await recordSent(ctx2.tx, { orderId, template, to: recipient, messageId })) ctx2.emit('notification.sent', { template, messageId }, template);
        }
      },
    );
  };
  const queue = async (ctx: HandlerContext, orderId: string, eventId: string, template: NotificationTemplate, data: ClaimedMessage['data']) => {
    await queueMessage(ctx.tx, orderId, template, data);
    return flush(ctx, orderId, eventId);
  };
  return {
    groupId: 'notifications',
    producerName: 'notifications',
    handlers: {
      'order.placed': async (event, ctx) => {
        await recordRecipient(ctx.tx, event.orderId, event.data.email);
        return flush(ctx, event.orderId, event.eventId);
      },
      'order.confirmed': (event, ctx) => queue(ctx, event.orderId, event.eventId, 'order_confirmed', { total: event.data.total }),
      'order.cancelled': (event, ctx) => queue(ctx, event.orderId, event.eventId, 'order_cancelled', { reason: event.data.reason }),
    },
  };
}

/** The four consumer groups of the choreographed flow, by group id. */
export function createChoreographyServices(deps: ChoreographyDeps) {
  return {
    orders: ordersService(deps),
    inventory: inventoryService(),
    payments: paymentsService(deps),
    notifications: notificationsService(deps),
  } satisfies Record<string, ChoreographyService>;
}

/** A consumer group of the choreographed flow. */
export type ChoreographyGroup = keyof ReturnType<typeof createChoreographyServices>;

/** Stands in for a dependency that nothing may call: the services below are built only to read their handlers' types. */
const notToBeCalled = (): never => {
  throw new Error('a choreography service built to read its subscriptions was asked to handle an event');
};

/**
 * The event types each consumer group listens to (DESIGN.md choreography table), derived from its
 * handlers: a group reads the topics of exactly the types it has a handler for. For the processes
 * that need them without running the groups (the messaging CLI), so the services are built with
 * dependencies that throw if a handler ever ran.
 */
export const choreographySubscriptions: Readonly<Record<ChoreographyGroup, readonly EventType[]>> = (() => {
  const services = createChoreographyServices({
    gateway: { charge: notToBeCalled, refund: notToBeCalled },
    mailer: { sendMail: notToBeCalled },
    vault: { tokenOf: notToBeCalled },
  });
  return Object.freeze({
    orders: handledTypes(services.orders.handlers),
    inventory: handledTypes(services.inventory.handlers),
    payments: handledTypes(services.payments.handlers),
    notifications: handledTypes(services.notifications.handlers),
  });
})();

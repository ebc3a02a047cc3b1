import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Transporter } from 'nodemailer';
import type pg from 'pg';
import { chargePayment as chargeAtGateway, refundPayment as refundAtGateway } from '../contexts/payments/payment-store.ts';
import type { PaymentVault } from '../contexts/payments/payment-vault.ts';
import type { PaymentGateway } from '../contexts/payments/gateway-client.ts';
import { releaseStock as releaseReservation, reserveStock as reserveInventory } from '../contexts/inventory/inventory-store.ts';
import { openPersonalData } from '../contexts/customers/personal-data.ts';
import { sendNotification } from '../contexts/notifications/notifier.ts';
import { createOrder, getOrder, transitionOrder } from '../contexts/orders/order-store.ts';
import { DataRejectedError, OrderNotFoundError, OrderSagaError, OutOfStockError, PaymentDeclinedError, UnknownSkuError } from '../domain/errors.ts';
import type { EventData, EventType } from '../domain/events.ts';
import type { Money } from '../domain/money.ts';
import type { CancellationReason, OrderLine, OrderRequest, OrderStatus, PricedLine } from '../domain/order.ts';
import type { NotificationTemplate, SagaStep } from '../domain/saga-steps.ts';
import type { EventPublisher } from '../messaging/event-publisher.ts';
import { createEnvelope } from '../messaging/envelope.ts';
import { deterministicEventId } from '../messaging/event-ids.ts';
import { isDeterministicDatabaseError } from '../platform/database-errors.ts';
import { failpoint } from '../platform/failpoints.ts';

/** What the activities need; built by the worker process. */
export interface OrderActivityDeps {
  pool: pg.Pool;
  gateway: PaymentGateway;
  /** Where `chargePayment` opens the order's payment reference. */
  vault: Pick<PaymentVault, 'tokenOf'>;
  mailer: Pick<Transporter, 'sendMail'>;
  publisher: EventPublisher;
}

/** Identifies the saga an activity works for; every activity input carries it. */
export interface SagaRef {
  orderId: string;
  workflowId: string;
  correlationId: string;
  /** The event this step follows from (null for the first). */
  causationId: string | null;
}

/** The event an activity published, so the workflow can name it as the next step's cause. */
export interface Published {
  eventId: string | null;
}

/** An event the orders context publishes when it records a step. */
export type OrderEvent = {
  [T in 'order.review_requested' | 'order.approved' | 'order.rejected' | 'order.confirmed' | 'order.cancel_requested' | 'order.cancelled']: {
    type: T;
    data: EventData<T>;
  };
}['order.review_requested' | 'order.approved' | 'order.rejected' | 'order.confirmed' | 'order.cancel_requested' | 'order.cancelled'];

/**
 * Turns our errors into Temporal failures whose type is the error code; business failures are
 * non-retryable, so the retry policy stops at once. A database error that the same values cause
 * every time (a NUL in a text value, a number out of range, an unexpected constraint violation)
 * becomes `DATA_REJECTED`, non-retryable too: retrying it would never end, and the saga ends the
 * order cancelled with reason `system_error` instead. Other errors (a lost connection, Kafka down)
 * stay retryable.
 */
function toFailure(err: unknown): unknown {
  if (!(err instanceof OrderSagaError) && isDeterministicDatabaseError(err)) {
    const { code, message } = err as { code: string; message: string };
    err = new DataRejectedError(`${message} (SQLSTATE ${code})`, { cause: err });
  }
  if (err instanceof OrderSagaError) {
    return ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: !err.retryable, cause: err });
  }
  return err;
}

/**
 * The activities of the orchestrated flow: each runs one context operation (idempotent by the
 * order id) and then publishes its step's event to Kafka.
 *
 * Why no outbox here: the event id is derived from the workflow id and the step, and Temporal
 * retries the activity until the publish succeeds. A crash after the operation and before the
 * publish makes the retry find the operation already done (idempotent) and publish the same
 * event id. So every event is published at least once, and consumers drop duplicates by id.
 */
export function createOrderActivities(deps: OrderActivityDeps) {
  const publish = async <T extends EventType>(saga: SagaRef, step: string, type: T, data: EventData<T>, producer: string): Promise<string> => {
    const envelope = createEnvelope({
      eventId: deterministicEventId(saga.workflowId, step, type),
      type,
      orderId: saga.orderId,
      correlationId: saga.correlationId,
      causationId: saga.causationId,
      producer,
      flow: 'orchestrated',
      data,
    });
    await deps.publisher.publish([envelope]);
    return envelope.eventId;
  };

  return {
    /** Step 1: records the order (pending) and publishes `order.placed`. */
    async acceptOrder(input: { saga: SagaRef; request: OrderRequest }): Promise<Published> {
      try {
        await createOrder(deps.pool, input.request, 'orchestrated');
        const { customerId, email, items } = input.request;
        return { eventId: await publish(input.saga, 'accept_order', 'order.placed', { customerId, email, items }, 'orders') };
      } catch (err) {
        throw toFailure(err);
      }
    },

    /** Step 2: reserves stock at catalog prices; publishes `inventory.reserved`, or `inventory.rejected` and fails. */
    async reserveStock(input: { saga: SagaRef; items: OrderLine[] }): Promise<Published & { lines: PricedLine[]; total: Money }> {
      try {
        const reservation = await reserveInventory(deps.pool, input.saga.orderId, input.items);
        const eventId = await publish(input.saga, 'reserve_stock', 'inventory.reserved', { lines: reservation.lines, total: reservation.total }, 'inventory');
        return { eventId, lines: reservation.lines, total: reservation.total };
      } catch (err) {
        if (err instanceof OutOfStockError || err instanceof UnknownSkuError) {
          const reason = err instanceof OutOfStockError ? 'out_of_stock' : 'unknown_sku';
          await publish(input.saga, 'reserve_stock', 'inventory.rejected', { reason, sku: err.sku }, 'inventory');
        }
        throw toFailure(err);
      }
    },

    /** Records an order status and/or publishes an orders event (review, confirmation, cancellation). */
    async recordOrderProgress(input: {
      saga: SagaRef;
      step: SagaStep | 'compensate' | 'cancel';
      status?: OrderStatus;
      reason?: CancellationReason;
      total?: Money;
      event?: OrderEvent;
    }): Promise<Published> {
      try {
        if (input.status) {
          try {
            await transitionOrder(deps.pool, input.saga.orderId, input.status, {
              ...(input.reason ? { reason: input.reason } : {}),
              ...(input.total ? { total: input.total } : {}),
            });
          } catch (err) {
            // A saga that failed before its order was recorded (the database refused the order)
            // still ends: there is no row to cancel, and `order.cancelled` below still tells the
            // read model. Any other transition of an order that does not exist is a fault.
            if (!(err instanceof OrderNotFoundError && input.status === 'cancelled')) throw err;
          }
        }
        if (!input.event) return { eventId: null };
        return { eventId: await publish(input.saga, input.step, input.event.type, input.event.data, 'orders') };
      } catch (err) {
        throw toFailure(err);
      }
    },

    /**
     * Step 4: charges the card once; publishes `payment.completed`, or `payment.failed` and fails on
     * a decline. `payment` is the vault's reference, opened here right before the call (`token`:
     * what a charge scheduled before the vault carried instead).
     */
    async chargePayment(input: { saga: SagaRef; amount: Money; payment?: string; token?: string }): Promise<Published & { chargeId: string }> {
      try {
        const token = await deps.vault.tokenOf(deps.pool, input.payment ?? input.token ?? '');
        const payment = await chargeAtGateway(deps.pool, deps.gateway, { orderId: input.saga.orderId, amount: input.amount, token });
        failpoint('after-charge-before-publish');
        const eventId = await publish(input.saga, 'charge_payment', 'payment.completed', { amount: payment.amount, chargeId: payment.chargeId }, 'payments');
        return { eventId, chargeId: payment.chargeId };
      } catch (err) {
        if (err instanceof PaymentDeclinedError) {
          await publish(input.saga, 'charge_payment', 'payment.failed', { reason: 'payment_declined', message: err.gatewayMessage }, 'payments');
        }
        throw toFailure(err);
      }
    },

    /** Publishes `payment.failed` when the gateway stayed unavailable for the whole retry window. */
    async reportPaymentUnavailable(input: { saga: SagaRef; message: string }): Promise<Published> {
      try {
        return {
          eventId: await publish(input.saga, 'charge_payment', 'payment.failed', { reason: 'payment_gateway_unavailable', message: input.message }, 'payments'),
        };
      } catch (err) {
        throw toFailure(err);
      }
    },

    /** Undo of step 4: refunds the charge (a no-op when nothing was charged); publishes `payment.refunded`. */
    async refundPayment(input: { saga: SagaRef }): Promise<Published> {
      try {
        const { refund } = await refundAtGateway(deps.pool, deps.gateway, input.saga.orderId);
        if (!refund) return { eventId: null };
        return { eventId: await publish(input.saga, 'compensate', 'payment.refunded', { amount: refund.amount, refundId: refund.refundId }, 'payments') };
      } catch (err) {
        throw toFailure(err);
      }
    },

    /** Undo of step 2: puts the stock back (a no-op when nothing was reserved); publishes `inventory.released`. */
    async releaseStock(input: { saga: SagaRef; reason?: CancellationReason }): Promise<Published> {
      try {
        const { reservation } = await releaseReservation(deps.pool, input.saga.orderId);
        if (!reservation) return { eventId: null };
        const lines = reservation.lines.map(({ sku, quantity }) => ({ sku, quantity }));
        return {
          eventId: await publish(input.saga, 'compensate', 'inventory.released', { lines, ...(input.reason ? { reason: input.reason } : {}) }, 'inventory'),
        };
      } catch (err) {
        throw toFailure(err);
      }
    },

    /**
     * Step 6 (and the end of a cancellation): emails the customer once; publishes `notification.sent`.
     * The email is opened with the customer's key right before the send; a customer erased since
     * gets none (and the saga goes on: an email never changes the outcome).
     */
    async notifyCustomer(input: { saga: SagaRef; template: NotificationTemplate }): Promise<Published> {
      try {
        const order = await getOrder(deps.pool, input.saga.orderId);
        const to = await openPersonalData(deps.pool, order.email);
        if (to === undefined) {
          Context.current().log.info('customer erased: no email', { orderId: order.orderId, template: input.template });
          return { eventId: null };
        }
        const { messageId } = await sendNotification(deps.pool, deps.mailer, {
          orderId: order.orderId,
          template: input.template,
          to,
          recipient: order.email,
          data: { orderId: order.orderId, total: order.total, reason: order.reason },
        });
        return {
          eventId: await publish(
            input.saga,
            `notify_customer/${input.template}`,
            'notification.sent',
            { template: input.template, messageId },
            'notifications',
          ),
        };
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}

/** The activities of the orchestrated flow, as the workflow sees them. */
export type OrderActivities = ReturnType<typeof createOrderActivities>;

import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OrderActivities, SagaRef } from '../activities/order-activities.ts';
import type { ErrorCode } from '../domain/errors.ts';
import { needsReview, reviewTimeout, type CancellationReason, type OrderStatus } from '../domain/order.ts';
import type { Compensation, NotificationTemplate, SagaStep } from '../domain/saga-steps.ts';
import {
  approveOrderSignal,
  approveOrderUpdate,
  cancelOrderSignal,
  cancelOrderUpdate,
  orderStatusQuery,
  rejectOrderSignal,
  rejectOrderUpdate,
  type OrderSagaStatus,
  type PlaceOrderInput,
} from './definitions.ts';
import { contextStep, gatewayCall, localContextStep, notification, refundCall } from './retry-profiles.ts';
import { orderSearchAttributeKeys as keys } from './search-attribute-keys.ts';

const contextActivities = proxyActivities<OrderActivities>(contextStep);
const localContextActivities = proxyLocalActivities<OrderActivities>(localContextStep);
const payments = proxyActivities<OrderActivities>(gatewayCall);
const refunds = proxyActivities<OrderActivities>(refundCall);
const mail = proxyActivities<OrderActivities>(notification);

/** Marks histories whose context steps are local activities (docs/orchestrated-flow.md). */
export const localContextStepsPatch = 'local-context-steps';

/** Ends the forward path of the saga: compensation follows, with this reason. */
class SagaAborted extends Error {
  constructor(readonly reason: CancellationReason) {
    super(reason);
  }
}

/** The error code of a failed activity (its ApplicationFailure type), if any. */
function failureCode(err: unknown): ErrorCode | undefined {
  // A regular activity's failure wraps the ApplicationFailure; a local activity's may be it.
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type as ErrorCode) : undefined;
}

/**
 * The orchestrated order saga: reserve stock → review when the total is at or above the threshold
 * (rejected after 24 h without an answer) → charge → confirm → notify. When a step fails or the
 * customer cancels, it runs the undo of every completed step in reverse order, in a scope that
 * cannot be cancelled, marks the order cancelled with its reason and tells the customer.
 */
export async function placeOrder(input: PlaceOrderInput): Promise<OrderSagaStatus> {
  const { request, correlationId } = input;
  // Context steps (accept, reserve, record progress, release) run as local activities since this
  // patch; sagas started before it replay with the regular activities their history recorded.
  const orders = patched(localContextStepsPatch) ? localContextActivities : contextActivities;
  // Every log line of the saga names the order and its journey (the workflow logger adds the ids
  // of the workflow and skips lines while replaying).
  const logFields = { orderId: request.orderId, correlationId };
  const state: OrderSagaStatus = {
    orderId: request.orderId,
    status: 'pending',
    currentStep: 'accept_order',
    stepsDone: [],
    compensations: [],
    reason: null,
    total: null,
    notificationFailed: false,
  };
  let cancelRequested = false;
  let reviewDecision: 'approved' | 'rejected' | null = null;
  /** Undo actions of the steps that may have had an effect, in the order they were taken. */
  const undo: { name: Compensation; run: (reason: CancellationReason) => Promise<unknown> }[] = [];
  let lastEventId: string | null = null;
  const saga = (): SagaRef => ({ orderId: request.orderId, workflowId: workflowInfo().workflowId, correlationId, causationId: lastEventId });
  const track = (published: { eventId: string | null }) => {
    if (published.eventId) lastEventId = published.eventId;
  };

  const setStatus = (status: OrderStatus) => {
    state.status = status;
    upsertSearchAttributes([
      { key: keys.orderStatus, value: status },
      ...(state.total ? [{ key: keys.orderTotal, value: state.total.amountCents }] : []),
    ]);
  };
  const begin = (step: SagaStep) => {
    state.currentStep = step;
  };
  const finish = (step: SagaStep) => {
    state.stepsDone.push(step);
  };

  // Cancellation is allowed until the order starts being confirmed.
  const cancellable = () => !cancelRequested && !['confirm_order', 'notify_customer', 'compensating', 'done'].includes(state.currentStep);
  const requestCancel = () => {
    cancelRequested = true;
  };
  const validateCancel = () => {
    if (!cancellable()) throw ApplicationFailure.nonRetryable(`order ${request.orderId} is ${state.status} (${state.currentStep}): it can no longer be cancelled`, 'ORDER_STATE_CONFLICT');
  };
  const validateReview = () => {
    if (state.status !== 'awaiting_review' || reviewDecision !== null || cancelRequested) {
      throw ApplicationFailure.nonRetryable(`order ${request.orderId} is ${state.status}: it is not waiting for review`, 'ORDER_STATE_CONFLICT');
    }
  };

  setHandler(orderStatusQuery, () => state);
  setHandler(cancelOrderUpdate, () => (requestCancel(), state), { validator: validateCancel });
  setHandler(approveOrderUpdate, () => ((reviewDecision = 'approved'), state), { validator: validateReview });
  setHandler(rejectOrderUpdate, () => ((reviewDecision = 'rejected'), state), { validator: validateReview });
  setHandler(cancelOrderSignal, () => {
    if (cancellable()) requestCancel();
    else log.warn('cancel signal ignored: the order can no longer be cancelled', { ...logFields, status: state.status });
  });
  setHandler(approveOrderSignal, () => {
    if (state.status === 'awaiting_review' && reviewDecision === null) reviewDecision = 'approved';
  });
  setHandler(rejectOrderSignal, () => {
    if (state.status === 'awaiting_review' && reviewDecision === null) reviewDecision = 'rejected';
  });

  const stopIfCancelled = () => {
    if (cancelRequested) throw new SagaAborted('customer_cancelled');
  };

  const notify = async (template: NotificationTemplate) => {
    try {
      track(await mail.notifyCustomer({ saga: saga(), template }));
    } catch (err) {
      // An email that cannot be sent never changes the order's outcome.
      state.notificationFailed = true;
      log.warn('customer notification failed', { ...logFields, template, error: String(err) });
    }
  };

  log.info('order saga started', logFields);
  try {
    track(await orders.acceptOrder({ saga: saga(), request }));
    finish('accept_order');
    stopIfCancelled();

    begin('reserve_stock');
    undo.push({ name: 'release_stock', run: (reason) => orders.releaseStock({ saga: saga(), reason }).then(track) });
    try {
      const reservation = await orders.reserveStock({ saga: saga(), items: request.items });
      track(reservation);
      state.total = reservation.total;
    } catch (err) {
      const code = failureCode(err);
      if (code === 'OUT_OF_STOCK' || code === 'UNKNOWN_SKU') {
        undo.pop(); // nothing was reserved
        throw new SagaAborted('out_of_stock');
      }
      throw err;
    }
    track(await orders.recordOrderProgress({ saga: saga(), step: 'reserve_stock', status: 'reserved', total: state.total }));
    setStatus('reserved');
    finish('reserve_stock');
    stopIfCancelled();

    if (needsReview(state.total)) {
      begin('review');
      track(await orders.recordOrderProgress({ saga: saga(), step: 'review', status: 'awaiting_review', event: { type: 'order.review_requested', data: { total: state.total } } }));
      setStatus('awaiting_review');
      const answered = await condition(() => reviewDecision !== null || cancelRequested, reviewTimeout);
      stopIfCancelled();
      if (reviewDecision !== 'approved') {
        const reason = answered ? 'review_rejected' : 'review_timeout';
        track(await orders.recordOrderProgress({ saga: saga(), step: 'review', event: { type: 'order.rejected', data: { reason } } }));
        throw new SagaAborted(reason);
      }
      track(await orders.recordOrderProgress({ saga: saga(), step: 'review', event: { type: 'order.approved', data: {} } }));
      finish('review');
    }

    begin('charge_payment');
    // Registered before the charge: if it is interrupted, we cannot know whether the processor
    // captured, and a refund of nothing is a no-op.
    undo.push({ name: 'refund_payment', run: () => refunds.refundPayment({ saga: saga() }).then(track) });
    try {
      const total = state.total;
      const charged = await CancellationScope.cancellable(async () => {
        const scope = CancellationScope.current();
        void condition(() => cancelRequested).then(() => scope.cancel());
        return payments.chargePayment({ saga: saga(), amount: total, token: request.paymentToken });
      });
      track(charged);
    } catch (err) {
      if (isCancellation(err) && cancelRequested) throw new SagaAborted('customer_cancelled');
      const code = failureCode(err);
      if (code === 'PAYMENT_DECLINED') {
        undo.pop(); // declined: nothing was captured
        throw new SagaAborted('payment_declined');
      }
      if (err instanceof ActivityFailure) {
        // Retried with backoff for 24 h and the gateway never answered: give up on this order.
        track(await orders.reportPaymentUnavailable({ saga: saga(), message: String(err.cause?.message ?? err.message) }));
        throw new SagaAborted('payment_gateway_unavailable');
      }
      throw err;
    }
    track(await orders.recordOrderProgress({ saga: saga(), step: 'charge_payment', status: 'paid' }));
    setStatus('paid');
    finish('charge_payment');
    stopIfCancelled();

    begin('confirm_order');
    track(await orders.recordOrderProgress({ saga: saga(), step: 'confirm_order', status: 'confirmed', event: { type: 'order.confirmed', data: { total: state.total } } }));
    setStatus('confirmed');
    finish('confirm_order');

    begin('notify_customer');
    await notify('order_confirmed');
    finish('notify_customer');
    state.currentStep = 'done';
    log.info('order saga ended', { ...logFields, status: state.status });
    return state;
  } catch (err) {
    const workflowCancelled = isCancellation(err);
    if (!(err instanceof SagaAborted) && !workflowCancelled) throw err;
    const reason: CancellationReason = err instanceof SagaAborted ? err.reason : 'customer_cancelled';
    state.currentStep = 'compensating';
    state.reason = reason;
    log.info('order saga compensating', { ...logFields, reason, undo: undo.map((u) => u.name).reverse() });
    await CancellationScope.nonCancellable(async () => {
      if (reason === 'customer_cancelled') {
        track(await orders.recordOrderProgress({ saga: saga(), step: 'cancel', event: { type: 'order.cancel_requested', data: { reason } } }));
      }
      for (const action of [...undo].reverse()) {
        await action.run(reason);
        state.compensations.push(action.name);
      }
      track(await orders.recordOrderProgress({ saga: saga(), step: 'compensate', status: 'cancelled', reason, event: { type: 'order.cancelled', data: { reason } } }));
      setStatus('cancelled');
      await notify('order_cancelled');
    });
    state.currentStep = 'done';
    log.info('order saga ended', { ...logFields, status: state.status, reason });
    if (workflowCancelled) throw err;
    return state;
  }
}

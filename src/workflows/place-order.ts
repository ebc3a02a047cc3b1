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
  sleep,
  TemporalFailure,
  TimeoutFailure,
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

/**
 * Marks histories in which an unexpected failure of a step (a non-retryable failure that is not a
 * business answer, such as `DATA_REJECTED` or `ORDER_CONFLICT`) compensates and ends the order
 * `cancelled` with reason `system_error`; before it, the workflow failed and left the order as it was.
 */
export const systemErrorPatch = 'compensate-system-errors';

/**
 * Marks histories in which the charge is scheduled only in a workflow task of its own, right after
 * a last look at the cancel requests, and in which a `cancel` update answers only once the charge's
 * cancellation has been requested (docs/orchestrated-flow.md, "Cancelling before the charge").
 */
export const chargeAfterCancelCheckPatch = 'charge-after-cancel-check';

/**
 * Marks histories in which the 24 h review timer is cancelled by the update or signal that answers
 * the review, and an update answers only after that, so the order of the update's completion and
 * `TimerCanceled` in the history does not depend on the workflow interceptors installed
 * (docs/orchestrated-flow.md, "Updates and the replayer").
 */
export const reviewAnswerCancelsTimerPatch = 'review-answer-cancels-timer';

/**
 * Marks histories in which a charge that fails after the customer's cancel was accepted (timed out
 * because the worker running it died, failed, or was declined) ends the order `customer_cancelled`;
 * before it, such a failure ended it `payment_gateway_unavailable`, `system_error` or
 * `payment_declined`, and the customer was told a wrong reason (docs/orchestrated-flow.md).
 */
export const acceptedCancelOutranksChargeFailurePatch = 'accepted-cancel-outranks-charge-failure';

/**
 * Marks histories in which the last context step before the charge (recording the reservation, or
 * the review's approval) runs as a regular activity, whose completion starts the charge's workflow
 * task at once. Before it, a local activity and a 1 ms timer did: the server fires a timer on its
 * timer queue's next pass, which took about 0.8 s of an idle order's 1.2 s on the dev server.
 */
export const chargeAfterRegularStepPatch = 'charge-after-regular-step';

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
  // Whether the step before the charge ran as a regular activity, which ends the workflow task
  // (chargeAfterRegularStepPatch): the charge is then scheduled in the next task, without a timer.
  let chargeTaskStarted = false;
  const stepBeforeCharge = () => {
    chargeTaskStarted = patched(chargeAfterRegularStepPatch);
    return chargeTaskStarted ? contextActivities : orders;
  };
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
  /**
   * Scopes whose cancellation an answer (cancel, approve, reject) must request before its update
   * completes: the review timer while the order waits for review, the charge while it runs. Only set
   * in sagas with the patches that use them.
   */
  let reviewTimerScope: CancellationScope | undefined;
  let chargeScope: CancellationScope | undefined;
  /**
   * Requests the cancellation of the scopes that are set, and returns a promise that resolves once
   * the commands this causes (cancel the timer, request the activity's cancellation) have been
   * issued, or undefined when no scope was set. The SDK issues those commands in reactions to
   * `cancelRequested` registered when the timer or activity started, and reactions run in the order
   * they were registered, so an update that answers after this promise completes after those
   * commands in the history, however many steps the installed interceptors add around its handler.
   */
  const cancelScopes = (...scopes: (CancellationScope | undefined)[]): Promise<void> | undefined => {
    const set = scopes.filter((scope) => scope !== undefined);
    if (set.length === 0) return undefined;
    for (const scope of set) scope.cancel();
    return Promise.all(set.map((scope) => scope.cancelRequested.catch(() => undefined))).then(() => undefined);
  };
  /** An update's answer: the status, once the commands its handler caused are issued. */
  const answerAfter = (issued: Promise<void> | undefined): OrderSagaStatus | Promise<OrderSagaStatus> => (issued ? issued.then(() => state) : state);
  /** Undo actions of the steps that may have had an effect, in the order they were taken. */
  const undo: { name: Compensation; run: (reason: CancellationReason) => Promise<unknown> }[] = [];
  let lastEventId: string | null = null;
  const saga = (): SagaRef => ({ orderId: request.orderId, workflowId: workflowInfo().workflowId, correlationId, causationId: lastEventId });
  const track = (published: { eventId: string | null }) => {
    if (published.eventId) lastEventId = published.eventId;
  };

  const setStatus = (status: OrderStatus) => {
    state.status = status;
    upsertSearchAttributes([{ key: keys.orderStatus, value: status }, ...(state.total ? [{ key: keys.orderTotal, value: state.total.amountCents }] : [])]);
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
    return cancelScopes(reviewTimerScope, chargeScope);
  };
  const answerReview = (decision: 'approved' | 'rejected') => {
    reviewDecision = decision;
    return cancelScopes(reviewTimerScope);
  };
  const validateCancel = () => {
    if (!cancellable())
      throw ApplicationFailure.nonRetryable(
        `order ${request.orderId} is ${state.status} (${state.currentStep}): it can no longer be cancelled`,
        'ORDER_STATE_CONFLICT',
      );
  };
  const validateReview = () => {
    // A validator's rejection is not written to the history: its wording can change freely.
    const why =
      state.status !== 'awaiting_review'
        ? 'it is not waiting for review'
        : reviewDecision !== null
          ? `its review was already answered (${reviewDecision})`
          : cancelRequested
            ? 'a cancel was requested'
            : undefined;
    if (why)
      throw ApplicationFailure.create({
        message: `order ${request.orderId} is ${state.status}: ${why}`,
        type: 'ORDER_STATE_CONFLICT',
        nonRetryable: true,
        details: [why],
      });
  };

  setHandler(orderStatusQuery, () => state);
  // The updates answer once the scopes they cancel have issued their commands (cancelScopes); in
  // sagas without the patches no scope is set and they answer at once, exactly as they always did.
  setHandler(cancelOrderUpdate, () => answerAfter(requestCancel()), { validator: validateCancel });
  setHandler(approveOrderUpdate, () => answerAfter(answerReview('approved')), { validator: validateReview });
  setHandler(rejectOrderUpdate, () => answerAfter(answerReview('rejected')), { validator: validateReview });
  setHandler(cancelOrderSignal, () => {
    if (cancellable()) void requestCancel();
    else log.warn('cancel signal ignored: the order can no longer be cancelled', { ...logFields, status: state.status });
  });
  setHandler(approveOrderSignal, () => {
    if (state.status === 'awaiting_review' && reviewDecision === null) void answerReview('approved');
  });
  setHandler(rejectOrderSignal, () => {
    if (state.status === 'awaiting_review' && reviewDecision === null) void answerReview('rejected');
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

  /**
   * Waits for the review's answer or the 24 h timer; true when answered. The timer runs in its own
   * scope, which the handler that answers cancels (answerReview, requestCancel), so the timer's
   * cancellation is issued before an update's answer whatever the interceptors installed.
   */
  const waitForReview = async (): Promise<boolean> => {
    reviewTimerScope = new CancellationScope();
    const timedOut = reviewTimerScope
      .run(() => sleep(reviewTimeout))
      .then(
        () => true,
        (err: unknown) => {
          // Cancelled by an answer; a cancellation of the whole workflow goes on as one.
          if (isCancellation(err) && (reviewDecision !== null || cancelRequested)) return false;
          throw err;
        },
      );
    const answered = await Promise.race([timedOut.then((fired) => !fired), condition(() => reviewDecision !== null || cancelRequested).then(() => true)]);
    reviewTimerScope = undefined;
    return answered;
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
    const review = needsReview(state.total);
    track(await (review ? orders : stepBeforeCharge()).recordOrderProgress({ saga: saga(), step: 'reserve_stock', status: 'reserved', total: state.total }));
    setStatus('reserved');
    finish('reserve_stock');
    stopIfCancelled();

    if (review) {
      begin('review');
      track(
        await orders.recordOrderProgress({
          saga: saga(),
          step: 'review',
          status: 'awaiting_review',
          event: { type: 'order.review_requested', data: { total: state.total } },
        }),
      );
      setStatus('awaiting_review');
      const answered = patched(reviewAnswerCancelsTimerPatch)
        ? await waitForReview()
        : await condition(() => reviewDecision !== null || cancelRequested, reviewTimeout);
      stopIfCancelled();
      if (reviewDecision !== 'approved') {
        const reason = answered ? 'review_rejected' : 'review_timeout';
        track(await orders.recordOrderProgress({ saga: saga(), step: 'review', event: { type: 'order.rejected', data: { reason } } }));
        throw new SagaAborted(reason);
      }
      track(await stepBeforeCharge().recordOrderProgress({ saga: saga(), step: 'review', event: { type: 'order.approved', data: {} } }));
      finish('review');
    }

    begin('charge_payment');
    const checkCancelBeforeCharge = patched(chargeAfterCancelCheckPatch);
    if (checkCancelBeforeCharge) {
      // The steps so far ran as local activities inside one workflow task, and the server delivers
      // a cancel that arrived meanwhile only in the next task: scheduling the charge in this one
      // let the worker start it before the workflow saw the cancel. A 1 ms timer ends this task;
      // the next one brings every update and signal that arrived until then, and the check below
      // runs in the same step as the scheduling, with nothing in between.
      // Since chargeAfterRegularStepPatch, the step before ended the task: this one began with its
      // completion and holds every update that arrived until then.
      if (!chargeTaskStarted) await sleep(1);
      stopIfCancelled();
    }
    // Registered before the charge: if it is interrupted, we cannot know whether the processor
    // captured, and a refund of nothing is a no-op.
    undo.push({ name: 'refund_payment', run: () => refunds.refundPayment({ saga: saga() }).then(track) });
    try {
      const total = state.total;
      // The vault's reference; the input of a saga started before the vault carried the token instead.
      const payment = request.paymentRef ?? (request as { paymentToken?: string }).paymentToken ?? '';
      const charge = () => payments.chargePayment({ saga: saga(), amount: total, payment });
      let charged;
      if (checkCancelBeforeCharge) {
        // A cancel from now on cancels this scope itself (requestCancel), before its update answers.
        // The charge activity waits for a running attempt to end (WAIT_CANCELLATION_COMPLETED), and
        // one that has not started is never started: the server drops it with the cancel request.
        chargeScope = new CancellationScope();
        try {
          charged = await chargeScope.run(charge);
        } finally {
          chargeScope = undefined;
        }
      } else {
        charged = await CancellationScope.cancellable(async () => {
          const scope = CancellationScope.current();
          void condition(() => cancelRequested).then(() => scope.cancel());
          return charge();
        });
      }
      track(charged);
    } catch (err) {
      if (isCancellation(err) && cancelRequested) throw new SagaAborted('customer_cancelled');
      const code = failureCode(err);
      // The customer's cancel was accepted (and answered) while the charge ran, and the charge then
      // failed otherwise: its attempt timed out because the worker running it died (the server does
      // not retry an activity whose cancellation was requested), it failed, or the card was
      // declined. The order ends as the customer was told; the failure is not the gateway's. The
      // patch is checked only on this path, so the histories of every other path are unchanged.
      if (cancelRequested && err instanceof TemporalFailure && patched(acceptedCancelOutranksChargeFailurePatch)) {
        // A decline is a definitive answer that nothing was captured; after any other failure a
        // capture may have happened, so the refund stays.
        if (code === 'PAYMENT_DECLINED') undo.pop();
        throw new SagaAborted('customer_cancelled');
      }
      if (code === 'PAYMENT_DECLINED') {
        undo.pop(); // declined: nothing was captured
        throw new SagaAborted('payment_declined');
      }
      // The gateway stayed unavailable for the whole retry window (24 h): the activity timed out.
      // Any other failure (data the database refused, a bug) is not the gateway's: a system error.
      if (err instanceof ActivityFailure && (!patched(systemErrorPatch) || err.cause instanceof TimeoutFailure || code === 'PAYMENT_GATEWAY_UNAVAILABLE')) {
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
    track(
      await orders.recordOrderProgress({
        saga: saga(),
        step: 'confirm_order',
        status: 'confirmed',
        event: { type: 'order.confirmed', data: { total: state.total } },
      }),
    );
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
    let reason: CancellationReason;
    if (err instanceof SagaAborted) reason = err.reason;
    else if (workflowCancelled) reason = 'customer_cancelled';
    else if (err instanceof TemporalFailure && patched(systemErrorPatch)) {
      // A step failed for good without a business answer (the database refused the data, the order
      // id clashes, an unexpected error code): the order must still end, so it is compensated and
      // cancelled like any other failure, with the reason that says it was ours. Errors that are
      // not Temporal failures are bugs in this code: they fail the workflow task, which is retried
      // until a fixed worker runs it, and never end an order.
      reason = 'system_error';
      log.error('order saga step failed unexpectedly', { ...logFields, step: state.currentStep, error: String(err), cause: String(err.cause ?? '') });
    } else throw err;
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
      track(
        await orders.recordOrderProgress({
          saga: saga(),
          step: 'compensate',
          status: 'cancelled',
          reason,
          event: { type: 'order.cancelled', data: { reason } },
        }),
      );
      setStatus('cancelled');
      await notify('order_cancelled');
    });
    state.currentStep = 'done';
    log.info('order saga ended', { ...logFields, status: state.status, reason });
    if (workflowCancelled) throw err;
    return state;
  }
}

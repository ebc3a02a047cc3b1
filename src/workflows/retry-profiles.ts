import { ActivityCancellationType, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';
import { nonRetryableErrorCodes } from '../domain/errors.ts';

/** Exponential backoff shared by every profile: 1 s, 2 s, 4 s … capped at 1 min between attempts. */
const backoff = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', nonRetryableErrorTypes: nonRetryableErrorCodes };

/** A context operation plus its event publish (database, Kafka): retried until it succeeds. */
export const contextStep: ActivityOptions = { startToCloseTimeout: '10 seconds', retry: backoff };

/**
 * The same context operations run as local activities: they are short, idempotent writes to our
 * own database, so the worker runs them in the workflow task that needs them instead of a round
 * trip through the server per step (history gets one marker per step instead of three activity
 * events and a workflow task). Retried in the worker while the backoff is under 10 s, then through
 * a server timer, until they succeed.
 */
export const localContextStep: LocalActivityOptions = { startToCloseTimeout: '10 seconds', localRetryThreshold: '10 seconds', retry: backoff };

/**
 * A charge at the payment gateway: retried with backoff, given up after 24 h. When the customer
 * cancels during the charge, the workflow waits for a running attempt to end before it refunds,
 * so a refund never overtakes a capture that is still in flight.
 */
export const gatewayCall: ActivityOptions = {
  startToCloseTimeout: '15 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: backoff,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};

/** A refund while compensating: never given up, money must go back. */
export const refundCall: ActivityOptions = { startToCloseTimeout: '15 seconds', retry: backoff };

/** An email: retried for an hour, then the saga goes on without it. */
export const notification: ActivityOptions = { startToCloseTimeout: '10 seconds', scheduleToCloseTimeout: '1 hour', retry: backoff };

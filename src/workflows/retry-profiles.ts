import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import { nonRetryableErrorCodes } from '../domain/errors.ts';

/** Exponential backoff shared by every profile: 1 s, 2 s, 4 s … capped at 1 min between attempts. */
const backoff = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', nonRetryableErrorTypes: nonRetryableErrorCodes };

/** A context operation plus its event publish (database, Kafka): retried until it succeeds. */
export const contextStep: ActivityOptions = { startToCloseTimeout: '10 seconds', retry: backoff };

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

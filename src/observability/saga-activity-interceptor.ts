import type { Context } from '@temporalio/activity';
import type { ActivityInterceptors } from '@temporalio/worker';
import type { SagaMetrics } from './saga-metrics.ts';

/** What this interceptor reads of the saga reference every order activity takes as `input.saga` (src/activities' SagaRef). */
interface SagaRef {
  orderId: string;
  correlationId: string;
}

/** The saga reference of this call, if it has one. */
function sagaOf(args: readonly unknown[]): SagaRef | undefined {
  const first = args[0] as { saga?: SagaRef } | undefined;
  return first?.saga;
}

/**
 * Activity interceptor of the worker: binds `orderId` and `correlationId` to every log line of an
 * order activity (next to the SDK's workflowId, activityType and attempt), logs each attempt's
 * outcome, and records step durations and retries.
 */
export function sagaActivityInterceptor(metrics: SagaMetrics) {
  return (ctx: Context): ActivityInterceptors => {
    let saga: SagaRef | undefined;
    return {
      inbound: {
        async execute(input, next) {
          saga = sagaOf(input.args);
          const { activityType, attempt } = ctx.info;
          if (attempt > 1) metrics.activityRetries.inc({ activity: activityType });
          const stopTimer = metrics.activityDuration.startTimer({ activity: activityType });
          try {
            const result = await next(input);
            ctx.log.info('activity completed', { durationMs: Math.round(stopTimer({ outcome: 'completed' }) * 1000) });
            return result;
          } catch (err) {
            const durationMs = Math.round(stopTimer({ outcome: 'failed' }) * 1000);
            ctx.log.warn('activity failed', { durationMs, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
            throw err;
          }
        },
      },
      outbound: {
        getLogAttributes: (attributes, next) => next(saga ? { ...attributes, orderId: saga.orderId, correlationId: saga.correlationId } : attributes),
      },
    };
  };
}

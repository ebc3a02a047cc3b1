import { Counter, Histogram, type Registry } from 'prom-client';

/** Step durations and retries of the orchestrated saga's activities (worker process). */
export function createSagaMetrics(registry: Registry) {
  return {
    activityDuration: new Histogram({
      name: 'order_saga_activity_duration_seconds',
      help: 'Duration of one attempt of an order activity (a saga step), by outcome',
      labelNames: ['activity', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    activityRetries: new Counter({
      name: 'order_saga_activity_retries_total',
      help: 'Attempts of an order activity after its first (Temporal retries)',
      labelNames: ['activity'],
      registers: [registry],
    }),
  };
}

export type SagaMetrics = ReturnType<typeof createSagaMetrics>;

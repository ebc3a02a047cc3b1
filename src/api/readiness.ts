import type { Admin } from 'kafkajs';
import type { Queryable } from '../platform/database.ts';

/** One dependency `/readyz` checks: `check` rejects, saying why, when it is not usable. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

/** What `/readyz` asks of Temporal (the orchestrated flow's OrderSagaClient answers it). */
export interface TemporalReadiness {
  /** The task queue of the sagas. */
  readonly taskQueue: string;
  /** Rejects unless the Temporal frontend answers. */
  checkFrontend(): Promise<void>;
  /** True when a worker polled the task queue lately. */
  workerPolling(): Promise<boolean>;
}

/**
 * What the API needs to serve every route: PostgreSQL (orders, read model, idempotency keys),
 * Kafka (the choreographed flow's events), the Temporal frontend (starting sagas) and a worker
 * polling the saga task queue (live reads and commands of orchestrated orders wait for one).
 */
export function dependencyChecks(deps: { pool: Queryable; kafkaAdmin: Pick<Admin, 'describeCluster'>; sagas: TemporalReadiness }): ReadinessCheck[] {
  return [
    { name: 'postgresql', check: async () => void (await deps.pool.query('select 1')) },
    { name: 'kafka', check: async () => void (await deps.kafkaAdmin.describeCluster()) },
    { name: 'temporal', check: () => deps.sagas.checkFrontend() },
    {
      name: 'temporal-worker',
      check: async () => {
        if (!(await deps.sagas.workerPolling())) throw new Error(`no worker polls task queue ${deps.sagas.taskQueue}`);
      },
    },
  ];
}

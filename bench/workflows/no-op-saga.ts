import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

/** The no-op activity of the baseline: nothing to do, so only Temporal's own cost is measured. */
export interface NoOpActivities {
  noOp(step: number): Promise<number>;
}

const regular = proxyActivities<NoOpActivities>({ startToCloseTimeout: '10 seconds' });
const local = proxyLocalActivities<NoOpActivities>({ startToCloseTimeout: '10 seconds' });

/**
 * The benchmark's Temporal baseline: the saga's steps in the same order and of the same kind
 * (`plan`, e.g. local, local, local, regular, …), each a no-op. What it sustains is the limit the
 * orchestrated flow's durable steps imply on this Temporal server and worker.
 */
export async function noOpSaga(plan: ('local' | 'regular')[]): Promise<number> {
  for (const [step, kind] of plan.entries()) await (kind === 'local' ? local : regular).noOp(step);
  return plan.length;
}

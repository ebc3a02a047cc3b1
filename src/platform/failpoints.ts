/**
 * Failpoints: named places where a test may make this process die at once (SIGKILL), to prove
 * that a crash there leaves a state the system recovers from. Off unless the environment variable
 * ORDER_SAGA_FAILPOINT names the point; never set it in production.
 */
export type FailpointName =
  /** The gateway captured, our payments row is not written yet. */
  | 'after-capture-before-record'
  /** The charge is captured and recorded, its event is not published yet. */
  | 'after-charge-before-publish'
  /** The outbox relay published a batch and has not marked it sent. */
  | 'relay-after-publish-before-mark'
  /** A consumer applied an event (committed) and has not committed its Kafka offset. */
  | 'consumer-after-apply';

/** Kills the process when `ORDER_SAGA_FAILPOINT` equals `name`. */
export function failpoint(name: FailpointName, env: NodeJS.ProcessEnv = process.env): void {
  if (env.ORDER_SAGA_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}

import type { Connection } from '@temporalio/client';
import { msToTs, tsToMs } from '@temporalio/common';

/**
 * The shortest namespace retention the stack's Temporal servers accept. The server's own floor for
 * a local namespace is 1 hour (`system.namespaceMinRetentionLocal`; below it every call answers
 * INVALID_ARGUMENT "A valid retention period is not set on request."); the stack lowers that floor
 * to 1 s (see {@link temporalRetentionDynamicConfig}) so that a soak can run on minutes. Zero
 * stays refused (the server would read it as "forever").
 */
export const minNamespaceRetentionMs = 1000;

/**
 * The dynamic configuration the stack's Temporal servers run with for retention: the floor above,
 * and a jitter of 1 minute (the server's default is 30) on when a closed workflow past its
 * retention is deleted, so a short retention shows within a minute of its end.
 */
export const temporalRetentionDynamicConfig = {
  'system.namespaceMinRetentionLocal': `${minNamespaceRetentionMs / 1000}s`,
  'history.retentionTimerJitterDuration': '1m',
} as const;

/**
 * Makes `namespace`'s workflow execution retention `retentionMs`: updates the namespace when its
 * own differs (registering it is the caller's). Returns whether it changed it. Safe to repeat, and
 * from several starts at once (they set the same value).
 */
export async function ensureNamespaceRetention(connection: Connection, namespace: string, retentionMs: number): Promise<boolean> {
  const described = await connection.workflowService.describeNamespace({ namespace });
  const current = described.config?.workflowExecutionRetentionTtl;
  if (current && tsToMs(current) === retentionMs) return false;
  await connection.workflowService.updateNamespace({ namespace, config: { workflowExecutionRetentionTtl: msToTs(retentionMs) } });
  return true;
}

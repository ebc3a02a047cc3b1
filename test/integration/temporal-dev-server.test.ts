import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { msToTs, tsToMs } from '@temporalio/common';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { ensureNamespaceRetention } from '../../infra/stack/servers/temporal-namespace.ts';
import { orderSearchAttributes } from '../../src/domain/search-attributes.ts';
import { createSmokeActivities } from '../fixtures/smoke-activities.ts';
import type { greetAndTag } from '../fixtures/workflows/smoke.workflow.ts';
import { orderStatusKey } from '../fixtures/workflows/smoke-search-attributes.ts';
import '../setup/servers.ts';

const require = createRequire(import.meta.url);

describe('Temporal dev server', () => {
  const { temporalAddress, temporalNamespace } = inject('servers');
  let connection: Connection;
  let client: Client;

  beforeAll(async () => {
    connection = await Connection.connect({ address: temporalAddress });
    client = new Client({ connection, namespace: temporalNamespace });
  });

  afterAll(async () => {
    await connection?.close();
  });

  it('has the order search attributes of DESIGN.md registered', async () => {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: temporalNamespace });
    const registered = Object.keys(customAttributes ?? {});
    expect(registered).toEqual(expect.arrayContaining(Object.keys(orderSearchAttributes)));
  });

  it("has the stack's namespace retention (TEMPORAL_NAMESPACE_RETENTION_MS), set at start", async () => {
    const { config } = await connection.workflowService.describeNamespace({ namespace: temporalNamespace });
    expect(tsToMs(config!.workflowExecutionRetentionTtl)).toBe(loadStackConfig().TEMPORAL_NAMESPACE_RETENTION_MS);
  });

  it('sets a namespace retention that differs, leaves one that is right, and accepts one of a few seconds (the stack lowers the 1 h floor)', async () => {
    const namespace = `retention-${randomUUID()}`;
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
    const retentionOf = async () => tsToMs((await connection.workflowService.describeNamespace({ namespace })).config!.workflowExecutionRetentionTtl);

    expect(await ensureNamespaceRetention(connection, namespace, 5 * 60_000)).toBe(true);
    expect(await retentionOf()).toBe(5 * 60_000);
    expect(await ensureNamespaceRetention(connection, namespace, 5 * 60_000)).toBe(false);
    expect(await ensureNamespaceRetention(connection, namespace, 2000)).toBe(true);
    expect(await retentionOf()).toBe(2000);
    // Zero (which the server would read as "forever") stays refused.
    await expect(ensureNamespaceRetention(connection, namespace, 0)).rejects.toThrow('A valid retention period is not set on request.');
  });

  it('runs a workflow with an activity on a worker, and the client reads its result and search attributes', async () => {
    const taskQueue = `smoke-${randomUUID()}`;
    const workflowId = `smoke-${randomUUID()}`;
    const calls: string[] = [];
    const worker = await Worker.create({
      connection: await NativeConnection.connect({ address: temporalAddress }),
      namespace: temporalNamespace,
      taskQueue,
      workflowsPath: require.resolve('../fixtures/workflows/smoke.workflow.ts'),
      activities: createSmokeActivities(calls),
    });

    const result = await worker.runUntil(client.workflow.execute<typeof greetAndTag>('greetAndTag', { args: ['Ada'], workflowId, taskQueue }));

    expect(result).toBe('hello Ada from greetAndTag');
    expect(calls).toEqual(['Ada']);
    const description = await client.workflow.getHandle(workflowId).describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.typedSearchAttributes.get(orderStatusKey)).toBe('smoke-done');

    // Visibility (what the Web UI lists and filters) catches up shortly after the workflow ends.
    let listed: string[] = [];
    for (let attempt = 0; attempt < 50 && listed.length === 0; attempt++) {
      listed = [];
      for await (const execution of client.workflow.list({ query: `WorkflowId = "${workflowId}" AND OrderStatus = "smoke-done"` })) {
        listed.push(execution.workflowId);
      }
      if (listed.length === 0) await sleep(200);
    }
    expect(listed).toEqual([workflowId]);
  });
});

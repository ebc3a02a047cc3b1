import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
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

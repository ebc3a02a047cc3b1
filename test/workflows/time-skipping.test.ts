import { createRequire } from 'node:module';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { sleepForDays } from '../fixtures/workflows/smoke.workflow.ts';
import '../setup/servers.ts';

const require = createRequire(import.meta.url);
const dayMs = 24 * 60 * 60 * 1000;

describe('time-skipping test server', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: inject('timeSkippingServerPath') } },
    });
  });

  afterAll(async () => {
    await env?.teardown();
  });

  it('runs a workflow that sleeps 30 days, skipping the time instead of waiting', async () => {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'time-skipping-smoke',
      workflowsPath: require.resolve('../fixtures/workflows/smoke.workflow.ts'),
    });
    const before = await env.currentTimeMs();

    const result = await worker.runUntil(
      env.client.workflow.execute<typeof sleepForDays>('sleepForDays', { args: [30], workflowId: 'sleep-30-days', taskQueue: 'time-skipping-smoke' }),
    );

    expect(result).toBe('slept 30 days');
    // The server's clock moved a month ahead: the sleep was skipped, not waited out.
    expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(30 * dayMs);
  });
});

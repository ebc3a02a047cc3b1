import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Resource } from '@opentelemetry/resources';
import type { temporal } from '@temporalio/proto';
import { makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { answerUpdate, waitingQuery, type waitForAnswerByUpdate } from '../fixtures/workflows/update-ends-condition-timer.workflow.ts';
import '../setup/servers.ts';

const require = createRequire(import.meta.url);
const workflowsPath = require.resolve('../fixtures/workflows/update-ends-condition-timer.workflow.ts');
const tracingInterceptors = { workflowModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')] };

/** Names the event types of a history, for the failure message. */
const eventTypes = (history: temporal.api.history.v1.IHistory) =>
  history.events!.map((e) =>
    Object.keys(e)
      .find((k) => k.endsWith('EventAttributes'))!
      .replace('EventAttributes', ''),
  );

// A characterization test of the SDK (1.24.0), not of our code: it passes while the SDK behaves as
// described in docs/orchestrated-flow.md, and fails the day it stops, so that placeOrder's
// workaround (patch review-answer-cancels-timer) can be revisited.
describe('SDK: an update that ends a condition with a timeout, on a worker with the OpenTelemetry workflow interceptors', () => {
  let env: TestWorkflowEnvironment;
  let history: temporal.api.history.v1.IHistory;

  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: inject('timeSkippingServerPath') } } });
    const taskQueue = `update-timer-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath,
      interceptors: tracingInterceptors,
      sinks: { exporter: makeWorkflowExporter(new SimpleSpanProcessor(new InMemorySpanExporter()), new Resource({ 'service.name': 'sdk-repro' })) },
    });
    history = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start<typeof waitForAnswerByUpdate>('waitForAnswerByUpdate', {
        workflowId: `update-timer-${randomUUID()}`,
        taskQueue,
      });
      while (!(await handle.query(waitingQuery))) await sleep(50);
      await handle.executeUpdate(answerUpdate);
      await handle.result();
      return handle.fetchHistory();
    });
  });

  afterAll(async () => {
    await env?.teardown();
  });

  const replay = async (interceptors?: typeof tracingInterceptors) => {
    const result = await Worker.runReplayHistory({ workflowsPath, ...(interceptors ? { interceptors } : {}) }, history).then(
      () => undefined,
      (err: unknown) => String(err),
    );
    return result;
  };

  it('records the timer cancel before the update completion', () => {
    const types = eventTypes(history);
    expect(types.indexOf('timerCanceled'), types.join(', ')).toBeLessThan(types.indexOf('workflowExecutionUpdateCompleted'));
  });

  it('replays the history with the same interceptors', async () => {
    expect(await replay(tracingInterceptors)).toBeUndefined();
  });

  it('fails to replay it without them: "Update machine does not handle this event: TimerCanceled"', async () => {
    const error = await replay();
    expect(error).toMatch(/TMPRL1100/);
    expect(error).toMatch(/Update machine does not handle this event: HistoryEvent\(id: \d+, TimerCanceled\)/);
  });
});

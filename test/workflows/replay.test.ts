import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { orderScenarios } from '../scenarios/order-scenarios.ts';

const require = createRequire(import.meta.url);
// @temporalio/common and @temporalio/proto must share one protobufjs for this to work; the
// devDependency protobufjs@8 in package.json hoists it (grpc-js keeps its own protobufjs 7).
const historiesDir = join(dirname(fileURLToPath(import.meta.url)), 'histories');
const workflowsPath = require.resolve('../../src/workflows/index.ts');
/** The workflow interceptors of the stack's worker when tracing is on (src/observability/temporal-tracing.ts). */
const tracingInterceptors = { workflowModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')] };

// Histories recorded from the scenario runs on the time-skipping server (RECORD_HISTORIES=1
// npm run test:record-histories writes histories/current). Replaying them against today's workflow
// code fails when a change would break orders already running. Each `before-*` folder holds the
// histories of an earlier version of the code (before-local-context-steps: every step a regular
// activity; before-system-error-and-cancel-patches: before the patches compensate-system-errors,
// charge-after-cancel-check and review-answer-cancels-timer; before-charge-after-regular-step: a
// 1 ms timer before the charge, before the patch charge-after-regular-step), which must replay too:
// its sagas may still be running when the new code is deployed.
//
// `recorded-on-dev-server*` folders come from the real dev server, driven with updates, by a worker
// traced like the stack's (the OpenTelemetry workflow interceptors):
// test/integration/orchestrated-replay.test.ts writes `recorded-on-dev-server` with
// RECORD_HISTORIES=1. `recorded-on-dev-server-before-update-ordering-patches` was recorded the same
// way with the code before those patches: its update answers and timer cancels are ordered by the
// interceptors it ran with, so it replays with them only (docs/orchestrated-flow.md).
// `recorded-on-dev-server-before-charge-after-regular-step` was recorded with the code before that patch.
//
// `charge-failure-after-cancel-*` folders hold the path the scenario table does not take: a charge
// that fails after the customer's cancel was accepted (test/workflows/place-order.test.ts writes
// `charge-failure-after-cancel-current` with RECORD_HISTORIES=1); `-before-accepted-cancel-patch`
// was recorded by the code before the patch accepted-cancel-outranks-charge-failure,
// `-before-charge-after-regular-step` by the code before charge-after-regular-step.
const folders = readdirSync(historiesDir);
const isDevServerFolder = (f: string) => f.startsWith('recorded-on-dev-server');
const isChargeFailureAfterCancelFolder = (f: string) => f.startsWith('charge-failure-after-cancel');
const scenarioFolders = folders.filter((f) => !isDevServerFolder(f) && !isChargeFailureAfterCancelFolder(f));
const devServerFolders = folders.filter(isDevServerFolder);
const chargeFailureAfterCancelFolders = folders.filter(isChargeFailureAfterCancelFolder);
const filesOf = (folder: string) =>
  readdirSync(join(historiesDir, folder))
    .filter((f) => f.endsWith('.json'))
    .map((f) => join(folder, f));

/** Replays the files and answers each one's error, if any. */
async function replay(files: string[], interceptors?: { workflowModules: string[] }): Promise<{ workflowId: string; error?: string }[]> {
  const histories = files.map((file) => ({ workflowId: file, history: historyFromJSON(JSON.parse(readFileSync(join(historiesDir, file), 'utf8'))) }));
  const results: { workflowId: string; error?: string }[] = [];
  for await (const result of Worker.runReplayHistories({ workflowsPath, ...(interceptors ? { interceptors } : {}) }, histories)) {
    results.push({ workflowId: result.workflowId, ...(result.error ? { error: String(result.error) } : {}) });
  }
  return results;
}

describe('placeOrder replays the recorded histories of every scenario', () => {
  it("has a recorded history for each scenario, of today's code and of each earlier version", () => {
    expect(scenarioFolders).toContain('current');
    for (const folder of scenarioFolders) expect(filesOf(folder), folder).toHaveLength(orderScenarios.length);
  });

  it('replays each history without a nondeterminism error', async () => {
    const files = scenarioFolders.flatMap(filesOf);
    expect(await replay(files)).toEqual(files.map((workflowId) => ({ workflowId })));
  });
});

describe('placeOrder replays the histories recorded on the real dev server, updates included', () => {
  it("has today's code's histories of the answers by update and of a system error", () => {
    expect(devServerFolders).toContain('recorded-on-dev-server');
    expect(filesOf('recorded-on-dev-server').map((f) => f.replace(/^.*\//, ''))).toEqual(
      expect.arrayContaining([
        'reviewed-order-approved-by-update.json',
        'reviewed-order-rejected-by-update.json',
        'reviewed-order-cancelled-by-update.json',
        'order-cancelled-by-update-right-after-it-was-placed.json',
        'order-cancelled-by-update-while-the-gateway-captures.json',
        'order-id-conflict-ends-the-order-cancelled-with-system-error.json',
      ]),
    );
  });

  it('replays each of them with the workflow interceptors of the traced worker that recorded them', async () => {
    const files = devServerFolders.flatMap(filesOf);
    expect(await replay(files, tracingInterceptors)).toEqual(files.map((workflowId) => ({ workflowId })));
  });

  it("replays today's code's histories without those interceptors too: tracing on or off never changes the commands", async () => {
    const files = filesOf('recorded-on-dev-server');
    expect(await replay(files)).toEqual(files.map((workflowId) => ({ workflowId })));
  });
});

describe('placeOrder replays the histories of a charge that failed after the cancel was accepted', () => {
  it("has them for the code before the patch and for today's code", () => {
    expect(chargeFailureAfterCancelFolders.sort()).toEqual([
      'charge-failure-after-cancel-before-accepted-cancel-patch',
      'charge-failure-after-cancel-before-charge-after-regular-step',
      'charge-failure-after-cancel-current',
    ]);
    for (const folder of chargeFailureAfterCancelFolders) expect(filesOf(folder), folder).toHaveLength(3);
  });

  it('replays each of them without a nondeterminism error: the old ones keep their recorded reason', async () => {
    const files = chargeFailureAfterCancelFolders.flatMap(filesOf);
    expect(await replay(files)).toEqual(files.map((workflowId) => ({ workflowId })));
  });
});

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

// Histories recorded from the scenario runs (RECORD_HISTORIES=1 npm run test:workflows writes
// histories/current). Replaying them against today's workflow code fails when a change would break
// orders already running. Each older folder holds the histories of an earlier version of the code
// (before-local-context-steps: every step a regular activity), which must replay too: its sagas
// may still be running when the new code is deployed.
describe('placeOrder replays the recorded histories of every scenario', () => {
  const versions = readdirSync(historiesDir);
  const files = versions.flatMap((version) => readdirSync(join(historiesDir, version)).filter((f) => f.endsWith('.json')).map((f) => join(version, f)));

  it("has a recorded history for each scenario, of today's code and of each earlier version", () => {
    expect(versions).toContain('current');
    for (const version of versions) expect(files.filter((f) => f.startsWith(`${version}/`)), version).toHaveLength(orderScenarios.length);
  });

  it('replays each history without a nondeterminism error', async () => {
    const histories = files.map((file) => ({ workflowId: file, history: historyFromJSON(JSON.parse(readFileSync(join(historiesDir, file), 'utf8'))) }));
    const results: { workflowId: string; error?: unknown }[] = [];
    for await (const result of Worker.runReplayHistories({ workflowsPath: require.resolve('../../src/workflows/index.ts') }, histories)) {
      results.push({ workflowId: result.workflowId, ...(result.error ? { error: String(result.error) } : {}) });
    }
    expect(results).toEqual(files.map((workflowId) => ({ workflowId })));
  });
});

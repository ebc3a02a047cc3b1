/**
 * The bounded chaos run of `npm test` (issue 14, item 3): `npm run chaos`'s runner against a
 * system `npm start` runs on free ports in a temporary folder, with a small rate and a short fault
 * list, must come out with every audit passed and nothing lost or doubled.
 *
 * It runs on the cluster profile (three Kafka nodes, Temporal's services apart, two of each
 * application process), where a broker's kill once lost messages that the dev profile's single
 * broker could not show. CHAOS_TEST_PROFILE=dev runs it on the dev profile, and CHAOS_TEST_FAULTS
 * replaces the fault list (`npm run chaos -- --faults` names).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChaosResult } from '../../bench/chaos-report.ts';
import { projectRoot } from '../../infra/stack/paths.ts';
import { freePortRange } from '../../infra/stack/ports.ts';
import { startSystem } from './helpers/npm-start.ts';

const profile = process.env.CHAOS_TEST_PROFILE ?? 'cluster';
// The dev profile has one Temporal process: no history service of its own to kill.
const faults =
  process.env.CHAOS_TEST_FAULTS ??
  (profile === 'cluster' ? 'kafka-broker,temporal-history,choreography,postgres' : 'kafka-broker,worker,choreography,postgres');

/** Runs `npm run chaos`'s script with the system's settings; resolves with its exit code and output. */
function runChaos(env: Record<string, string>, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/chaos.ts', ...args], { cwd: projectRoot, env: { ...process.env, ...env } });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('chaos under load (bounded)', () => {
  it(`ends every order of every fault (${faults}) audited, with nothing lost or doubled, on the ${profile} profile`, async () => {
    const system = await startSystem(profile === 'cluster' ? { STACK_PROFILE: 'cluster', TEMPORAL_CLUSTER_PORT_BASE: String(await freePortRange(60)) } : {});
    const out = mkdtempSync(join(tmpdir(), 'order-saga-chaos-'));
    try {
      const { code, output } = await runChaos(system.env, [
        '--faults',
        faults,
        '--rate',
        '1',
        '--before',
        '6',
        '--settle',
        '12',
        '--drain',
        '90',
        '--out',
        out,
        '--no-report',
      ]);
      const file = readdirSync(out).find((f) => f.endsWith('.json'));
      expect(file, output).toBeDefined();
      const result = JSON.parse(readFileSync(join(out, file!), 'utf8')) as ChaosResult;
      const summary = result.faults.map((f) =>
        f.skipped
          ? `${f.kind}: skipped`
          : `${f.kind}: ${f.target} ${f.audit?.passed ? 'audit passed' : 'audit FAILED'}, lost ${f.lost}, doubled ${f.doubled}, back ${f.backAfterMs === null ? 'never' : 'yes'}`,
      );
      const expected = result.faults.map((f) => (f.skipped ? `${f.kind}: skipped` : `${f.kind}: ${f.target} audit passed, lost 0, doubled 0, back yes`));
      expect(summary, output).toEqual(expected);
      expect(result.faults.filter((f) => !f.skipped).length, output).toBe(faults.split(',').length);
      for (const fault of result.faults) expect(fault.submitted, fault.kind).toBeGreaterThan(0);
      expect(code, output).toBe(0);
    } finally {
      rmSync(out, { recursive: true, force: true });
      const { leftOver } = await system.stop('sigint');
      expect(leftOver).toEqual([]);
    }
  }, 720_000);
});

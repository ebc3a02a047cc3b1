/**
 * The chaos run's results (bench/chaos.ts): their shape, the per-fault table and docs/chaos.md,
 * which `npm run chaos -- --report <result.json>` regenerates from a result file.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { projectRoot } from '../infra/stack/paths.ts';
import type { AuditCheck } from './audit.ts';
import type { FaultAction, FaultKind } from './chaos-plan.ts';
import type { Flow } from './drive.ts';

/** The outcome of one fault. */
export interface FaultResult {
  kind: FaultKind;
  target?: string;
  action?: FaultAction;
  note?: string;
  skipped?: string;
  /** Orders sent in the burst, both flows. */
  submitted?: number;
  /** Orders sent and not yet ended when the fault hit. */
  inFlight?: number;
  /** Who brought the process back, and how long after the fault it answered again (ms). */
  restartedBy?: 'npm start' | 'chaos runner';
  backAfterMs?: number | null;
  /** Completions per second before the fault, per flow. */
  baselinePerS?: Partial<Record<Flow, number>>;
  /** Time until throughput recovered (ms), per flow and the slowest of them; null: not within the load. */
  recoveryMsByFlow?: Partial<Record<Flow, number | null>>;
  recoveryMs?: number | null;
  /** p99 time to the final state of the orders sent from the fault until recovery (at least one window). */
  p99DuringFaultMs?: number | null;
  /** POSTs that needed another attempt (an API instance away, a 5xx). */
  retriedPosts?: number;
  lost?: number;
  doubled?: number;
  audit?: { passed: boolean; checks: AuditCheck[] };
}

/** What a chaos run writes. */
export interface ChaosResult {
  startedAt: string;
  finishedAt: string;
  profile: string;
  flows: Flow[];
  ratePerFlow: number;
  beforeS: number;
  settleS: number;
  mix: { key: string; weight: number; scenario: string }[];
  definitions: Record<string, string>;
  faults: FaultResult[];
}

/** What each column of the table means. */
export const definitions = {
  'in flight': 'orders sent before the fault and not yet ended (both flows)',
  recovered:
    'the end of the first 2 s window (sliding by 250 ms) from the fault on whose completions reach 80% of the pre-fault completion rate (from 3 s into the burst to the fault), per flow; the slower flow is shown, or each flow when one never recovered; "—" when no window before the end of the load did',
  'p99 during fault':
    'p99 time to the final state of the orders sent from the fault until recovery (at least 2 s; until the end of the load if it never recovered); an order that never ended counts as infinite',
  lost: 'orders never accepted (after retries on every API instance) plus accepted orders not ended',
  doubled: 'orders with more than one capture, more than one email, or an event type applied more often than its scenario has it',
};

/** The recovery time of a fault: one figure when the flows agree on having recovered, else each flow's. */
function recoveryCell(f: FaultResult): string {
  const flows = Object.entries(f.recoveryMsByFlow ?? {});
  if (flows.length < 2 || flows.every(([, v]) => v !== null)) return ms(f.recoveryMs);
  return flows.map(([flow, v]) => `${flow} ${ms(v)}`).join(', ');
}

/** A duration for the table: seconds with one decimal, — when unknown, ∞ when never. */
export const ms = (value: number | null | undefined) =>
  value === null || value === undefined ? '—' : value === Infinity ? '∞' : `${(value / 1000).toFixed(1)} s`;

/** The per-fault table, in Markdown. */
export function faultTable(faults: FaultResult[]): string {
  const rows = faults.map((f) =>
    f.skipped
      ? `| ${f.kind} | — | skipped: ${f.skipped} | | | | | | | |`
      : `| ${f.kind} | ${f.action} ${f.target}${f.note ? ` (${f.note})` : ''} | ${f.restartedBy ?? ''}, back in ${ms(f.backAfterMs)} | ${f.submitted} | ${f.inFlight} | ${recoveryCell(f)} | ${ms(f.p99DuringFaultMs)} | ${f.lost} | ${f.doubled} | ${
          f.audit?.passed
            ? 'passed'
            : `FAILED: ${f.audit?.checks
                .filter((c) => !c.passed)
                .map((c) => `${c.name} (${c.detail})`)
                .join('; ')}`
        } |`,
  );
  return [
    '| fault | process | restarted by | orders | in flight at the fault | throughput recovered after | p99 during the fault | lost | doubled | audit |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** One run: its settings, the table, and what each column means. */
export function chaosMarkdown(result: ChaosResult): string {
  return `Chaos run of ${result.startedAt} (${result.profile} profile): ${result.flows.join(' and ')} at ${result.ratePerFlow} orders/s each, ${result.beforeS} s of load before each fault and ${result.settleS} s after it; mix ${result.mix.map((m) => `${m.weight}% ${m.key}`).join(', ')}.

${faultTable(result.faults)}

${Object.entries(result.definitions)
  .map(([term, meaning]) => `- **${term}**: ${meaning}`)
  .join('\n')}
`;
}

/** Writes docs/chaos.md: what the run does, and the table of this run. */
export function writeChaosDoc(result: ChaosResult, resultFile: string): string {
  const path = join(projectRoot, 'docs', 'chaos.md');
  // What people wrote about the runs (from "## Notes" on) stays; only the generated part changes.
  const previous = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const notes = previous.includes('\n## Notes') ? previous.slice(previous.indexOf('\n## Notes')) : '';
  writeFileSync(
    path,
    `# Chaos under load

Generated by \`npm run chaos\` from \`${relative(projectRoot, resultFile)}\`; do not edit the table by hand.

\`npm run chaos\` runs against the system \`npm start\` runs (or starts it the same way). For each
fault in turn it sends a burst of mixed orders in both flows, round-robin over every API instance
of the stack (a POST that fails or answers 5xx goes again to the next instance with the same
\`Idempotency-Key\`), and plays the person of the mix (answers reviews, cancels during review).
After the first part of the burst it hits one process: \`kill -9\`, or for PostgreSQL a fast
shutdown (a restart). \`npm start\` restarts every process it started, servers included
(infra/stack/supervisor.ts); a process nothing supervises the runner starts again itself through
the stack's own start code. Once the load and its drain are over, the benchmark's audit
(bench/audit.ts) runs over the burst's orders: every order accepted and ended as its scenario
says, at most one capture, none left on a cancelled order, stock released, each order's events
its scenario's and none applied twice, the read model equal to the orders context, one email per
order, no new dead letter, the outbox drained. The faults come from the processes the stack runs
(bench/chaos-plan.ts): a fault whose process the profile does not have is listed as skipped, with
the reason.

Options: \`--flow orchestrated|choreographed|both\`, \`--rate\` (orders/s per flow), \`--faults\`
(comma list of ${'`kafka-broker`, `kafka-controller`, `temporal-history`, `temporal-matching`, `temporal-frontend`, `worker`, `choreography`, `projector`, `api`, `postgres`'}, or \`all\`),
\`--before\` and \`--settle\` (seconds of load before and after the fault), \`--drain\`,
\`--profile\`, \`--out\` (where the JSON and Markdown results go), \`--no-report\` (leave this page
alone), \`--report <result.json>\` (regenerate this page from a result). The exit code is 1 when any audit fails or a process does not come back.

## The last run

${chaosMarkdown(result)}${notes}`,
  );
  return path;
}

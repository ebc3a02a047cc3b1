import { readFileSync } from 'node:fs';
import type pg from 'pg';

/** p50/p95/p99/max of a list of durations in ms (undefined when empty). */
export function percentiles(values: number[]): { count: number; p50: number; p95: number; p99: number; max: number } | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const round = (v: number) => Math.round(v * 10) / 10;
  return { count: sorted.length, p50: round(at(0.5)), p95: round(at(0.95)), p99: round(at(0.99)), max: round(sorted[sorted.length - 1]!) };
}

const clockTicksPerSecond = 100; // USER_HZ on Linux

/** CPU seconds used so far and resident memory of process `pid`, from /proc (undefined when it is gone). */
export function processUsage(pid: number): { cpuSeconds: number; rssMb: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond; // utime + stime
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return { cpuSeconds, rssMb: Math.round(rssKb / 1024) };
  } catch {
    return undefined;
  }
}

/** Transactions committed in the whole PostgreSQL cluster so far. */
export async function postgresCommits(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ commits: string }>('select sum(xact_commit)::text as commits from pg_stat_database');
  return Number(rows[0]!.commits);
}

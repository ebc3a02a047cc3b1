import { readdirSync, readFileSync } from 'node:fs';
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

/** The fields of /proc/<pid>/stat after the command name (state is [0], ppid [1], utime [11], stime [12]). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

const cpuOf = (fields: string[]) => (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;

/**
 * CPU seconds used so far and resident memory of process `pid` and its direct children (PostgreSQL
 * works in one backend process per connection), from /proc; undefined when it is gone.
 */
export function processUsage(pid: number): { cpuSeconds: number; rssMb: number } | undefined {
  const own = statFields(pid);
  if (!own) return undefined;
  // Its own time, the time of children it has reaped (cutime, cstime), and its live children's.
  let cpuSeconds = cpuOf(own) + (Number(own[13]) + Number(own[14])) / clockTicksPerSecond;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields && Number(fields[1]) === pid) cpuSeconds += cpuOf(fields);
  }
  let rssKb = 0;
  try {
    rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    // gone between the two reads
  }
  return { cpuSeconds, rssMb: Math.round(rssKb / 1024) };
}

/** Transactions committed in the whole PostgreSQL cluster so far. */
export async function postgresCommits(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ commits: string }>('select sum(xact_commit)::text as commits from pg_stat_database');
  return Number(rows[0]!.commits);
}

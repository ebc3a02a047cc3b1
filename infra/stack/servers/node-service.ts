import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../paths.ts';
import type { ManagedServer, ServerName } from './server.ts';

/** Options of {@link createNodeService}. */
export interface NodeServiceOptions {
  name: ServerName;
  /** Entry point, relative to the project root, e.g. `src/workers/smtp-sink.ts`. */
  entry: string;
  env: Record<string, string>;
  ports: { port: number; setting: string }[];
  logPath: string;
  /** Resolves when the process answers; the default waits for its "started" log line. */
  probe?: (pid: number) => Promise<void>;
  endpoints?: Record<string, string>;
  /** When set, the process writes a V8 CPU profile into `<folder>/<process name>/` as it exits. */
  cpuProfileDir?: string;
  /** Runs before the process starts (e.g. writes a file it reads). */
  prepare?: () => void;
}

/** Probe that resolves once an HTTP endpoint answers 2xx. */
export const httpProbe = (url: string) => async () => {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
};

/** Probe that resolves once the process `pid` wrote a JSON log line with message `msg`. */
export const logLineProbe = (logPath: string, msg: string) => (pid: number) => {
  const lines = readFileSync(logPath, 'utf8').split('\n');
  const found = lines.some((line) => line.includes(`"pid":${pid},`) && line.includes(`"msg":"${msg}"`));
  return found ? Promise.resolve() : Promise.reject(new Error(`no "${msg}" log line from pid ${pid} yet`));
};

/** One of the project's own processes (src/workers/*), run with `node --import tsx`. */
export function createNodeService(options: NodeServiceOptions): ManagedServer {
  return {
    name: options.name,
    ports: options.ports,
    logPath: options.logPath,
    stopSignal: 'SIGTERM',
    prepare: options.prepare ?? (() => undefined),
    launchSpec: () => ({
      command: process.execPath,
      // --cpu-prof is refused in NODE_OPTIONS, so it goes on the command line.
      args: [...(options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(options.cpuProfileDir, options.name)}`] : []), '--import', 'tsx', options.entry],
      cwd: projectRoot,
      env: { ...process.env, ...options.env },
    }),
    probe: options.probe ?? logLineProbe(options.logPath, 'started'),
    endpoints: () => options.endpoints ?? {},
  };
}

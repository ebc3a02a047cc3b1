import type { ManagedServer } from './server.ts';

/** Options of {@link createZipkinServer}. */
export interface ZipkinServerOptions {
  java: string;
  jar: string;
  port: number;
  logPath: string;
}

/**
 * Zipkin, the trace viewer of the local stack: spans in memory (a restart forgets them), the UI
 * and the span intake (`POST /api/v2/spans`) on one port, bound to 127.0.0.1.
 */
export function createZipkinServer(options: ZipkinServerOptions): ManagedServer {
  const base = `http://127.0.0.1:${options.port}`;
  return {
    name: 'zipkin',
    ports: [{ port: options.port, setting: 'ZIPKIN_PORT' }],
    logPath: options.logPath,
    stopSignal: 'SIGTERM',
    prepare: () => undefined,
    launchSpec: () => ({
      command: options.java,
      args: ['-Xms64m', '-Xmx256m', `-Darmeria.ports[0].ip=127.0.0.1`, `-Darmeria.ports[0].port=${options.port}`, '-Darmeria.ports[0].protocols[0]=http', '-jar', options.jar],
      env: { ...process.env, STORAGE_TYPE: 'mem', SELF_TRACING_ENABLED: 'false' },
    }),
    async probe() {
      const response = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) });
      if (!response.ok) throw new Error(`${base}/health answered HTTP ${response.status}`);
    },
    endpoints: () => ({ 'Traces (Zipkin)': `http://localhost:${options.port}/zipkin/` }),
  };
}

/** Where the application's processes send spans when the stack's Zipkin runs. */
export const zipkinSpansUrl = (port: number) => `http://127.0.0.1:${port}/api/v2/spans`;

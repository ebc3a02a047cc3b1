import type { ManagedServer } from './server.ts';

/** Options of {@link createZipkinServer}. */
export interface ZipkinServerOptions {
  java: string;
  jar: string;
  port: number;
  logPath: string;
  /** Spans kept in memory; beyond it Zipkin drops the oldest traces. @default 20000 */
  maxSpans?: number;
  /** JVM heap in MiB. @default 256 */
  heapMb?: number;
}

/**
 * Zipkin, the trace viewer of the local stack: spans in memory (a restart forgets them), the UI
 * and the span intake (`POST /api/v2/spans`) on one port, bound to 127.0.0.1.
 *
 * Its memory is bounded: in-memory storage keeps at most `maxSpans` spans (Zipkin's own default,
 * 500,000, does not fit a small heap: at 256 MiB it ran out of memory after about 600 orders and
 * stayed down). 20,000 spans are the last few hundred orders. Should it still run out of memory,
 * the JVM exits instead of limping on, and `npm start` restarts it.
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
      args: [
        '-Xms64m',
        `-Xmx${options.heapMb ?? 256}m`,
        '-XX:+ExitOnOutOfMemoryError',
        `-Darmeria.ports[0].ip=127.0.0.1`,
        `-Darmeria.ports[0].port=${options.port}`,
        '-Darmeria.ports[0].protocols[0]=http',
        '-jar',
        options.jar,
      ],
      env: { ...process.env, STORAGE_TYPE: 'mem', MEM_MAX_SPANS: String(options.maxSpans ?? 20000), SELF_TRACING_ENABLED: 'false' },
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

/**
 * The stack's Zipkin keeps spans in memory: unbounded, it ran out of memory after about 600 orders
 * and stayed down. It must hold at most its configured number of spans, dropping the oldest.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { locateTools } from '../../infra/stack/install.ts';
import { freePort } from '../../infra/stack/ports.ts';
import type { ProcessRecord } from '../../infra/stack/process.ts';
import { createZipkinServer } from '../../infra/stack/servers/zipkin.ts';
import { startServer, stopServer } from '../../infra/stack/start-server.ts';

describe('Zipkin of the local stack', () => {
  const dir = mkdtempSync(join(tmpdir(), 'order-saga-zipkin-'));
  let stop: (() => Promise<unknown>) | undefined;
  afterAll(async () => {
    await stop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps at most its configured number of spans, dropping the oldest traces, and stays up', async () => {
    const tools = locateTools(loadStackConfig().STACK_TOOLS_DIR);
    const port = await freePort();
    const maxSpans = 500;
    const server = createZipkinServer({ java: tools.java, jar: tools.zipkinJar, port, maxSpans, heapMb: 128, logPath: join(dir, 'zipkin.log') });
    const record: ProcessRecord = await startServer(server, 120_000);
    stop = () => stopServer(server, record, 10_000);
    const base = `http://127.0.0.1:${port}`;

    // 40 spans per trace, like an order; 100 traces is 4,000 spans, eight times the bound.
    const hex = (bytes: number) => randomBytes(bytes).toString('hex');
    const now = Date.now() * 1000;
    for (let t = 0; t < 100; t++) {
      const traceId = hex(16);
      const spans = Array.from({ length: 40 }, (_, i) => ({
        traceId,
        id: hex(8),
        name: `step-${i}`,
        timestamp: now + t * 1000 + i,
        duration: 10,
        localEndpoint: { serviceName: 'bounds-test' },
      }));
      const sent = await fetch(`${base}/api/v2/spans`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spans) });
      expect(sent.status).toBe(202);
    }

    const traces = (await (await fetch(`${base}/api/v2/traces?serviceName=bounds-test&limit=1000&lookback=3600000`)).json()) as unknown[][];
    const stored = traces.reduce((sum, trace) => sum + trace.length, 0);
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThanOrEqual(maxSpans);
    expect((await fetch(`${base}/health`)).ok).toBe(true);
  });
});

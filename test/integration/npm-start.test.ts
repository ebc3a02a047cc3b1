/**
 * `npm start` as a person runs it: the whole system comes up on its own ports and data folder,
 * with its own identity provider, whose tokens (`npm run token`) the API takes an order in each
 * flow with, and Ctrl-C (SIGINT to the whole process group,
 * delivered twice as a terminal plus npm do) stops every process it started.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { projectRoot } from '../../infra/stack/paths.ts';
import { isRunning } from '../../infra/stack/process.ts';
import { appServices, stackFolders } from '../../infra/stack/stack.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import { metricValue, scrape } from './helpers/metrics.ts';
import { serverNames, startSystem } from './helpers/npm-start.ts';

/** The metric names the alert rules' expressions read (label matchers, by-clauses and functions left out). */
function metricsReadByAlertRules(): string[] {
  const rules = parse(readFileSync(join(projectRoot, 'infra', 'prometheus', 'alerts.yml'), 'utf8')) as { groups: { rules: { expr: string }[] }[] };
  const names = rules.groups
    .flatMap((g) => g.rules)
    .flatMap((rule) => {
      const bare = rule.expr.replace(/\{[^}]*\}/g, '').replace(/\b(by|without)\s*\([^)]*\)/g, '');
      return [...bare.matchAll(/\b([a-z_][a-z0-9_]*)\b(?!\s*\()/g)].map((m) => m[1]!).filter((name) => name.includes('_') && !/^\d/.test(name));
    });
  return [...new Set(names)];
}

describe('npm start', () => {
  it('runs the whole system, takes orders in both flows, restarts a process that dies, and stops everything on Ctrl-C', async () => {
    const system = await startSystem();
    const { env, config, api, pids, started, output } = system;

    try {
      expect(output()).toMatch(new RegExp(`API +http://localhost:${env.API_PORT}/orders`));
      expect(output()).toMatch(new RegExp(`Swagger UI +http://localhost:${env.API_PORT}/docs`));
      expect(output()).toMatch(new RegExp(`Temporal Web UI +http://localhost:${env.TEMPORAL_UI_PORT}`));
      expect(output()).toContain(`Identity provider (OpenID Connect) http://127.0.0.1:${env.IDENTITY_PORT}/.well-known/openid-configuration`);
      expect(
        started()
          .map((r) => r.name)
          .sort(),
      ).toEqual([...serverNames, ...appServices(config).map((s) => s.name)].sort());

      // `npm run token` prints tokens of the system's identity provider (the clients file under its STACK_DATA_DIR), as a person gets them for curl.
      const npmRunToken = (...args: string[]) => {
        const run = spawnSync('npm', ['run', '-s', 'token', '--', ...args], { cwd: projectRoot, env: { ...process.env, ...env }, encoding: 'utf8' });
        expect(run.status, run.stderr).toBe(0);
        return run.stdout.trim();
      };
      const customerToken = npmRunToken('--role', 'customer', '--customer', 'npm-start');
      expect(customerToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const asCustomer = { authorization: `Bearer ${customerToken}` };
      const orderBody = (flow: string) =>
        JSON.stringify({ customerId: 'npm-start', email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 1 }], paymentToken: 'tok_approve', flow });
      const anonymous = await fetch(`${api}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body: orderBody('orchestrated'),
      });
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as { code?: string }).code).toBe('UNAUTHENTICATED');

      const journeys: Record<string, string> = {};
      const orderIds: Record<string, string> = {};
      for (const flow of ['orchestrated', 'choreographed']) {
        const correlationId = `journey-${flow}-${randomUUID()}`;
        journeys[flow] = correlationId;
        const placed = await fetch(`${api}/orders`, {
          method: 'POST',
          headers: { ...asCustomer, 'content-type': 'application/json', 'idempotency-key': randomUUID(), 'x-correlation-id': correlationId },
          body: orderBody(flow),
        });
        expect(placed.status).toBe(202);
        expect(placed.headers.get('x-correlation-id')).toBe(correlationId);
        const { orderId } = (await placed.json()) as { orderId: string };
        orderIds[flow] = orderId;
        await eventually(`the ${flow} order confirmed and notified in the read model`, async () => {
          const view = (await (await fetch(`${api}/orders/${orderId}`, { headers: asCustomer })).json()) as { status?: string; notified?: boolean };
          return view.status === 'confirmed' && view.notified === true;
        });
      }

      // An operator's token from `npm run token` lists the customer's orders.
      const listed = await fetch(`${api}/orders?customerId=npm-start`, { headers: { authorization: `Bearer ${npmRunToken('--role', 'operator')}` } });
      expect(listed.status).toBe(200);
      expect(((await listed.json()) as { data: { orderId: string }[] }).data.map((o) => o.orderId).sort()).toEqual(Object.values(orderIds).sort());

      // One correlation id finds the order's whole journey in the logs of every process it crossed.
      const logsDir = stackFolders(config).logs;
      const logLines = () =>
        readdirSync(logsDir).flatMap((file) =>
          readFileSync(join(logsDir, file), 'utf8')
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .map((line) => JSON.parse(line) as { service?: string; correlationId?: string; msg?: string }),
        );
      const servicesOf = (correlationId: string) =>
        new Set(
          logLines()
            .filter((l) => l.correlationId === correlationId)
            .map((l) => l.service),
        );
      await eventually('log lines of the orchestrated journey from the api, the worker and the projector', () =>
        Promise.resolve(['api', 'temporal-worker', 'projector'].every((s) => servicesOf(journeys.orchestrated!).has(s))),
      );
      await eventually('log lines of the choreographed journey from the api, the choreography and the projector', () =>
        Promise.resolve(['api', 'choreography', 'projector'].every((s) => servicesOf(journeys.choreographed!).has(s))),
      );
      const workerLines = logLines()
        .filter((l) => l.correlationId === journeys.orchestrated && l.service === 'temporal-worker')
        .map((l) => l.msg);
      expect(workerLines).toEqual(expect.arrayContaining(['order saga started', 'activity completed', 'order saga ended']));
      // Neither the payment token nor the email address is written anywhere.
      for (const file of readdirSync(logsDir)) {
        const text = readFileSync(join(logsDir, file), 'utf8');
        expect(text, file).not.toContain('tok_approve');
        expect(text, file).not.toContain('ada@example.com');
      }

      // Each order is one trace in the stack's Zipkin, with spans from every process it crossed.
      const zipkin = `http://127.0.0.1:${env.ZIPKIN_PORT}`;
      const servicesInTraceOf = async (orderId: string) => {
        type ZipkinSpan = { traceId: string; localEndpoint?: { serviceName?: string }; tags?: Record<string, string> };
        const traces = (await (await fetch(`${zipkin}/api/v2/traces?serviceName=api&limit=100&lookback=600000`)).json()) as ZipkinSpan[][];
        const trace = traces.find((spans) => spans.some((s) => s.tags?.['messaging.kafka.message.key'] === orderId));
        return new Set((trace ?? []).map((s) => s.localEndpoint?.serviceName));
      };
      const expectedServices = { orchestrated: ['api', 'temporal-worker', 'projector'], choreographed: ['api', 'choreography', 'projector'] };
      for (const [flow, services] of Object.entries(expectedServices)) {
        await eventually(`one trace of the ${flow} order with spans of ${services.join(', ')}`, async () => {
          const found = await servicesInTraceOf(orderIds[flow]!);
          return services.every((s) => found.has(s));
        });
      }

      // Every process serves its metrics.
      const at = (port: string) => scrape(`http://127.0.0.1:${port}/metrics`);
      expect(metricValue(await at(env.API_PORT!), 'orders_placed_total', { flow: 'choreographed' })).toBe(1);
      expect(
        metricValue(await at(env.WORKER_METRICS_PORT!), 'order_saga_activity_duration_seconds_count', { activity: 'chargePayment', outcome: 'completed' }),
      ).toBe(1);
      expect(await at(env.TEMPORAL_SDK_METRICS_PORT!)).toMatch(/^temporal_/m);
      const choreography = await at(env.CHOREOGRAPHY_METRICS_PORT!);
      expect(metricValue(choreography, 'consumer_events_total', { group: 'payments', type: 'inventory.reserved', result: 'applied' })).toBe(1);
      expect(metricValue(choreography, 'outbox_oldest_unsent_age_seconds')).toBe(0);
      expect(metricValue(choreography, 'kafka_dlq_depth', { group: 'payments' })).toBe(0);
      const projector = await at(env.PROJECTOR_METRICS_PORT!);
      // Every metric an alert rule reads is one a process really serves (a renamed metric would
      // leave its alert silent forever).
      const served = new Set([
        env.API_PORT!,
        env.WORKER_METRICS_PORT!,
        env.TEMPORAL_SDK_METRICS_PORT!,
        env.CHOREOGRAPHY_METRICS_PORT!,
        env.PROJECTOR_METRICS_PORT!,
      ]);
      const scraped = (await Promise.all([...served].map(at))).join('\n');
      for (const metric of metricsReadByAlertRules()) expect(scraped, `${metric} is served`).toMatch(new RegExp(`^${metric}[{ ]`, 'm'));
      expect(metricValue(projector, 'orders_completed_total', { flow: 'orchestrated', outcome: 'confirmed' })).toBe(1);
      expect(metricValue(projector, 'kafka_consumer_lag', { group: 'projector', topic: 'order.placed' })).toBe(0);

      // A process that dies is restarted, with a line saying so, and stack:status tells.
      const worker = pids.read('temporal-worker')!;
      process.kill(worker.pid, 'SIGKILL');
      await eventually(
        'the worker restarted',
        () => Promise.resolve((pids.read('temporal-worker')?.restarts ?? 0) === 1 && output().includes('temporal-worker is up again')),
        120_000,
      );
      expect(output()).toContain('temporal-worker exited (process exited on signal SIGKILL); restart #1 in 1 s');
      const restarted = pids.read('temporal-worker')!;
      expect(restarted.pid).not.toBe(worker.pid);
      expect(isRunning(restarted)).toBe(true);
      const status = spawnSync(process.execPath, ['--import', 'tsx', 'infra/stack/cli.ts', 'status'], {
        cwd: projectRoot,
        env: { ...process.env, ...env },
        encoding: 'utf8',
      });
      expect(status.stdout).toMatch(/temporal-worker +up +pid \d+/);
      expect(status.stdout).toContain('restarted 1 time(s) by npm start');
      expect(status.stdout).toContain('last exit: process exited on signal SIGKILL');
      expect(status.status, status.stdout).toBe(0);
      // The restarted worker takes orders.
      const again = await fetch(`${api}/orders`, {
        method: 'POST',
        headers: {
          ...(await system.tokens.headers({ role: 'customer', customerId: 'npm-start' })),
          'content-type': 'application/json',
          'idempotency-key': randomUUID(),
        },
        body: orderBody('orchestrated'),
      });
      expect(again.status).toBe(202);
      const { orderId: afterRestart } = (await again.json()) as { orderId: string };
      await eventually(
        'the order placed after the restart confirmed',
        async () =>
          ((await (await fetch(`${api}/orders/${afterRestart}`, { headers: await system.tokens.headers({ role: 'operator' }) })).json()) as { status?: string })
            .status === 'confirmed',
      );
    } catch (err) {
      // The first failure is the one to read: stopping afterwards may fail too, and would hide it.
      const { leftOver } = await system.stop();
      if (err instanceof Error) err.message += `\n(then stopped; left running: ${leftOver.join(', ') || 'none'})\n${output()}`;
      throw err;
    }
    const { how, leftOver } = await system.stop();
    // npm, signalled by the terminal too, ends with the shell's code for Ctrl-C once its script has.
    expect([0, 130], output()).toContain(how);
    expect(leftOver, `processes left running\n${output()}`).toEqual([]);
    expect(output()).toContain('stopping ...');
  }, 300_000);
});

import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { appServices, appServicesInUse, stackFolders } from '../../infra/stack/stack.ts';
import type { ManagedServer } from '../../infra/stack/servers/server.ts';

const envOf = (server: ManagedServer) => server.launchSpec().env ?? {};

describe('application processes of the stack profiles', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'app-instances-'));
  afterEach(() => rmSync(stackFolders(loadStackConfig({ STACK_DATA_DIR: dataDir })).run, { recursive: true, force: true }));

  it('the dev profile runs one of each process under its plain name, ports and log', () => {
    const services = appServices(loadStackConfig({ STACK_DATA_DIR: dataDir }));
    expect(services.map((s) => s.name)).toEqual(['payment-gateway', 'temporal-worker', 'choreography', 'api', 'projector']);
    const byName = Object.fromEntries(services.map((s) => [s.name, s]));
    expect(byName.api!.ports).toEqual([{ port: 3000, setting: 'API_PORT' }]);
    expect(byName['temporal-worker']!.ports).toEqual([
      { port: 9464, setting: 'WORKER_METRICS_PORT' },
      { port: 9465, setting: 'TEMPORAL_SDK_METRICS_PORT' },
    ]);
    expect(byName.choreography!.ports).toEqual([{ port: 9466, setting: 'CHOREOGRAPHY_METRICS_PORT' }]);
    expect(byName.projector!.ports).toEqual([{ port: 9467, setting: 'PROJECTOR_METRICS_PORT' }]);
    expect(services.map((s) => s.logPath)).toEqual(services.map((s) => join(dataDir, 'logs', `${s.name}.log`)));
    expect(Object.keys(byName.api!.endpoints())).toEqual(['Web console', 'API', 'Swagger UI', 'API metrics']);
  });

  it('the cluster profile runs two of the worker, choreography, API and projector, each on ports and a log of its own, and one gateway', () => {
    const services = appServices(loadStackConfig({ STACK_DATA_DIR: dataDir, STACK_PROFILE: 'cluster' }));
    expect(services.map((s) => s.name)).toEqual([
      'payment-gateway',
      'temporal-worker-1',
      'choreography-1',
      'api-1',
      'projector-1',
      'temporal-worker-2',
      'choreography-2',
      'api-2',
      'projector-2',
    ]);
    const ports = services.flatMap((s) => s.ports.map((p) => p.port));
    expect(new Set(ports).size).toBe(ports.length);
    const logs = services.map((s) => s.logPath);
    expect(new Set(logs).size).toBe(logs.length);
    expect(logs).toContain(join(dataDir, 'logs', 'api-2.log'));

    const byName = Object.fromEntries(services.map((s) => [s.name, s]));
    // The first API also listens with TLS (the Web UI's codec endpoint); the second does not.
    expect(byName['api-1']!.ports).toEqual([
      { port: 3000, setting: 'API_PORT' },
      { port: 3443, setting: 'API_TLS_PORT' },
    ]);
    expect(byName['api-2']!.ports).toEqual([{ port: 3001, setting: 'API_PORT_2' }]);
    // Each process is told the port it was given, not the first instance's.
    expect(envOf(byName['api-2']!).API_PORT).toBe('3001');
    expect(envOf(byName['api-1']!)).toMatchObject({ API_TLS_PORT: '3443', API_TLS_CERT_FILE: join(dataDir, 'secrets', 'tls', 'api.crt') });
    expect(envOf(byName['api-2']!).API_TLS_PORT).toBe('0');
    expect(envOf(byName['temporal-worker-2']!)).toMatchObject({ METRICS_PORT: '9474', TEMPORAL_SDK_METRICS_PORT: '9475' });
    expect(envOf(byName['choreography-2']!).METRICS_PORT).toBe('9476');
    expect(envOf(byName['projector-2']!).METRICS_PORT).toBe('9477');
    expect(byName['api-2']!.endpoints()).toEqual({
      'Web console (api-2)': 'http://localhost:3001/',
      'API (api-2)': 'http://localhost:3001/orders',
      'Swagger UI (api-2)': 'http://localhost:3001/docs',
      'API metrics (api-2)': 'http://localhost:3001/metrics',
    });
  });

  it('the second instances move with their own settings', () => {
    const config = loadStackConfig({ STACK_DATA_DIR: dataDir, STACK_PROFILE: 'cluster', API_PORT_2: '42001', PROJECTOR_METRICS_PORT_2: '42002' });
    const byName = Object.fromEntries(appServices(config).map((s) => [s.name, s]));
    expect(byName['api-2']!.ports).toEqual([{ port: 42001, setting: 'API_PORT_2' }]);
    expect(byName['projector-2']!.ports).toEqual([{ port: 42002, setting: 'PROJECTOR_METRICS_PORT_2' }]);
    expect(byName['api-1']!.ports).toEqual([
      { port: 3000, setting: 'API_PORT' },
      { port: 3443, setting: 'API_TLS_PORT' },
    ]);
  });

  it('down and status without the profile flag still see the instances the cluster profile started', () => {
    const dev = loadStackConfig({ STACK_DATA_DIR: dataDir });
    const run = stackFolders(dev).run;
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'api-2.json'), JSON.stringify({ name: 'api-2', pid: 1, startedAt: new Date().toISOString() }));
    const names = appServicesInUse(dev).map((s) => s.name);
    expect(names).toContain('api-2');
    expect(names).not.toContain('api-1');
    expect(names).toContain('api');
  });
});

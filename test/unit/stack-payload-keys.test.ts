import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { payloadKeysEnv, paymentVaultKeysEnv } from '../../infra/stack/payload-keys.ts';
import { createTemporalServer } from '../../infra/stack/servers/temporal.ts';
import type { ManagedServer } from '../../infra/stack/servers/server.ts';
import { appServices } from '../../infra/stack/stack.ts';
import { paymentVaultOf } from '../../src/contexts/payments/payment-vault.ts';
import { payloadCodecOf } from '../../src/platform/payload-codec.ts';

const envOf = (server: ManagedServer) => server.launchSpec().env ?? {};
const dataDir = mkdtempSync(join(tmpdir(), 'stack-payload-keys-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('encrypted payloads in the stack', () => {
  it('gives the worker and the API one generated key file, and the dev profile API the codec endpoint', async () => {
    const services = Object.fromEntries(appServices(loadStackConfig({ STACK_DATA_DIR: dataDir })).map((s) => [s.name, s]));
    const keysFile = join(dataDir, 'secrets', 'temporal-payload-keys.json');
    for (const name of ['temporal-worker', 'api']) expect(envOf(services[name]!).TEMPORAL_PAYLOAD_KEYS_FILE).toBe(keysFile);
    expect(envOf(services.api!).TEMPORAL_CODEC_ENDPOINT_ENABLED).toBe('true');
    expect(existsSync(keysFile)).toBe(false);
    await services['temporal-worker']!.prepare();
    expect(payloadCodecOf({ TEMPORAL_PAYLOAD_KEYS_FILE: keysFile })).toBeDefined();
  });

  it('serves the codec endpoint to operators only in the cluster profile, whose Web UI signs its users in', () => {
    const apis = appServices(loadStackConfig({ STACK_DATA_DIR: dataDir, STACK_PROFILE: 'cluster' })).filter((s) => s.name.startsWith('api-'));
    expect(apis).toHaveLength(2);
    for (const api of apis) {
      expect(envOf(api).TEMPORAL_CODEC_ENDPOINT_ENABLED).toBe('true');
      expect(envOf(api).TEMPORAL_CODEC_ENDPOINT_PUBLIC).toBeUndefined();
    }
  });

  it('lets keys configured by the person starting the stack win over its generated file', () => {
    expect(payloadKeysEnv({ STACK_DATA_DIR: dataDir }, { TEMPORAL_PAYLOAD_KEYS_FILE: '/etc/keys.json' })).toEqual({});
  });

  it('gives the API, the worker and the choreography one generated payment vault key file, in both profiles, unless keys are configured', async () => {
    for (const profile of ['dev', 'cluster'] as const) {
      const services = appServices(loadStackConfig({ STACK_DATA_DIR: dataDir, STACK_PROFILE: profile }));
      const vaultFile = join(dataDir, 'secrets', 'payment-vault-keys.json');
      const readers = services.filter((s) => /^(api|temporal-worker|choreography)(-\d)?$/.test(s.name));
      expect(readers).toHaveLength(profile === 'dev' ? 3 : 6);
      for (const service of readers) expect(envOf(service).PAYMENT_VAULT_KEYS_FILE).toBe(vaultFile);
      await readers[0]!.prepare();
      expect(paymentVaultOf({ PAYMENT_VAULT_KEYS_FILE: vaultFile })).toBeDefined();
    }
    expect(paymentVaultKeysEnv({ STACK_DATA_DIR: dataDir }, { PAYMENT_VAULT_KEYS: 'k:x' })).toEqual({});
  });

  it("points the dev server's Web UI at the codec endpoint", () => {
    const server = createTemporalServer({
      temporal: 'temporal',
      port: 7233,
      uiPort: 8233,
      logPath: '/dev/null',
      uiCodecEndpoint: 'http://localhost:3000/codec',
    });
    expect(server.launchSpec().args.join(' ')).toContain('--ui-codec-endpoint http://localhost:3000/codec');
  });
});

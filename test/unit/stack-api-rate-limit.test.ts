import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { appServices } from '../../infra/stack/stack.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'stack-rate-limit-'));
const apiEnvs = (profile: string) =>
  appServices(loadStackConfig({ STACK_DATA_DIR: dataDir, STACK_PROFILE: profile }))
    .filter((s) => s.name.startsWith('api'))
    .map((s) => s.launchSpec().env ?? {});

describe("the stack's API processes", () => {
  afterEach(() => vi.unstubAllEnvs());

  it.each(['dev', 'cluster'])('run without a rate limit in the %s profile, since every client of the stack is 127.0.0.1', (profile) => {
    vi.stubEnv('API_RATE_LIMIT_PER_MINUTE', undefined);
    const envs = apiEnvs(profile);
    expect(envs.length).toBeGreaterThan(0);
    for (const env of envs) expect(env.API_RATE_LIMIT_PER_MINUTE).toBe('0');
  });

  it('keep the rate limit of the person starting the stack, who set one', () => {
    vi.stubEnv('API_RATE_LIMIT_PER_MINUTE', '120');
    for (const env of apiEnvs('dev')) expect(env.API_RATE_LIMIT_PER_MINUTE).toBe('120');
  });

  it.each([
    ['dev', ['choreography=http://127.0.0.1:9466/metrics', 'projector=http://127.0.0.1:9467/metrics']],
    [
      'cluster',
      [
        'choreography-1=http://127.0.0.1:9466/metrics',
        'projector-1=http://127.0.0.1:9467/metrics',
        'choreography-2=http://127.0.0.1:9476/metrics',
        'projector-2=http://127.0.0.1:9477/metrics',
      ],
    ],
  ])('read the backlog from every choreography and projector instance of the %s profile', (profile, sources) => {
    const envs = apiEnvs(profile);
    expect(envs.length).toBeGreaterThan(0);
    for (const env of envs) expect(env.API_OPERATIONS_METRICS_URLS?.split(',')).toEqual(sources);
  });
});

import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { ApiSecurityEnv, ConfigError, corsOriginsOf, loadConfig } from '../../src/platform/config.ts';

const load = (env: Record<string, string>) => loadConfig(Type.Object(ApiSecurityEnv), env);

describe("the API's security settings", () => {
  it('default to no cross-origin access and 600 requests a minute per client address', () => {
    const config = load({});
    expect(corsOriginsOf(config)).toEqual([]);
    expect(config.API_RATE_LIMIT_PER_MINUTE).toBe(600);
  });

  it('read a comma-separated list of origins, and 0 as no limit', () => {
    const config = load({ API_CORS_ORIGINS: 'https://shop.example.com, http://localhost:5173', API_RATE_LIMIT_PER_MINUTE: '0' });
    expect(corsOriginsOf(config)).toEqual(['https://shop.example.com', 'http://localhost:5173']);
    expect(config.API_RATE_LIMIT_PER_MINUTE).toBe(0);
  });

  it.each([
    ['an origin without its scheme', { API_CORS_ORIGINS: 'shop.example.com' }, /API_CORS_ORIGINS/],
    ['an origin with a path', { API_CORS_ORIGINS: 'https://shop.example.com/checkout' }, /API_CORS_ORIGINS/],
    ['a wildcard', { API_CORS_ORIGINS: '*' }, /API_CORS_ORIGINS/],
    ['a negative limit', { API_RATE_LIMIT_PER_MINUTE: '-1' }, /API_RATE_LIMIT_PER_MINUTE/],
  ])('refuse %s', (_case, env, named) => {
    expect(() => load(env)).toThrow(ConfigError);
    expect(() => load(env)).toThrow(named);
  });
});

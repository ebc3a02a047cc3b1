import { describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { StackConfigError } from '../../infra/stack/errors.ts';
import { parseJavaMajor } from '../../infra/stack/prerequisites.ts';

describe('stack configuration', () => {
  it('defaults to the documented ports, frozen', () => {
    const config = loadStackConfig({});
    expect(config).toMatchObject({ TEMPORAL_PORT: 7233, TEMPORAL_UI_PORT: 8233, KAFKA_PORT: 9092, POSTGRES_PORT: 5433 });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads numbers from strings', () => {
    expect(loadStackConfig({ KAFKA_PORT: '19092' }).KAFKA_PORT).toBe(19092);
  });

  it('names every invalid variable at once', () => {
    let error: unknown;
    try {
      loadStackConfig({ TEMPORAL_PORT: 'seven', KAFKA_PORT: '70000' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StackConfigError);
    expect((error as StackConfigError).code).toBe('STACK_CONFIG_INVALID');
    expect((error as Error).message).toMatch(/TEMPORAL_PORT/);
    expect((error as Error).message).toMatch(/KAFKA_PORT/);
  });
});

describe('parseJavaMajor', () => {
  it.each([
    ['openjdk version "17.0.15" 2025-04-15', 17],
    ['openjdk version "21" 2023-09-19', 21],
    ['java version "1.8.0_392"', 8],
    ['no java here', undefined],
  ])('reads %s as %s', (output, major) => {
    expect(parseJavaMajor(output)).toBe(major);
  });
});

import { describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { ConfigError, RecordsRetentionEnv, RetentionEnv, checkRetentionOrder, loadConfig } from '../../src/platform/config.ts';

// What a process reads when nothing is set.
const defaults = loadConfig(Type.Object({ ...RetentionEnv, ...RecordsRetentionEnv }), {});

describe('the orders between the retentions', () => {
  it('accepts the defaults: 7 days of topics in 1-day segments, 8 days of dedupe rows, 30 days of emails, 400 of the read model', () => {
    expect(() => checkRetentionOrder(defaults)).not.toThrow();
    expect(defaults.DEDUPE_RETENTION_MS).toBe(defaults.KAFKA_TOPIC_RETENTION_MS + defaults.KAFKA_TOPIC_SEGMENT_MS);
  });

  it('refuses a dedupe window shorter than a message can stay in its topic, naming the settings', () => {
    const run = () => checkRetentionOrder({ ...defaults, DEDUPE_RETENTION_MS: defaults.KAFKA_TOPIC_RETENTION_MS });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/DEDUPE_RETENTION_MS \(604800000\) must be at least KAFKA_TOPIC_RETENTION_MS \+ KAFKA_TOPIC_SEGMENT_MS \(691200000\)/);
  });

  it('refuses records that would forget what a redelivered event did before its dedupe row goes, every one named', () => {
    const run = () => checkRetentionOrder({ ...defaults, READ_MODEL_RETENTION_MS: 1000, NOTIFICATIONS_RETENTION_MS: 2000 });
    expect(run).toThrow(
      /NOTIFICATIONS_RETENTION_MS \(2000\) must be at least DEDUPE_RETENTION_MS.*READ_MODEL_RETENTION_MS \(1000\) must be at least DEDUPE_RETENTION_MS/,
    );
  });

  it('refuses a partition wider than the window, which would keep rows far past it', () => {
    expect(() => checkRetentionOrder({ ...defaults, DEDUPE_PARTITION_MS: defaults.DEDUPE_RETENTION_MS + 1 })).toThrow(
      /DEDUPE_PARTITION_MS \(691200001\) must be at most DEDUPE_RETENTION_MS/,
    );
  });

  it('checks only what a process reads: one without the topic settings is not held to them', () => {
    expect(() => checkRetentionOrder({ DEDUPE_RETENTION_MS: 1000, READ_MODEL_RETENTION_MS: 1000 })).not.toThrow();
  });
});

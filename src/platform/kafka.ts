import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { Static, TObject } from 'typebox';
import type { KafkaEnv } from './config.ts';

type KafkaSettings = Static<TObject<typeof KafkaEnv>>;

/**
 * A kafkajs client for the configured brokers, with TLS and SASL when the settings ask for them.
 * With KAFKA_SSL_CA_PATH the brokers' certificates are verified against that CA (a private one,
 * as the stack's cluster profile has) instead of the public ones.
 */
export function createKafka(settings: KafkaSettings, clientId = settings.KAFKA_CLIENT_ID): Kafka {
  const config: KafkaConfig = {
    clientId,
    brokers: settings.KAFKA_BROKERS.split(',').map((b) => b.trim()),
    logLevel: logLevel.WARN,
    ssl: settings.KAFKA_SSL_CA_PATH ? { ca: [readFileSync(settings.KAFKA_SSL_CA_PATH, 'utf8')] } : settings.KAFKA_SSL,
  };
  if (settings.KAFKA_SASL_MECHANISM) {
    config.sasl = {
      mechanism: settings.KAFKA_SASL_MECHANISM,
      username: settings.KAFKA_SASL_USERNAME ?? '',
      password: settings.KAFKA_SASL_PASSWORD ?? '',
    } as SASLOptions;
  }
  return new Kafka(config);
}

/** Kafka did not finish a piece of work within the deadline its caller set. */
export class KafkaTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`Kafka did not ${what} within ${ms} ms`);
    this.name = 'KafkaTimeoutError';
  }
}

/**
 * Whether `err` is Kafka failing (unreachable, refusing, timing out) rather than a defect: the
 * errors of kafkajs, which it names `KafkaJS*`, and {@link KafkaTimeoutError}. What the API answers
 * 503 for.
 */
export const isKafkaFailure = (err: unknown): boolean => err instanceof KafkaTimeoutError || (err instanceof Error && err.name.startsWith('KafkaJS'));

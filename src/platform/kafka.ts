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

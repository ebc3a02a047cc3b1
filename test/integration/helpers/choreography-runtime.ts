import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type pg from 'pg';
import { pino, type Logger } from 'pino';
import { startChoreography, type ChoreographyRuntime } from '../../../src/choreography/runtime.ts';
import { createChoreographyServices, type ChoreographyGroup, type ChoreographyService } from '../../../src/choreography/services.ts';
import { createMailer } from '../../../src/contexts/notifications/mailer.ts';
import { createHttpPaymentGateway } from '../../../src/contexts/payments/gateway-client.ts';
import { buildGatewayApp, type GatewayOptions } from '../../../src/gateway/gateway-app.ts';
import type { GatewayLedger } from '../../../src/gateway/ledger.ts';
import { createPool } from '../../../src/platform/database.ts';
import { migrateAll } from '../../../src/platform/migrations.ts';
import { startSmtpSink, type SmtpSink } from '../../../src/smtp-sink/smtp-sink.ts';
import type { EventContracts } from '../../../src/messaging/schema-registry.ts';
import { startProjector } from '../../../src/projections/projector.ts';
import type { TestServers } from '../../setup/servers.ts';
import { testContracts } from './contracts.ts';
import { testVault } from './vault.ts';
import { kafkaSecurity } from './secure-clients.ts';

/** The choreographed flow's dependencies and services, in this process, on topics of their own. */
export interface ChoreographyHarness {
  pool: pg.Pool;
  kafka: Kafka;
  ledger: GatewayLedger;
  gatewayUrl: string;
  /** The event schemas registered in the suite's registry, as a process registers them at start. */
  contracts: EventContracts;
  /** Stops the gateway simulator: calls to it are refused until {@link startGateway}. */
  stopGateway(): Promise<void>;
  /** Starts the gateway simulator again on the same port, with the same ledger (as a restart would). */
  startGateway(): Promise<void>;
  sink: SmtpSink & { smtpPort: number };
  /** Topic and group prefix of this harness. */
  prefix: string;
  /** Moves the sweeper's clock forward. */
  advanceClock(ms: number): void;
  /** Starts (more) consumer instances and relays; each call adds one instance of every group. */
  startInstance(options?: { relays?: number }): Promise<ChoreographyRuntime>;
  close(): Promise<void>;
}

/**
 * Starts the harness. `adjustServices` lets a test change a group's handlers (e.g. inject the
 * defect whose dead letter an operator has to deal with).
 */
export async function startChoreographyHarness(
  servers: TestServers,
  options: {
    gateway?: GatewayOptions;
    adjustServices?: (services: Record<ChoreographyGroup, ChoreographyService>) => Record<ChoreographyGroup, ChoreographyService>;
    /** How long the consumers retry a retryable failure before dead-lettering. @default the runner's (5 min) */
    retryWindowMs?: number;
    /** The instances' logger. @default silent */
    log?: Logger;
  } = {},
): Promise<ChoreographyHarness> {
  await migrateAll(servers.databaseUrl);
  const pool = createPool(servers.databaseUrl, 20);
  const kafka = new Kafka({ clientId: 'choreography-test', brokers: servers.kafkaBrokers, logLevel: logLevel.NOTHING, ...kafkaSecurity(servers) });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const { app: firstApp, ledger } = buildGatewayApp(options.gateway);
  let app: FastifyInstance | undefined = firstApp;
  const gatewayUrl = await firstApp.listen({ port: 0, host: '127.0.0.1' });
  const sink = await startSmtpSink({ smtpPort: 0, httpPort: 0 });
  const prefix = `t${randomUUID().slice(0, 8)}.`;
  let clockOffset = 0;
  const runtimes: ChoreographyRuntime[] = [];
  const mailer = createMailer({ host: '127.0.0.1', port: sink.smtpPort });
  const created = createChoreographyServices({
    gateway: createHttpPaymentGateway({ baseUrl: gatewayUrl, timeoutMs: 5000 }),
    mailer,
    vault: testVault,
    now: () => new Date(Date.now() + clockOffset),
  });
  const services = options.adjustServices ? options.adjustServices(created) : created;

  const contracts = await testContracts(servers);

  return {
    pool,
    kafka,
    ledger,
    gatewayUrl,
    contracts,
    async stopGateway() {
      await app?.close();
      app = undefined;
    },
    async startGateway() {
      if (app) return;
      // The ledger survives the restart, as a processor's books would: a charge retried with the same key is not captured twice.
      app = buildGatewayApp({ ...options.gateway, ledger }).app;
      await app.listen({ port: Number(new URL(gatewayUrl).port), host: '127.0.0.1' });
    },
    sink,
    prefix,
    advanceClock(ms) {
      clockOffset += ms;
    },
    async startInstance({ relays = 1 } = {}) {
      const runtime = await startChoreography({
        kafka,
        pool,
        producer,
        contracts,
        log: options.log ?? pino({ level: 'silent' }),
        services: Object.values(services),
        relays,
        sweepIntervalMs: 0,
        now: () => new Date(Date.now() + clockOffset),
        prefix,
        ...(options.retryWindowMs !== undefined ? { retryWindowMs: options.retryWindowMs } : {}),
      });
      runtimes.push(runtime);
      return runtime;
    },
    async close() {
      await Promise.all(runtimes.map((r) => r.stop()));
      await producer.disconnect();
      await app?.close();
      mailer.close();
      await sink.close();
      await pool.end();
    },
  };
}

/** The read model projector over the harness's topics, silent, its dead letters sent by `producer`. */
export const startHarnessProjector = (harness: ChoreographyHarness, producer: Producer) =>
  startProjector({ kafka: harness.kafka, pool: harness.pool, producer, contracts: harness.contracts, log: pino({ level: 'silent' }), prefix: harness.prefix });

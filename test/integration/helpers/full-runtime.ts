import type { Logger } from 'pino';
import { choreographySubscriptions } from '../../../src/choreography/services.ts';
import { projectorGroup } from '../../../src/projections/projector.ts';
import { buildApiApp, type ApiDeps } from '../../../src/api/app.ts';
import type { GatewayOptions } from '../../../src/gateway/gateway-app.ts';
import type { ConsumerRunner } from '../../../src/messaging/consumer-runner.ts';
import type { Tracing } from '../../../src/observability/tracing.ts';
import type { TestServers } from '../../setup/servers.ts';
import { signedIn, testAuth } from './auth.ts';
import { testVault } from './vault.ts';
import { wireOrderFlows } from '../../../src/workers/order-flows.ts';
import { startChoreographyHarness, startHarnessProjector, type ChoreographyHarness } from './choreography-runtime.ts';

type HarnessOptions = NonNullable<Parameters<typeof startChoreographyHarness>[1]>;
import { startOrchestratedRuntime, type OrchestratedRuntime } from './orchestrated-runtime.ts';

/** Both flows, the read model projector and the HTTP API, in this process, on topics of their own. */
export interface FullRuntime {
  harness: ChoreographyHarness;
  orchestrated: OrchestratedRuntime;
  projector: ConsumerRunner;
  api: Awaited<ReturnType<typeof buildApiApp>>;
  close(): Promise<void>;
}

/**
 * Starts what the HTTP and tracing tests drive: one choreography instance, a worker, the projector
 * and the API (not listening), whose `inject` signs requests in (see `signedIn`).
 */
export async function startFullRuntime(
  servers: TestServers,
  options: {
    gateway?: GatewayOptions;
    tracing?: Tracing;
    readiness?: ApiDeps['readiness'];
    apiLogger?: ApiDeps['logger'];
    choreographyLogger?: Logger;
    /** Changes the choreography's handlers (see startChoreographyHarness): e.g. a defect whose dead letter an operator replays. */
    adjustServices?: HarnessOptions['adjustServices'];
    /** How long the choreography retries before dead-lettering (see startChoreographyHarness). */
    retryWindowMs?: number;
    /** The API's `metricsSources` (GET /operations/backlog). */
    metricsSources?: ApiDeps['metricsSources'];
    /** Serve the web console too (the browser test's API). */
    console?: ApiDeps['console'];
  } = {},
): Promise<FullRuntime> {
  const harness = await startChoreographyHarness(servers, {
    ...(options.gateway ? { gateway: options.gateway } : {}),
    ...(options.choreographyLogger ? { log: options.choreographyLogger } : {}),
    ...(options.adjustServices ? { adjustServices: options.adjustServices } : {}),
    ...(options.retryWindowMs !== undefined ? { retryWindowMs: options.retryWindowMs } : {}),
  });
  await harness.startInstance();
  const orchestrated = await startOrchestratedRuntime(servers, {
    topicPrefix: harness.prefix,
    ...(options.gateway ? { gateway: options.gateway } : {}),
    ...(options.tracing ? { tracing: options.tracing } : {}),
  });
  const producer = harness.kafka.producer();
  await producer.connect();
  const projector = await startHarnessProjector(harness, producer);
  const auth = testAuth(servers);
  const app = await buildApiApp({
    auth: auth.verifier,
    pool: harness.pool,
    flows: wireOrderFlows({ pool: harness.pool, sagas: orchestrated.sagas, vault: testVault }),
    temporalUiUrl: 'http://localhost:8233',
    namespace: 'default',
    readiness: options.readiness ?? [],
    ...(options.apiLogger ? { logger: options.apiLogger } : {}),
    // The dead letters of the harness's groups and of its projector, replayed with the runtime's producer.
    deadLetters: {
      kafka: harness.kafka,
      producer,
      groups: Object.fromEntries([...Object.keys(choreographySubscriptions), projectorGroup].map((name) => [name, `${harness.prefix}${name}`])),
    },
    ...(options.metricsSources ? { metricsSources: options.metricsSources } : {}),
    ...(options.console ? { console: options.console } : {}),
  });
  // Requests carry the tokens a caller would have (helpers/auth.ts): the tests of access send their own.
  const api = signedIn(app, auth.tokens);
  return {
    harness,
    orchestrated,
    projector,
    api,
    async close() {
      await api.close();
      await projector.stop();
      await producer.disconnect();
      await orchestrated.close();
      await harness.close();
    },
  };
}

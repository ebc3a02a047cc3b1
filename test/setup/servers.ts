/** Endpoints of the servers an integration suite talks to, handed to tests by the global setup. */
export interface TestServers {
  temporalAddress: string;
  temporalNamespace: string;
  /** Base URL of the Temporal Web UI. */
  temporalUiUrl: string;
  kafkaBrokers: string[];
  databaseUrl: string;
  /**
   * The schema registry's Confluent-compatible API (Apicurio's `.../apis/ccompat/v7`, or a
   * Confluent Schema Registry's root URL), as the application gets it in SCHEMA_REGISTRY_URL.
   */
  schemaRegistryUrl: string;
  /**
   * The OpenID Connect provider the API's tokens come from: its issuer URL, the clients file
   * `AccessTokens.fromFile` reads, and the port whose `/` its web console client may come back to
   * (the console test's API listens there; the integration suite's own servers only).
   */
  identity: { issuer: string; clientsFile: string; consolePort?: number };
  /**
   * The cluster suite only: how a client reaches its servers, which take TLS only (the URL in
   * `databaseUrl` carries PostgreSQL's): Kafka with TLS against the stack's CA and a SCRAM user,
   * the Temporal frontend with mTLS. The integration suite's servers are plaintext.
   */
  security?: {
    kafka: { ca: string; mechanism: 'scram-sha-512'; username: string; password: string };
    temporal: { ca: string; cert: string; key: string; serverName: string };
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    servers: TestServers;
    timeSkippingServerPath: string;
    /** The cluster suite only: the environment its stack was configured from (`loadStackConfig(env)`). */
    clusterStackEnv: Record<string, string>;
  }
}

/** Endpoints of the servers an integration suite talks to, handed to tests by the global setup. */
export interface TestServers {
  temporalAddress: string;
  temporalNamespace: string;
  /** Base URL of the Temporal Web UI. */
  temporalUiUrl: string;
  kafkaBrokers: string[];
  databaseUrl: string;
  /** The OpenID Connect provider the API's tokens come from: its issuer URL, and the clients file `AccessTokens.fromFile` reads. */
  identity: { issuer: string; clientsFile: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    servers: TestServers;
    timeSkippingServerPath: string;
    /** The cluster suite only: the environment its stack was configured from (`loadStackConfig(env)`). */
    clusterStackEnv: Record<string, string>;
  }
}

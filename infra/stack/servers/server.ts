import type { LaunchSpec } from '../process.ts';

/** Name of a server of the stack. */
export type ServerName =
  | 'postgres'
  | 'kafka'
  | 'temporal'
  | 'smtp-sink'
  | 'identity-provider'
  | 'zipkin'
  | 'schema-registry'
  | 'payment-gateway'
  | 'temporal-worker'
  | 'choreography'
  | 'projector'
  | 'api'
  // The cluster profile's Temporal: one process per service, and the standalone Web UI.
  | 'temporal-frontend'
  | 'temporal-history-1'
  | 'temporal-history-2'
  | 'temporal-matching-1'
  | 'temporal-matching-2'
  | 'temporal-internal-worker'
  | 'temporal-ui'
  // The cluster profile's Kafka: three KRaft nodes, each broker and controller.
  | 'kafka-1'
  | 'kafka-2'
  | 'kafka-3'
  // The cluster profile's application: two of each process, numbered.
  | AppInstanceName;

/** The application processes the cluster profile runs twice. */
export type ReplicatedAppProcess = 'temporal-worker' | 'choreography' | 'projector' | 'api';

/** One instance of a replicated application process in the cluster profile, e.g. `api-2`. */
export type AppInstanceName = `${ReplicatedAppProcess}-${1 | 2}`;

/** One server of the stack: how to prepare its data, start it, and know it really answers. */
export interface ManagedServer {
  readonly name: ServerName;
  /** Ports it listens on, each with the variable that moves it. */
  readonly ports: readonly { port: number; setting: string }[];
  /** Where its stdout and stderr go. */
  readonly logPath: string;
  /** The signal that stops it quickly and cleanly. */
  readonly stopSignal: NodeJS.Signals;
  /** How long a stop waits after `stopSignal` before SIGKILL, when not the caller's default. */
  readonly stopGraceMs?: number;
  /**
   * Servers of the same `stackUp` that must answer before this one starts (the cluster's Temporal
   * needs PostgreSQL). Servers started without it start together.
   */
  readonly dependsOn?: readonly ServerName[];
  /** One-time preparation of its data folder (initdb, storage format, schemas); a second call does nothing. */
  prepare(): void | Promise<void>;
  /** The process to run. */
  launchSpec(): LaunchSpec;
  /** Resolves when the server (the process `pid`) answers a real request; rejects with the reason otherwise. */
  probe(pid: number): Promise<void>;
  /** Work once the server answers (create the database); safe to repeat. */
  afterReady?(): Promise<void>;
  /** Endpoints to print, e.g. `{ 'Temporal Web UI': 'http://localhost:8233' }`. */
  endpoints(): Record<string, string>;
}

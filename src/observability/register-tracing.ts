/**
 * Imported first by each process entry point: starts tracing (when the OTEL_* variables ask for
 * it) before anything loads `pg`, so the PostgreSQL instrumentation can wrap it. The service name
 * is the entry point's file name unless OTEL_SERVICE_NAME says otherwise.
 */
import { entryPointName, startTracing } from './tracing.ts';

export const tracing = startTracing(entryPointName());

/**
 * Imported first by a test file that checks traces: starts tracing into memory before any module
 * loads `pg` (so its queries get spans too), as src/observability/register-tracing.ts does for
 * the processes.
 */
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startTracing } from '../../../src/observability/tracing.ts';

export const finishedSpans = new InMemorySpanExporter();
export const tracing = startTracing('order-saga-test', { spanProcessor: new SimpleSpanProcessor(finishedSpans) })!;

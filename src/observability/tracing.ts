import { basename, extname } from 'node:path';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** The tracing of a process, once started. */
export interface Tracing {
  /** Where every span of the process goes, workflow spans included (the worker hands it to Temporal). */
  spanProcessor: SpanProcessor;
  resource: Resource;
  /** Flushes the spans not exported yet and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * Where spans go, from the standard OpenTelemetry variables: OTEL_TRACES_EXPORTER (`otlp`,
 * `zipkin` or `console`; `none` turns tracing off) and, for OTLP, OTEL_EXPORTER_OTLP_ENDPOINT /
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / _HEADERS, which the exporter reads itself. Tracing stays
 * off when none of them is set (no collector to send to) or OTEL_SDK_DISABLED=true.
 */
function processorFromEnv(env: NodeJS.ProcessEnv): SpanProcessor | undefined {
  if (env.OTEL_SDK_DISABLED === 'true') return undefined;
  const exporter = env.OTEL_TRACES_EXPORTER ?? (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? 'otlp' : 'none');
  if (exporter === 'none') return undefined;
  if (exporter === 'console') return new BatchSpanProcessor(new ConsoleSpanExporter());
  if (exporter === 'otlp') return new BatchSpanProcessor(new OTLPTraceExporter());
  // The local stack's viewer; the exporter reads OTEL_EXPORTER_ZIPKIN_ENDPOINT.
  if (exporter === 'zipkin') return new BatchSpanProcessor(new ZipkinExporter());
  throw new Error(`OTEL_TRACES_EXPORTER=${exporter} is not supported here: use otlp, zipkin, console or none`);
}

/**
 * Starts OpenTelemetry tracing for the process `service` (OTEL_SERVICE_NAME overrides the name):
 * registers the global tracer provider, the W3C trace-context propagator, the async context
 * manager and the PostgreSQL instrumentation, so every span started later (HTTP, Temporal, Kafka
 * hops, outbox, queries) joins the trace of whatever caused it. Returns undefined when tracing is off (see {@link processorFromEnv}).
 * Tests pass their own `spanProcessor` (an in-memory exporter).
 */
export function startTracing(service: string, options: { env?: NodeJS.ProcessEnv; spanProcessor?: SpanProcessor } = {}): Tracing | undefined {
  const env = options.env ?? process.env;
  const spanProcessor = options.spanProcessor ?? processorFromEnv(env);
  if (!spanProcessor) return undefined;
  const resource = Resource.default().merge(new Resource({ [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME ?? service }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  // PostgreSQL queries inside a trace get spans (pg must load after this: see register-tracing.ts).
  registerInstrumentations({ tracerProvider: provider, instrumentations: [new PgInstrumentation({ requireParentSpan: true })] });
  return { spanProcessor, resource, shutdown: () => provider.shutdown() };
}

/** The service name of this process: its entry point's file name (`api`, `temporal-worker`, ...). */
export const entryPointName = (argv: readonly string[] = process.argv): string => basename(argv[1] ?? 'order-saga', extname(argv[1] ?? ''));

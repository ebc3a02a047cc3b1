import { createRequire } from 'node:module';
import type { Context } from '@temporalio/activity';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  makeWorkflowExporter,
  type OpenTelemetryWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, InjectedSink } from '@temporalio/worker';
import type { Tracing } from './tracing.ts';

const require = createRequire(import.meta.url);

/**
 * What a worker needs to trace the saga (the SDK's OpenTelemetry interceptors): workflow spans
 * made inside the sandbox and handed to the process's span processor through a sink, and activity
 * spans continuing the workflow's trace from the activity headers. Nothing when tracing is off.
 */
export function workerTracing(tracing: Tracing | undefined): {
  workflowModules: string[];
  activity: ActivityInterceptorsFactory[];
  sinks: { exporter?: InjectedSink<OpenTelemetryWorkflowExporter> };
} {
  if (!tracing) return { workflowModules: [], activity: [], sinks: {} };
  return {
    workflowModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')],
    activity: [(ctx: Context) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
    sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
  };
}

/** Client interceptors that start each workflow inside a span and pass its context in the workflow headers. */
export const clientTracingInterceptors = () => ({ workflow: [new OpenTelemetryWorkflowClientInterceptor()] });

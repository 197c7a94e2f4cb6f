// Mug Shop instrumented with the OpenTelemetry JS web SDK + otel-friction.js (bundled by ../build.py).
// Sends OTLP/HTTP (JSON) logs and traces to window.SHOP_CONFIG.otlp (the collector's browser-facing receiver,
// CORS configured by OTELCOL_CORS_ALLOWED_ORIGINS in examples/collector/config.yaml).
import { logs } from '@opentelemetry/api-logs';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { BatchSpanProcessor, WebTracerProvider } from '@opentelemetry/sdk-trace-web';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  createDefaultSessionIdGenerator,
  createLocalStorageSessionStore,
  createSessionLogRecordProcessor,
  createSessionManager,
  createSessionSpanProcessor,
} from '@opentelemetry/web-common';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { UserInteractionInstrumentation } from '@opentelemetry/instrumentation-user-interaction';
import { DocumentLoadInstrumentation } from '@opentelemetry/instrumentation-document-load';
import { FetchInstrumentation } from '@opentelemetry/instrumentation-fetch';
import { ExceptionInstrumentation } from '@opentelemetry/instrumentation-web-exception';
import {
  INSTRUMENTATION_NAME,
  INSTRUMENTATION_VERSION,
  installFrictionInstrumentation,
} from '../../../collector_plugin/browser/otel-friction.js';

const cfg = window.SHOP_CONFIG || {};
const otlp = (cfg.otlp || 'http://localhost:4318').replace(/\/$/, '');

const resource = defaultResource().merge(resourceFromAttributes({
  'service.name': cfg.serviceName || 'mug-shop',
  'service.version': cfg.serviceVersion || '1.0.0',
  'deployment.environment.name': cfg.environment || 'dev',
}));

const sessionManager = createSessionManager({
  sessionIdGenerator: createDefaultSessionIdGenerator(),
  sessionStore: createLocalStorageSessionStore(),
  maxDuration: 4 * 3600,
  inactivityTimeout: 30 * 60,
});
void sessionManager.start();

const loggerProvider = new LoggerProvider({
  resource,
  processors: [
    createSessionLogRecordProcessor(sessionManager),
    new BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${otlp}/v1/logs` }), scheduledDelayMillis: 500 }),
  ],
});
logs.setGlobalLoggerProvider(loggerProvider); // instrumentation-web-exception reads the global logs API

const tracerProvider = new WebTracerProvider({
  resource,
  spanProcessors: [
    createSessionSpanProcessor(sessionManager),
    new BatchSpanProcessor(new OTLPTraceExporter({ url: `${otlp}/v1/traces` }), { scheduledDelayMillis: 500 }),
  ],
});
tracerProvider.register();

registerInstrumentations({
  tracerProvider,
  loggerProvider,
  instrumentations: [
    new DocumentLoadInstrumentation(),
    new UserInteractionInstrumentation(),
    new FetchInstrumentation({ ignoreUrls: [/\/v1\/(traces|logs)$/] }),
    new ExceptionInstrumentation(),
  ],
});

// otel-friction.js on the same LoggerProvider (after registerInstrumentations: it uses the unwrapped
// addEventListener). Errors come from instrumentation-web-exception, so captureErrors stays off.
installFrictionInstrumentation({
  logger: loggerProvider.getLogger(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION),
  reactionWindowMs: 1000,
  captureErrors: false,
});

window.__telemetry = {
  sdk: 'opentelemetry-js',
  sessionId: () => sessionManager.getSessionId(),
  async flush() {
    await loggerProvider.forceFlush();
    await tracerProvider.forceFlush();
    return true;
  },
};

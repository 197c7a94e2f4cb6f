// Mug Shop instrumented with the Grafana Faro Web SDK, sent as OTLP/HTTP by @grafana/faro-transport-otlp-http
// (bundled by ../build.py). Faro cannot show dead clicks, scroll or form signals (docs/signals.md).
import { getWebInstrumentations, initializeFaro } from '@grafana/faro-web-sdk';
import { TracingInstrumentation } from '@grafana/faro-web-tracing';
import { OtlpHttpTransport } from '@grafana/faro-transport-otlp-http';
import { trace } from '@opentelemetry/api';

const cfg = window.SHOP_CONFIG || {};
const otlp = (cfg.otlp || 'http://localhost:4318').replace(/\/$/, '');

const faro = initializeFaro({
  app: {
    name: cfg.serviceName || 'mug-shop-faro',
    version: cfg.serviceVersion || '1.0.0',
    environment: cfg.environment || 'dev',
  },
  instrumentations: [...getWebInstrumentations({ captureConsole: true }), new TracingInstrumentation()],
  transports: [new OtlpHttpTransport({ logsURL: `${otlp}/v1/logs`, tracesURL: `${otlp}/v1/traces` })],
  batching: { enabled: true, sendTimeout: 250, itemLimit: 50 },
  sessionTracking: { enabled: true, persistent: true },
  view: { name: 'shop' },
  experimental: { trackNavigation: true },
});

// The app announces route changes; set Faro's view like a router integration would.
window.addEventListener('shop:route', (ev) => faro.api.setView({ name: ev.detail.name }));

window.__telemetry = {
  sdk: 'grafana-faro',
  sessionId: () => (faro.api.getSession() || {}).id || null,
  async flush() {
    const provider = trace.getTracerProvider();
    const delegate = provider && provider.getDelegate ? provider.getDelegate() : provider;
    if (delegate && delegate.forceFlush) await delegate.forceFlush();
    return true; // Faro's own batch goes out after sendTimeout (250 ms)
  },
};

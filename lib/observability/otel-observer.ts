/**
 * The Observer on OpenTelemetry JS: gRPC server and client metrics under go-grpc-prometheus's names
 * (grpc_server_started_total, grpc_server_handled_total, grpc_server_msg_received_total,
 * grpc_server_msg_sent_total, grpc_server_handling_seconds, grpc_client_* likewise; labels grpc_type,
 * grpc_service, grpc_method, grpc_code) and pnsmgr's own; read by a Prometheus exporter and/or pushed
 * over OTLP gRPC. With tracing, a span per served call (SERVER) and per forwarded call (CLIENT),
 * named and attributed after OpenTelemetry's RPC conventions, parented by the incoming W3C
 * traceparent and passed on as one. Loaded only by start.ts, only when something is switched on.
 */
import { DiagLogLevel, ROOT_CONTEXT, SpanKind, diag, type DiagLogger, SpanStatusCode, type Attributes, type Histogram, type Meter, type Span, type TextMapGetter, type Tracer, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from "@opentelemetry/sdk-metrics";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type CallContext, contextKey } from "../pipeline/context.js";
import { type CallObservation, type GrpcType, type Observer, splitMethod } from "./observer.js";

/** A value read at collection time (scrape or export), e.g. open connections. */
export interface GaugeSource {
  name: string;
  description: string;
  /** One or more readings, each with its labels. */
  read(): Promise<readonly { value: number; labels?: Attributes }[]>;
}

export interface OtelObserverOptions {
  serviceName: string;
  /** Serve the Prometheus text format (through `prometheusHandler`). */
  prometheus: boolean;
  /** Export metrics and traces over OTLP gRPC to this host:port. */
  otlp?: { endpoint: string; exportIntervalMs: number };
  gauges?: readonly GaugeSource[];
  /** Where OpenTelemetry's own errors go (a failed OTLP export, say); at most one a minute per message. */
  onError?: (message: string) => void;
}

export interface OtelObserver {
  readonly observer: Observer;
  /** GET /metrics handler (when `prometheus`). */
  readonly prometheusHandler?: (request: IncomingMessage, response: ServerResponse) => void;
  /** Flushes what is pending (spans, a last metric export) and stops. */
  shutdown(): Promise<void>;
}

/** Go's codes.Code.String(), which go-grpc-prometheus puts in grpc_code. */
const GO_CODE_NAMES = [
  "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists", "PermissionDenied",
  "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
];

export function goCodeName(code: number): string {
  return GO_CODE_NAMES[code] ?? `Code(${code})`;
}

/** prometheus.DefBuckets, go-grpc-prometheus's default for handling_seconds. */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const spanKey = contextKey<Span>("otel-span");
const propagator = new W3CTraceContextPropagator();
const metadataGetter: TextMapGetter<ReadonlyMap<string, string>> = {
  keys: carrier => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key),
};

/** Counts of one method and call type on one side, kept in plain numbers and read at collection time. */
interface MethodCounts {
  readonly labels: Attributes;
  started: number;
  received: number;
  sent: number;
  /** Calls ended, by Go code name. */
  readonly handled: Map<string, number>;
}

interface RpcSide {
  /** MethodCounts by "<type> <path>", built once per method. */
  readonly methods: Map<string, MethodCounts>;
  readonly seconds: Histogram;
}

/** The SDK's providers: metric readers (Prometheus, OTLP) on one MeterProvider, and a tracer when OTLP is on. */
interface Providers {
  readonly meters: MeterProvider;
  readonly prometheus?: PrometheusExporter;
  readonly tracer?: BasicTracerProvider;
}

function createProviders(options: OtelObserverOptions): Providers {
  const resource = resourceFromAttributes({ "service.name": options.serviceName });
  const readers: IMetricReader[] = [];
  const prometheus = options.prometheus ? new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, withoutTargetInfo: true }) : undefined;
  if (prometheus) readers.push(prometheus);
  if (options.otlp) {
    const interval = options.otlp.exportIntervalMs;
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `http://${options.otlp.endpoint}` }),
        exportIntervalMillis: interval,
        exportTimeoutMillis: Math.min(interval, 30_000),
      }),
    );
  }
  const meters = new MeterProvider({ resource, readers });
  const tracer = options.otlp
    ? new BasicTracerProvider({
        resource,
        spanProcessors: [
          new BatchSpanProcessor(new OTLPTraceExporter({ url: `http://${options.otlp.endpoint}` }), { scheduledDelayMillis: Math.min(5000, options.otlp.exportIntervalMs) }),
        ],
      })
    : undefined;
  return { meters, prometheus, tracer };
}

/**
 * One side's gRPC metrics. Counters are observable counters over plain numbers: a call costs a few
 * increments, not an attribute lookup per add (which made the SDK's counters cost microseconds per call).
 */
function rpcSide(meter: Meter, name: "server" | "client"): RpcSide {
  const methods = new Map<string, MethodCounts>();
  const counter = (metric: string, description: string, read: (counts: MethodCounts, observe: (value: number, labels: Attributes) => void) => void) =>
    meter.createObservableCounter(`grpc_${name}_${metric}`, { description }).addCallback(result => {
      for (const counts of methods.values()) read(counts, (value, labels) => result.observe(value, labels));
    });
  counter("started_total", `Total number of RPCs started on the ${name}.`, (c, observe) => observe(c.started, c.labels));
  counter("handled_total", `Total number of RPCs completed on the ${name}, regardless of success or failure.`, (c, observe) => {
    for (const [code, value] of c.handled) observe(value, { ...c.labels, grpc_code: code });
  });
  counter("msg_received_total", `Total number of RPC stream messages received on the ${name}.`, (c, observe) => observe(c.received, c.labels));
  counter("msg_sent_total", `Total number of gRPC stream messages sent by the ${name}.`, (c, observe) => observe(c.sent, c.labels));
  const seconds = meter.createHistogram(`grpc_${name}_handling_seconds`, {
    description: `Histogram of response latency (seconds) of gRPC that had been application-level handled by the ${name}.`,
    advice: { explicitBucketBoundaries: DEFAULT_BUCKETS },
  });
  return { methods, seconds };
}

/** pnsmgr's own metrics, and the gauges read at collection time. */
function pnsmgrMetrics(meter: Meter, gauges: readonly GaugeSource[]) {
  const staleAnswers = meter.createCounter("pnsmgr_registry_stale_answers_total", { description: "Registry Finds answered from a remote domain's last good answer while its registry was out of reach, by domain." });
  const refusals = meter.createCounter("pnsmgr_refusals_total", { description: "Calls pnsmgr refused itself (bad input, policy, limits), by method, code and rule (the failed policy, mtls, destination, input)." });
  const ends = meter.createCounter("pnsmgr_connection_ends_total", { description: "Connections that went DOWN or were deleted, by reason (planes/end-reasons.ts)." });
  const stateSeconds = meter.createHistogram("pnsmgr_redis_command_seconds", {
    description: "Latency of state store (Redis) commands, by outcome.",
    advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] },
  });
  for (const gauge of gauges) {
    meter.createObservableGauge(gauge.name, { description: gauge.description }).addCallback(async result => {
      for (const reading of await gauge.read()) result.observe(reading.value, reading.labels);
    });
  }
  return { staleAnswers, refusals, ends, stateSeconds };
}

function countsOf(rpc: RpcSide, path: string, type: GrpcType): MethodCounts {
  const key = `${type} ${path}`;
  let counts = rpc.methods.get(key);
  if (!counts) {
    const [service, method] = splitMethod(path);
    counts = { labels: { grpc_type: type, grpc_service: service, grpc_method: method }, started: 0, received: 0, sent: 0, handled: new Map() };
    // Method paths come from registered services (grpc-js answers UNIMPLEMENTED to others), so this stays small.
    rpc.methods.set(key, counts);
  }
  return counts;
}

/** Counts one call on one side and ends its span (if any) with the call. */
function observe(rpc: RpcSide, kind: SpanKind, ctx: CallContext, path: string, type: GrpcType, span: Span | undefined): CallObservation {
  const counts = countsOf(rpc, path, type);
  const started = performance.now();
  counts.started++;
  let ended = false;
  return {
    ctx: span && kind === SpanKind.SERVER ? ctx.with(spanKey, span) : ctx,
    received: () => void counts.received++,
    sent: () => void counts.sent++,
    end(code) {
      if (ended) return;
      ended = true;
      const name = goCodeName(code);
      counts.handled.set(name, (counts.handled.get(name) ?? 0) + 1);
      rpc.seconds.record((performance.now() - started) / 1000, counts.labels);
      if (span) {
        span.setAttribute("rpc.grpc.status_code", code);
        if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: goCodeName(code) });
        span.end();
      }
    },
  };
}

function startSpan(tracing: Tracer | undefined, kind: SpanKind, path: string, parent: ReturnType<typeof trace.setSpan> | typeof ROOT_CONTEXT, extra: Attributes = {}): Span | undefined {
  if (!tracing) return undefined;
  const [service, method] = splitMethod(path);
  return tracing.startSpan(`${service}/${method}`, { kind, attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method, ...extra } }, parent);
}

export function createOtelObserver(options: OtelObserverOptions): OtelObserver {
  if (options.onError) diag.setLogger(rateLimited(options.onError), { logLevel: DiagLogLevel.ERROR, suppressOverrideMessage: true });
  const { meters, prometheus, tracer } = createProviders(options);
  const meter = meters.getMeter("pnsmgr");
  const tracing = tracer?.getTracer("pnsmgr");
  const server = rpcSide(meter, "server");
  const client = rpcSide(meter, "client");
  const { staleAnswers, refusals, ends, stateSeconds } = pnsmgrMetrics(meter, options.gauges ?? []);

  const observer: Observer = {
    active: true,
    serverCall(ctx, type) {
      const parent = tracing ? propagator.extract(ROOT_CONTEXT, ctx.metadata, metadataGetter) : ROOT_CONTEXT;
      return observe(server, SpanKind.SERVER, ctx, ctx.method, type, startSpan(tracing, SpanKind.SERVER, ctx.method, parent));
    },
    clientCall(address, path, type, ctx, setHeader) {
      let span: Span | undefined;
      if (tracing) {
        const served = ctx.get(spanKey);
        const parent = served ? trace.setSpan(ROOT_CONTEXT, served) : propagator.extract(ROOT_CONTEXT, ctx.metadata, metadataGetter);
        const colon = address.lastIndexOf(":");
        span = startSpan(tracing, SpanKind.CLIENT, path, parent, { "server.address": address.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), "server.port": Number(address.slice(colon + 1)) });
        if (span) propagator.inject(trace.setSpan(ROOT_CONTEXT, span), undefined, { set: (_carrier, key, value) => setHeader(key, value) });
      }
      return observe(client, SpanKind.CLIENT, ctx, path, type, span);
    },
    refusal(method, code, rule) {
      const [service, name] = splitMethod(method);
      refusals.add(1, { grpc_service: service, grpc_method: name, grpc_code: goCodeName(code), rule });
    },
    stateCommand(seconds, ok) {
      stateSeconds.record(seconds, { outcome: ok ? "ok" : "error" });
    },
    connectionEnded(reason, hop, ctx) {
      ends.add(1, { reason });
      const span = ctx?.get(spanKey);
      span?.setAttributes({ "pnsmgr.end.reason": reason, "pnsmgr.end.hop": hop });
      span?.addEvent("pnsmgr.connection.end", { "pnsmgr.end.reason": reason, "pnsmgr.end.hop": hop });
    },
    registryStaleAnswer(domain) {
      staleAnswers.add(1, { domain });
    },
  };

  return {
    observer,
    ...(prometheus ? { prometheusHandler: (request: IncomingMessage, response: ServerResponse) => prometheus.getMetricsRequestHandler(request, response) } : {}),
    async shutdown() {
      await Promise.allSettled([tracer?.shutdown(), meters.shutdown()]);
      if (options.onError) diag.disable();
    },
  };
}

/** A DiagLogger passing errors on, each distinct message at most once a minute. */
function rateLimited(report: (message: string) => void): DiagLogger {
  const last = new Map<string, number>();
  const error = (message: string, ...args: unknown[]) => {
    const text = [message, ...args].map(describe).join(" ").slice(0, 500);
    const now = Date.now();
    if (now - (last.get(text) ?? -Infinity) < 60_000) return;
    if (last.size > 100) last.clear();
    last.set(text, now);
    report(text);
  };
  const ignore = () => {};
  return { error, warn: ignore, info: ignore, debug: ignore, verbose: ignore };
}

/** An error's message (OpenTelemetry hands over errors and their JSON forms, stacks included). */
function describe(value: unknown): string {
  if (typeof value === "string") {
    try {
      return describe(JSON.parse(value));
    } catch {
      return value;
    }
  }
  if (value !== null && typeof value === "object" && "message" in value) return String(value.message);
  if (value !== null && typeof value === "object" && "stack" in value) return String(value.stack).split("\n")[0] ?? "";
  return JSON.stringify(value);
}

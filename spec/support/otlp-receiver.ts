/**
 * A real OTLP/gRPC receiver for tests: a grpc-js server on 127.0.0.1 port 0 serving
 * opentelemetry.proto.collector.trace.v1.TraceService/Export and
 * opentelemetry.proto.collector.metrics.v1.MetricsService/Export, decoding what exporters send with a
 * small protobuf reader (field numbers from opentelemetry-proto: trace/v1/trace.proto,
 * metrics/v1/metrics.proto, common/v1/common.proto). It records spans (name, kind, ids, attributes)
 * and metric names.
 */
import { Server, ServerCredentials, type ServiceDefinition, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

export interface ReceivedSpan {
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, string | number | boolean>;
  serviceName: string;
}

export interface OtlpReceiver {
  readonly address: string;
  readonly spans: ReceivedSpan[];
  readonly metricNames: Set<string>;
  /** Resolves once `predicate` holds for the spans received (checked at each export), or rejects after `ms`. */
  waitFor(predicate: () => boolean, ms: number, what: string): Promise<void>;
  stop(): Promise<void>;
}

type Fields = Map<number, Uint8Array[]>;

/** Length-delimited fields by number (scalars other than strings/bytes are skipped unless asked for). */
function fields(bytes: Uint8Array): { messages: Fields; varints: Map<number, bigint> } {
  const reader = new BinaryReader(bytes);
  const messages: Fields = new Map();
  const varints = new Map<number, bigint>();
  while (reader.pos < reader.len) {
    const [no, type] = reader.tag();
    if (type === WireType.LengthDelimited) {
      const list = messages.get(no) ?? [];
      list.push(reader.bytes());
      messages.set(no, list);
    } else if (type === WireType.Varint) varints.set(no, BigInt(reader.uint64()));
    else if (type === WireType.Bit64) varints.set(no, BigInt(reader.fixed64()));
    else reader.skip(type, no);
  }
  return { messages, varints };
}

const text = (bytes: Uint8Array | undefined) => (bytes ? new TextDecoder().decode(bytes) : "");
const hex = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString("hex") : "");

function attributes(list: Uint8Array[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list ?? []) {
    const { messages } = fields(kv);
    const key = text(messages.get(1)?.[0]);
    const value = messages.get(2)?.[0];
    if (!value) continue;
    const reader = new BinaryReader(value);
    const [no, type] = reader.tag();
    if (no === 1 && type === WireType.LengthDelimited) out[key] = reader.string();
    else if (no === 2) out[key] = reader.bool();
    else if (no === 3) out[key] = Number(reader.int64());
    else if (no === 4) out[key] = reader.double();
  }
  return out;
}

function decodeTraces(bytes: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of fields(bytes).messages.get(1) ?? []) {
    const rs = fields(resourceSpans).messages;
    const resource = attributes(fields(rs.get(1)?.[0] ?? new Uint8Array()).messages.get(1));
    for (const scopeSpans of rs.get(2) ?? []) {
      for (const spanBytes of fields(scopeSpans).messages.get(2) ?? []) {
        const { messages, varints } = fields(spanBytes);
        spans.push({
          traceId: hex(messages.get(1)?.[0]),
          spanId: hex(messages.get(2)?.[0]),
          parentSpanId: hex(messages.get(4)?.[0]),
          name: text(messages.get(5)?.[0]),
          kind: Number(varints.get(6) ?? 0n),
          attributes: attributes(messages.get(9)),
          serviceName: String(resource["service.name"] ?? ""),
        });
      }
    }
  }
  return spans;
}

function decodeMetricNames(bytes: Uint8Array): string[] {
  const names: string[] = [];
  for (const resourceMetrics of fields(bytes).messages.get(1) ?? []) {
    for (const scopeMetrics of fields(resourceMetrics).messages.get(2) ?? []) {
      for (const metric of fields(scopeMetrics).messages.get(2) ?? []) names.push(text(fields(metric).messages.get(1)?.[0]));
    }
  }
  return names;
}

const raw = { requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metricNames = new Set<string>();
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const waiter of [...waiters]) waiter();
  };
  const server = new Server();
  const service = (path: string) => ({ export: { ...raw, path, originalName: "Export" } }) as unknown as ServiceDefinition;
  server.addService(service("/opentelemetry.proto.collector.trace.v1.TraceService/Export"), {
    export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      spans.push(...decodeTraces(call.request));
      callback(null, Buffer.alloc(0));
      changed();
    },
  });
  server.addService(service("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"), {
    export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      for (const name of decodeMetricNames(call.request)) metricNames.add(name);
      callback(null, Buffer.alloc(0));
      changed();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return {
    address: `127.0.0.1:${port}`,
    spans,
    metricNames,
    waitFor: (predicate, ms, what) =>
      new Promise((resolve, reject) => {
        if (predicate()) return resolve();
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`OTLP receiver: no ${what} within ${ms} ms (spans: ${spans.map(s => s.name).join(", ")}; metrics: ${[...metricNames].join(", ")})`));
        }, ms);
        const check = () => {
          if (!predicate()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      }),
    stop: () => new Promise(resolve => server.tryShutdown(() => resolve())),
  };
}

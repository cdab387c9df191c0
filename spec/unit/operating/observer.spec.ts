/**
 * lib/observability: the no-op observer until one is installed, and the OpenTelemetry observer's
 * Prometheus text under go-grpc-prometheus's names (Go code names in grpc_code, no _total doubled,
 * no OTel scope/target labels), refusals and Redis latency, and gauges read at scrape time.
 */
import test from "ava";
import { createCallContext } from "../../../lib/pipeline/context.js";
import { installObserver, noopObserver, noteFailure, observer, refusalRule, splitMethod } from "../../../lib/observability/observer.js";
import { createOtelObserver, goCodeName } from "../../../lib/observability/otel-observer.js";
import { installPrometheus } from "../../support/prometheus.js";

test("the observer is the no-op until one is installed, and again after", t => {
  t.is(observer(), noopObserver);
  t.is(observer().serverCall(createCallContext({ method: "/a.B/C" }), "unary"), undefined);
  const otel = createOtelObserver({ serviceName: "t", prometheus: true });
  const uninstall = installObserver(otel.observer);
  t.is(observer(), otel.observer);
  uninstall();
  t.is(observer(), noopObserver);
});

test("method paths split into service and method; codes get Go's names", t => {
  t.deepEqual(splitMethod("/networkservice.NetworkService/Request"), ["networkservice.NetworkService", "Request"]);
  t.deepEqual([0, 1, 3, 4, 7, 8, 14, 16].map(goCodeName), ["OK", "Canceled", "InvalidArgument", "DeadlineExceeded", "PermissionDenied", "ResourceExhausted", "Unavailable", "Unauthenticated"]);
});

test("Prometheus text: go-grpc-prometheus names and labels for served and made calls; refusals; Redis latency; gauges", async t => {
  let feeds = 3;
  const prometheus = await installPrometheus(t, { gauges: [{ name: "pnsmgr_monitor_feeds", description: "feeds", read: async () => [{ value: feeds }] }] });
  const ctx = createCallContext({ method: "/registry.NetworkServiceEndpointRegistry/Find" });
  const served = observer().serverCall(ctx, "server_stream")!;
  served.received();
  served.sent();
  served.sent();
  served.end(0);
  served.end(14);
  const failed = observer().serverCall(createCallContext({ method: "/networkservice.NetworkService/Request" }), "unary")!;
  failed.received();
  failed.end(7);
  noteFailure("/networkservice.NetworkService/Request", 7, "policy tokens_chained failed: no sufficient privileges");
  noteFailure("/networkservice.NetworkService/Request", 7, "next hop 10.0.0.1:5001: no permission");
  noteFailure("/networkservice.NetworkService/Request", 14, "unavailable");
  const headers = new Map<string, string>();
  const made = observer().clientCall("127.0.0.1:5001", "/networkservice.NetworkService/Close", "unary", ctx, (k, v) => headers.set(k, v))!;
  made.sent();
  made.end(4);
  t.is(headers.size, 0, "no trace context without tracing");
  observer().stateCommand(0.002, true);
  feeds = 5;

  const text = await prometheus.scrape();
  const find = (prefix: string) => text.split("\n").filter(line => line.startsWith(prefix));
  t.deepEqual(find("grpc_server_started_total{"), ['grpc_server_started_total{grpc_type="server_stream",grpc_service="registry.NetworkServiceEndpointRegistry",grpc_method="Find"} 1', 'grpc_server_started_total{grpc_type="unary",grpc_service="networkservice.NetworkService",grpc_method="Request"} 1']);
  t.deepEqual(find("grpc_server_handled_total{"), [
    'grpc_server_handled_total{grpc_type="server_stream",grpc_service="registry.NetworkServiceEndpointRegistry",grpc_method="Find",grpc_code="OK"} 1',
    'grpc_server_handled_total{grpc_type="unary",grpc_service="networkservice.NetworkService",grpc_method="Request",grpc_code="PermissionDenied"} 1',
  ]);
  t.deepEqual(find("grpc_server_msg_sent_total{"), [
    'grpc_server_msg_sent_total{grpc_type="server_stream",grpc_service="registry.NetworkServiceEndpointRegistry",grpc_method="Find"} 2',
    'grpc_server_msg_sent_total{grpc_type="unary",grpc_service="networkservice.NetworkService",grpc_method="Request"} 0',
  ]);
  t.is(find("grpc_server_msg_received_total{").length, 2);
  t.true(find("grpc_server_handling_seconds_bucket{").some(line => line.includes('le="0.005"')), "go's default buckets");
  t.deepEqual(find("grpc_client_handled_total{"), ['grpc_client_handled_total{grpc_type="unary",grpc_service="networkservice.NetworkService",grpc_method="Close",grpc_code="DeadlineExceeded"} 1']);
  t.deepEqual(find("pnsmgr_refusals_total{"), ['pnsmgr_refusals_total{grpc_service="networkservice.NetworkService",grpc_method="Request",grpc_code="PermissionDenied",rule="tokens_chained"} 1']);
  t.deepEqual(find("pnsmgr_redis_command_seconds_count{"), ['pnsmgr_redis_command_seconds_count{outcome="ok"} 1']);
  t.deepEqual(find("pnsmgr_monitor_feeds"), ["pnsmgr_monitor_feeds 5"]);
  t.true(text.includes("# TYPE grpc_server_handled_total counter"));
  t.true(text.includes("# TYPE grpc_server_handling_seconds histogram"));
  t.notRegex(text, /_total_total|otel_scope|target_info/);
});

test("refusalRule: the failed policy, mtls, the destination guard, or input", t => {
  t.is(refusalRule("policy prev_token_signed failed: no sufficient privileges"), "prev_token_signed");
  t.is(refusalRule("mTLS: spiffe://a/b is not an authorized peer (PNSMGR_TLS_AUTHORIZE)"), "mtls");
  t.is(refusalRule('dial to "x:80" refused (x resolves to 169.254.169.254): rule default deny: linkLocal 169.254.0.0/16'), "destination");
  t.is(refusalRule("network service: name is 600 characters long; at most 512"), "input");
});

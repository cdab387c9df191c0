/**
 * planes/end-reasons.ts: which reason a failed refresh gets from its error, what a seed peer's event
 * says by itself, and the pnsmgr_connection_ends_total{reason} counter behind connectionEnd.
 */
import test from "ava";
import { Code, ProxyError, invalidArgument } from "../../../lib/pipeline/errors.js";
import { EndReason, connectionEnd, endReasonText, refreshFailureReason, seedEventEnd, tagEnd } from "../../../lib/planes/end-reasons.js";
import { installPrometheus } from "../../support/prometheus.js";
import { ConnectionEventType, State, type Connection } from "../../../generated/nsm/connection.js";

test("a failed refresh: tagged errors give their reason; our own PERMISSION_DENIED is policy; anything else refresh_failed", t => {
  t.is(refreshFailureReason(tagEnd(invalidArgument("the previous path segment expired"), EndReason.tokenExpired)), "token_expired");
  t.is(refreshFailureReason(tagEnd(new ProxyError(Code.UNAVAILABLE, "record not written"), EndReason.stateStoreUnavailable)), "state_store_unavailable");
  t.is(refreshFailureReason(new ProxyError(Code.PERMISSION_DENIED, "policy tokens_expired failed")), "refused_by_policy");
  t.is(refreshFailureReason(new ProxyError(Code.PERMISSION_DENIED, "next hop 10.0.0.2:5001: denied")), "refresh_failed", "a next hop's refusal is its failure, not our policy");
  t.is(refreshFailureReason(new ProxyError(Code.UNAVAILABLE, "next hop 10.0.0.2:5001: connection refused")), "refresh_failed");
  t.is(refreshFailureReason("odd"), "refresh_failed");
});

test("seed peer events: DELETE is downstream_deleted, an UPDATE with a connection DOWN downstream_down, seen by the peer; others nothing", t => {
  const conn = (state: State) => ({ id: "c", state }) as Connection;
  t.deepEqual(seedEventEnd({ type: ConnectionEventType.DELETE, connections: { c: conn(State.UP) } }, "10.0.0.2:5001"), { reason: "downstream_deleted", hop: "10.0.0.2:5001" });
  t.deepEqual(seedEventEnd({ type: ConnectionEventType.UPDATE, connections: { c: conn(State.DOWN) } }, "p:1"), { reason: "downstream_down", hop: "p:1" });
  t.is(seedEventEnd({ type: ConnectionEventType.UPDATE, connections: { c: conn(State.UP) } }, "p:1"), undefined);
  t.is(seedEventEnd({ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: { c: conn(State.DOWN) } }, "p:1"), undefined);
});

test("reasons in words; an unknown one (a newer writer) as it is", t => {
  t.is(endReasonText("closed_by_client"), "closed by the client");
  t.is(endReasonText("heal_gave_up_somewhere"), "heal_gave_up_somewhere");
});

test("connectionEnd counts pnsmgr_connection_ends_total{reason} when metrics are on", async t => {
  connectionEnd(EndReason.expired, "proxy", "before any observer: not counted, no error");
  const prometheus = await installPrometheus(t);
  connectionEnd(EndReason.expired, "proxy");
  connectionEnd(EndReason.expired, "proxy");
  t.deepEqual(connectionEnd(EndReason.downstreamDown, "10.0.0.2:5001", "x"), { reason: "downstream_down", hop: "10.0.0.2:5001", detail: "x" });
  const text = await prometheus.scrape();
  t.deepEqual(
    text.split("\n").filter(line => line.startsWith("pnsmgr_connection_ends_total{")).sort(),
    ['pnsmgr_connection_ends_total{reason="downstream_down"} 1', 'pnsmgr_connection_ends_total{reason="expired"} 2'],
  );
});

/** How `pnsmgr events` prints entries: readable lines with a summary, and JSON lines. */
import test from "ava";
import { formatJson, formatReadable, summary } from "../../../lib/cli/format.js";
import type { EventEntry } from "../../../lib/state/event-log.js";

const AT = Date.parse("2024-05-01T10:00:00.123Z");

const conn = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  networkService: "icmp-responder@domain-2",
  path: { index: 0, pathSegments: [{ name: "nsmgr-1" }, { name: "nsmgr-2@10.0.0.2:5001" }] },
  ...extra,
});

const entry = (payload: unknown, more: Partial<EventEntry> = {}): EventEntry => ({
  position: "1714557600123-0",
  at: AT,
  type: "UPDATE",
  peer: "10.0.0.2:5001",
  connectionIds: ["c-1"],
  payload,
  ...more,
});

test("readable: position, time, type, peer, ids and the connection's state, path[1] and service", t => {
  t.is(
    formatReadable(entry({ type: "UPDATE", connections: { "c-1": conn("c-1", { state: "DOWN" }) } })),
    "1714557600123-0 2024-05-01T10:00:00.123Z UPDATE peer=10.0.0.2:5001 conn=c-1 state=DOWN path[1]=nsmgr-2@10.0.0.2:5001 service=icmp-responder@domain-2",
  );
});

test("readable: a state left out is UP (proto3 JSON); missing parts are -", t => {
  t.is(summary({ connections: { a: conn("a") } }), "state=UP path[1]=nsmgr-2@10.0.0.2:5001 service=icmp-responder@domain-2");
  t.is(summary({ connections: { a: { id: "a" } } }), "state=UP path[1]=- service=-");
});

test("readable: several connections are listed by id; none, or no payload, says so", t => {
  t.is(
    summary({ type: "INITIAL_STATE_TRANSFER", connections: { a: conn("a"), b: conn("b", { state: "DOWN", networkService: "other" }) } }),
    "a: state=UP path[1]=nsmgr-2@10.0.0.2:5001 service=icmp-responder@domain-2; b: state=DOWN path[1]=nsmgr-2@10.0.0.2:5001 service=other",
  );
  t.is(summary({ type: "INITIAL_STATE_TRANSFER" }), "(no connections)");
  t.is(summary({ connections: {} }), "(no connections)");
  t.is(summary(null), "(no connections)");
  t.is(summary("text"), "(no connections)");
  t.is(
    formatReadable(entry({}, { type: "INITIAL_STATE_TRANSFER", peer: "", connectionIds: [] })),
    "1714557600123-0 2024-05-01T10:00:00.123Z INITIAL_STATE_TRANSFER peer=- conn=- (no connections)",
  );
});

test("readable: several ids are comma-separated; an impossible time is printed as is", t => {
  t.regex(formatReadable(entry({}, { connectionIds: ["a", "b"] })), / conn=a,b /);
  t.regex(formatReadable(entry({}, { at: Number.NaN })), /^1714557600123-0 NaN UPDATE /);
});

test("JSON: one object per line with the entry and its payload", t => {
  const payload = { type: "DELETE", connections: { "c-1": conn("c-1") } };
  const line = formatJson(entry(payload, { type: "DELETE" }));
  t.false(line.includes("\n"));
  t.deepEqual(JSON.parse(line), {
    position: "1714557600123-0",
    time: "2024-05-01T10:00:00.123Z",
    at: AT,
    type: "DELETE",
    peer: "10.0.0.2:5001",
    connectionIds: ["c-1"],
    payload,
  });
});

test("a DOWN / DELETE with its reason: readable ends with reason, hop and detail; JSON carries end; none without one", t => {
  const down = entry({ connections: { "c-1": conn("c-1", { state: "DOWN" }) } }, { end: { reason: "refresh_failed", hop: "nsmgr-proxy", detail: 'next hop 10.0.0.2:5001: "no"' } });
  t.true(formatReadable(down).endsWith(' state=DOWN path[1]=nsmgr-2@10.0.0.2:5001 service=icmp-responder@domain-2 reason=refresh_failed hop=nsmgr-proxy detail="next hop 10.0.0.2:5001: \\"no\\""'));
  t.true(formatReadable(entry(null, { type: "DELETE", end: { reason: "expired", hop: "" } })).endsWith(" reason=expired hop=-"));
  t.deepEqual((JSON.parse(formatJson(down)) as { end: unknown }).end, { reason: "refresh_failed", hop: "nsmgr-proxy", detail: 'next hop 10.0.0.2:5001: "no"' });
  t.false("end" in (JSON.parse(formatJson(entry(null))) as object));
  t.false(formatReadable(entry(null)).includes("reason="));
});

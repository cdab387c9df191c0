/**
 * What a downstream feed last relayed, read back from the log (feed-history.ts), on the in-memory
 * state store: nothing before the feed's first entry; the feed's snapshot and its entries after it
 * folded (other feeds' entries and other connections ignored); merged into the record as a relay
 * would have changed it.
 */
import test from "ava";
import { createMemoryStateStore } from "../../../lib/state/state.js";
import { feedLease } from "../../../lib/state/feed-store.js";
import { eventInput } from "../../../lib/planes/record-events.js";
import { encodeEvent } from "../../../lib/planes/monitor-log.js";
import { lastRelayed, withRelayed } from "../../../lib/planes/connection/v1/feed-history.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, State } from "../../../generated/nsm/connection.js";
import { fwdConnection, seg } from "./_support.js";

const KEY = "v1|10.9.0.2:5004|proxy-1|proxy-1-id";
const ours = (n: string, state = State.UP): Connection => ({
  ...fwdConnection(),
  id: "proxy-1-id",
  state,
  context: { ipContext: undefined, dnsContext: undefined, ethernetContext: undefined, extraContext: { n }, MTU: 0 },
  path: { index: 1, pathSegments: [seg("fwd-1", "fwd-1-id"), seg("proxy-1", "proxy-1-id"), seg("nsmgr-2", `nsmgr-2-id-${n}`)] },
});
const update = (...conns: Connection[]): ConnectionEvent => ({ type: ConnectionEventType.UPDATE, connections: Object.fromEntries(conns.map(c => [c.id, c])) });

async function holder() {
  const store = createMemoryStateStore();
  await store.replicas.tryAcquire(feedLease(KEY), "replica-a", 60_000);
  const append = (key: string, event: ConnectionEvent, snapshot?: ConnectionEvent) =>
    store.feeds.append(key, "replica-a", { ...eventInput(event, "10.9.0.2:5004", Date.now()), wire: encodeEvent(event) }, snapshot && encodeEvent(snapshot));
  return { store, append };
}

test("nothing relayed yet: undefined, and the record stays as it is", async t => {
  const { store } = await holder();
  t.is(await lastRelayed(store.feeds, store.events, KEY, "proxy-1-id"), undefined);
  const recorded = ours("0");
  t.is(withRelayed(recorded, undefined), recorded);
});

test("the snapshot and the feed's entries after it, folded; other feeds and connections ignored; merged into the record", async t => {
  const { store, append } = await holder();
  const empty: ConnectionEvent = { type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: {} };
  await append(KEY, empty, empty);
  await append(KEY, update(ours("1")));
  await append(KEY, update(ours("2", State.DOWN), { ...ours("9"), id: "someone-else" }));
  await store.events.append({ ...eventInput(update(ours("7")), "", Date.now()), feed: "v1", wire: encodeEvent(update(ours("7"))) });
  const relayed = await lastRelayed(store.feeds, store.events, KEY, "proxy-1-id");
  t.is(relayed?.context?.extraContext.n, "2");
  t.is(relayed?.state, State.DOWN);

  const recorded = { ...ours("0"), labels: { refreshed: "yes" } };
  const merged = withRelayed(recorded, relayed);
  t.deepEqual(merged.labels, { refreshed: "yes" }, "what the Request set, from the record");
  t.is(merged.context?.extraContext.n, "2", "what the relay changed, from the feed");
  t.is(merged.state, State.DOWN);
  t.deepEqual(merged.path, relayed?.path);
});

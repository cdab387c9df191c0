/**
 * Monitor fan-out: `subscribers` MonitorConnections streams with the same selector, then one burst of
 * `events` UPDATE events from the fake remote. Every subscriber checks that it sees each event exactly
 * once and in order (the sequence number in the connection's labels) and, through the proxy, that the
 * event was rewritten the client's way (path segment 1 "nsmgr-2@host:port"), so a fast figure cannot
 * come from skipping work. The clock runs from the emit command to the last subscriber's last event.
 */
import { Client, Metadata, type StatusObject } from "@grpc/grpc-js";
import { type ConnectionEvent, ConnectionEventType, MonitorConnectionService, type MonitorScopeSelector } from "../../generated/nsm/connection.js";

const method = MonitorConnectionService.monitorConnections;

export interface FanOutOptions {
  /** All subscribers share one channel: grpc-js shares one HTTP/2 connection per target anyway. */
  client: Client;
  selector: MonitorScopeSelector;
  subscribers: number;
  events: number;
  /** Path segment 1 every relayed connection must carry. */
  segment1: string;
  /** Starts the burst; resolves when the fake has written it. */
  emit: () => Promise<void>;
  timeoutMs: number;
}

export interface FanOutResult {
  readonly subscribers: number;
  readonly events: number;
  readonly deliveries: number;
  readonly seconds: number;
  readonly deliveriesPerSecond: number;
  /** One line per subscriber that did not get every event exactly once, in order. */
  readonly failures: string[];
}

interface Subscriber {
  initial: number;
  expected: number;
  failure?: string;
}

export async function runFanOut(options: FanOutOptions): Promise<FanOutResult> {
  const { client, selector, subscribers: count, events, segment1 } = options;
  const subscribers: Subscriber[] = [];
  const calls: ReturnType<Client["makeServerStreamRequest"]>[] = [];
  let attached = 0;
  let finished = 0;
  let wake: () => void = () => undefined;
  const settle = () => wake();

  for (let i = 0; i < count; i++) {
    const s: Subscriber = { initial: 0, expected: 0 };
    subscribers.push(s);
    const fail = (why: string) => {
      if (s.failure !== undefined) return;
      s.failure = `subscriber ${i}: ${why}`;
      finished++;
      settle();
    };
    const call = client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, selector, new Metadata(), { deadline: Infinity });
    call.on("data", (event: ConnectionEvent) => {
      if (s.failure !== undefined) return;
      if (event.type === ConnectionEventType.INITIAL_STATE_TRANSFER) {
        if (++s.initial > 1) return fail("INITIAL_STATE_TRANSFER twice");
        attached++;
        return settle();
      }
      for (const conn of Object.values(event.connections)) {
        const seq = Number(conn.labels.seq);
        if (seq !== s.expected) return fail(`expected event ${s.expected}, got ${seq} (${seq < s.expected ? "duplicate or reordered" : "missed"})`);
        if (conn.path?.pathSegments[1]?.name !== segment1) return fail(`event ${seq}: path segment 1 is "${conn.path?.pathSegments[1]?.name}", expected "${segment1}"`);
        if (++s.expected === events) {
          finished++;
          settle();
        }
      }
    });
    call.on("error", () => undefined);
    call.on("status", (status: StatusObject) => {
      if (s.expected < events) fail(`stream ended (${status.code} ${status.details}) after ${s.expected} of ${events} events`);
    });
    calls.push(call);
  }

  const until = (condition: () => boolean, deadline: number) =>
    new Promise<boolean>(resolve => {
      const timer = setTimeout(() => resolve(condition()), Math.max(0, deadline - Date.now()));
      wake = () => {
        if (condition()) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      wake();
    });

  const failures = (): string[] => subscribers.filter(s => s.failure !== undefined).map(s => s.failure as string);
  let emitted: Promise<void> | undefined;
  try {
    // Attach everyone before the burst, so every subscriber is owed every event.
    if (!(await until(() => attached === count || failures().length > 0, Date.now() + 10_000))) {
      return result(0, [`only ${attached} of ${count} subscribers attached within 10 s`]);
    }
    if (failures().length > 0) return result(0, failures());
    const start = performance.now();
    emitted = options.emit();
    const done = await until(() => finished === count, Date.now() + options.timeoutMs);
    const seconds = (performance.now() - start) / 1000;
    const missing = done
      ? []
      : subscribers.flatMap((s, i) => (s.failure === undefined && s.expected < events ? [`subscriber ${i}: got ${s.expected} of ${events} events within ${options.timeoutMs} ms`] : []));
    return result(seconds, [...failures(), ...missing]);
  } finally {
    // Cancel first: a burst stuck on a stalled stream ends once its streams are gone.
    for (const call of calls) call.cancel();
    await emitted;
  }

  function result(seconds: number, failed: string[]): FanOutResult {
    const deliveries = subscribers.reduce((sum, s) => sum + s.expected, 0);
    return { subscribers: count, events, deliveries, seconds, deliveriesPerSecond: seconds > 0 ? deliveries / seconds : 0, failures: failed };
  }
}

/**
 * The Redis state store: the Redis units (records.ts, event-log.ts, feeds.ts, replicas.ts) on one
 * session (session.ts: connections, failure behaviour, durability), assembled into one StateStore.
 * State is shared by every replica pointed at the same Redis and key prefix (keys.ts). Every write
 * that touches more than one key, or needs the server clock, is one Lua script (atomic): an event
 * append (XADD, trimming, events-trimmed), a feed's fenced append (lease check, XADD, trimming,
 * snapshot), feed register / touch / list / remove-if-idle, heartbeats and leases.
 *
 * Loaded by state.ts only when Redis is asked for; only the files of redis/ import ioredis.
 */
import { silentLogger, type Logger } from "../../log.js";
import { checkBounds } from "../event-log.js";
import type { RedisStateOptions, StateStore } from "../state-store.js";
import { redisEventLog } from "./event-log.js";
import { redisFeedStore } from "./feeds.js";
import { redisConnectionStore, redisRouteStore, redisV1ConnectionStore } from "./records.js";
import { redisReplicaRegistry } from "./replicas.js";
import { RedisSession } from "./session.js";

export interface RedisStateDeps {
  readonly log?: Logger;
}

/** The store, connected; rejects with UNAVAILABLE when Redis is not reachable within startupTimeoutMs. */
export async function createRedisStateStore(options: RedisStateOptions, deps: RedisStateDeps = {}): Promise<StateStore> {
  checkBounds(options.events);
  const session = new RedisSession(options, deps.log ?? silentLogger);
  await session.connect();
  return {
    description: session.description,
    connections: redisConnectionStore(session),
    v1Connections: redisV1ConnectionStore(session),
    routes: redisRouteStore(session),
    events: redisEventLog(session, options.events),
    feeds: redisFeedStore(session, options.events),
    replicas: redisReplicaRegistry(session),
    async close() {
      session.close();
    },
  };
}

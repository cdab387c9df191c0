/**
 * The Redis store's keys, all under one prefix ("pnsmgr:" by default), so that every replica pointed
 * at the same Redis and prefix shares the same state:
 *
 *   <prefix>connections     hash    connection id -> ConnectionRecord as JSON
 *   <prefix>v1-connections  hash    our v1 path segment id -> V1ConnectionRecord as JSON
 *   <prefix>v1-segments     zset    index of the v1 records by the ids of their connection's path
 *                                   segments: members "<segment id>\0<record id>", all scored 0
 *                                   (read by lex range), kept with each put and delete; readers
 *                                   still check the record (writes of older replicas are not in it)
 *   <prefix>routes          hash    NSE name -> next hop URL
 *   <prefix>events          stream  monitor event log; fields c (connection ids, JSON), p (peer),
 *                                   t (type), d (payload, JSON), a (at, epoch ms), and only when
 *                                   given f (feed key), w (wire: the event as delivered, base64)
 *                                   and e (end: why it went DOWN / was deleted, JSON; older
 *                                   entries have none and read as before)
 *   <prefix>events-trimmed  string  position of the newest entry ever trimmed from the log (absent:
 *                                   none ever was); kept by the append scripts, which trim
 *   <prefix>feeds           hash    feed key -> spec (opaque JSON text)
 *   <prefix>feed-touched    hash    feed key -> when a client stream last touched it (server clock, ms)
 *   <prefix>feed-snapshots  hash    feed key -> {"position": "<ms>-<seq>", "state": "..."} as JSON
 *   <prefix>replicas        zset    replica id scored by its heartbeat's expiry (server clock, ms)
 *   <prefix>lease:<key>     string  holder replica id, with a PX expiry; a feed's lease is
 *                                   <prefix>lease:feed:<feed key> (feedLease)
 */
export interface RedisKeys {
  readonly connections: string;
  readonly v1Connections: string;
  readonly v1Segments: string;
  readonly routes: string;
  readonly events: string;
  readonly eventsTrimmed: string;
  readonly feeds: string;
  readonly feedTouched: string;
  readonly feedSnapshots: string;
  readonly replicas: string;
  lease(name: string): string;
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    connections: `${prefix}connections`,
    v1Connections: `${prefix}v1-connections`,
    v1Segments: `${prefix}v1-segments`,
    routes: `${prefix}routes`,
    events: `${prefix}events`,
    eventsTrimmed: `${prefix}events-trimmed`,
    feeds: `${prefix}feeds`,
    feedTouched: `${prefix}feed-touched`,
    feedSnapshots: `${prefix}feed-snapshots`,
    replicas: `${prefix}replicas`,
    lease: (name: string) => `${prefix}lease:${name}`,
  };
}

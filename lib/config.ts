/**
 * Typed configuration from the environment. The seed's names keep the seed's defaults; pnsmgr's own
 * options are prefixed PNSMGR_. Every option is declared once in OPTIONS (env name, default, what it
 * means, how it is checked); a bad value stops start-up with one line naming the variable.
 */
import { isIP } from "node:net";
import { type HostPort, parseHostPort, parsePort } from "./domains/address.js";
import { type StateOptions, stateOptionsFromEnv } from "./state/state.js";
import { ConfigError, parseDuration, parseDurationOrMs, parseWholeNumber } from "./config-values.js";

export { ConfigError, parseDuration };

export interface Config {
  /** Listen address of the connection plane (the seed's proxy-nsmd). */
  apiAddress: string;
  /** Listen address of the registry plane (the seed's proxy-nsmd-k8s). */
  registryAddress: string;
  /** Port of a remote domain's proxy registry (or NSMRS) when the domain names none. */
  remotePort: number;
  /** The address written into rewritten NSMgr entries: where remote callers reach this proxy. */
  advertisedAddress: string;
  /** The floating registry (NSMRS); registration calls fail with UNAVAILABLE when unset. */
  nsmrsAddress: string | undefined;
  /** This node's name (the seed's localize case). */
  nodeName: string | undefined;
  /** YAML node IP map, watched and reloaded. */
  nodeMapFile: string | undefined;
  /** The local domain's v0 registry (NetworkServiceDiscovery), answering plain-name Finds. */
  localRegistryAddress: string | undefined;
  /** BulkRegisterNSE: failed NSMRS streams in a row before giving up, and the wait between tries. */
  nsmrsReconnectTries: number;
  nsmrsReconnectDelayMs: number;
  /** Deadline given to unary calls whose caller set none. */
  callTimeoutMs: number;
  /** Largest message accepted or sent, either direction. */
  maxMessageBytes: number;
  /** HTTP/2 concurrent streams per connection (a cap against stream floods). */
  maxConcurrentStreams: number;
  /** Open streams (monitor, watch, follow, bulk) one peer address may hold; RESOURCE_EXHAUSTED beyond. */
  maxStreamsPerPeer: number;
  /** Distinct upstream monitor feeds (remote NSMgr + selector) one peer's clients may have open at once. */
  maxFeedsPerPeer: number;
  /** HTTP/2 keepalive: ping a connection after this long without frames; close it when the ping is unanswered. */
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  /** Close a connection with no call open for this long (the client reconnects when it needs to). */
  maxConnectionIdleMs: number;
  /** Messages a stream may have queued for a caller that does not read before it is ended (RESOURCE_EXHAUSTED). */
  maxQueuedMessages: number;
  /** Element trace selection (PNSMGR_TRACE=all or a list of element names). */
  trace: string | undefined;
  /** Serve pnsmgr.admin.Events (the monitor event log) on the listeners. */
  adminEvents: boolean;

  // NSM v1 interdomain (cmd-nsmgr-proxy's names where they apply).
  /** Listen address of the v1 listener (NetworkService, MonitorConnection, v1 registries, health). */
  v1ListenAddress: string;
  /** The URL written into NSE entries this proxy answers, so that NSMgrs call this proxy. */
  v1PublicUrl: string | undefined;
  /** This proxy's path segment name (must be unique per proxy along a path). */
  name: string;
  /** The local domain's v1 registry (tcp://host:port): NSEs are discovered here by name. */
  registryUrl: string | undefined;
  /** Flat YAML map of IPs (internal -> external and external -> itself), watched. */
  mapIpFile: string;
  /** Lifetime of this proxy's path tokens (Go duration, e.g. 10m). */
  maxTokenLifetimeMs: number;
  /** Flat YAML of labels merged into connections and NSE labels (clusterName: ...). */
  clusterInfoFile: string;
  /** DNS server for SRV/A lookups of remote domains (host:port); the system's when unset. */
  dnsServer: string | undefined;
  /** SRV names looked up in a remote domain: <service>.<domain>. */
  registryService: string;
  nsmgrProxyService: string;

  /** A monitor feed's lease: a dead replica's upstream monitor streams are taken over after this. */
  monitorLeaseMs: number;
  /**
   * How long a monitor feed with no client attached keeps running (events still recorded, so a
   * client that comes back through any replica misses nothing). Default 30 s with Redis, 0 in memory.
   */
  monitorLingerMs: number;

  /** Where shared state lives: memory (the embedded default) or Redis (REDIS_URL / Sentinel); see STATE_ENV. */
  state: StateOptions;
}

type Env = Readonly<Record<string, string | undefined>>;

interface Option<K extends keyof Config> {
  key: K;
  env: string;
  default: string | undefined;
  doc: string;
  parse: (value: string, env: string) => Config[K];
}

const text = (value: string) => value;
const optionalText = (value: string) => value;

/** parseHostPort, its complaint reported against the variable. */
function hostPort(value: string, env: string, what?: string, listen?: boolean): HostPort {
  try {
    return parseHostPort(value, what, listen);
  } catch (error: unknown) {
    throw new ConfigError(env, value, (error as Error).message);
  }
}

function listenAddress(value: string, env: string): string {
  hostPort(value, env, "listen address", true);
  return value;
}

function dialAddress(value: string, env: string): string {
  if (hostPort(value, env).host === "") throw new ConfigError(env, value, "needs a host");
  return value;
}

function positiveInt(max: number) {
  return (value: string, env: string): number => parseWholeNumber(value, env, 1, max);
}

/** tcp://host:port (NSM's form) or host:port; returns host:port. */
function nsmListen(value: string, env: string): string {
  return listenAddress(value.replace(/^tcp:\/\//, ""), env);
}

function nsmUrl(value: string, env: string): string {
  const bare = value.replace(/^tcp:\/\//, "");
  dialAddress(bare, env);
  return `tcp://${bare}`;
}

function onOff(value: string, env: string): boolean {
  if (value === "on" || value === "true") return true;
  if (value === "off" || value === "false") return false;
  throw new ConfigError(env, value, "is not on or off");
}

/** node:dns setServers takes an IP (with an optional port), never a name. */
function dnsServer(value: string, env: string): string {
  if (!isIP(hostPort(value, env).host)) throw new ConfigError(env, value, "needs an IP address and port (node:dns cannot use a name)");
  return value;
}

/** A duration ("5s", "500ms") or whole milliseconds, up to a day. */
function durationOrMs(value: string, env: string): number {
  return parseDurationOrMs(value, env, 86_400_000);
}

function durationOrZero(value: string, env: string): number {
  return value === "0" || value === "0s" ? 0 : durationOrMs(value, env);
}

function port(value: string, env: string): number {
  try {
    return parsePort(value, env);
  } catch {
    throw new ConfigError(env, value, "is not a port (1-65535)");
  }
}

/** Every option, in the order the README lists them. */
export const OPTIONS = [
  { key: "apiAddress", env: "PROXY_NSMD_API_ADDRESS", default: ":5006", doc: "listen address of the connection plane (Request, Close, MonitorConnections)", parse: listenAddress },
  { key: "registryAddress", env: "PROXY_NSMD_K8S_ADDRESS", default: ":5005", doc: "listen address of the registry plane (FindNetworkService, RegisterNSE, ClusterInfo)", parse: listenAddress },
  { key: "remotePort", env: "PROXY_NSMD_K8S_REMOTE_PORT", default: "80", doc: "port of a remote domain's proxy registry or NSMRS", parse: port },
  { key: "advertisedAddress", env: "PROXY_NSMD_ADDRESS", default: "pnsmgr-svc:5006", doc: "address written into rewritten NSMgr entries", parse: dialAddress },
  { key: "nsmrsAddress", env: "NSMRS_ADDRESS", default: undefined, doc: "floating registry host:port; unset: registration calls fail with UNAVAILABLE", parse: dialAddress },
  { key: "nodeName", env: "NODE_NAME", default: undefined, doc: "this node's name (localize case)", parse: optionalText },
  { key: "nodeMapFile", env: "PNSMGR_NODE_MAP_FILE", default: undefined, doc: "YAML node IP map (nodes: [{name, internalIP, externalIP}]), watched", parse: text },
  { key: "localRegistryAddress", env: "PNSMGR_LOCAL_REGISTRY", default: undefined, doc: "local v0 registry (NetworkServiceDiscovery) host:port for plain-name Finds", parse: dialAddress },
  { key: "nsmrsReconnectTries", env: "PNSMGR_NSMRS_RECONNECT_TRIES", default: "10", doc: "BulkRegisterNSE: failed NSMRS streams in a row before the client's stream ends", parse: positiveInt(1000) },
  { key: "nsmrsReconnectDelayMs", env: "PNSMGR_NSMRS_RECONNECT_DELAY_MS", default: "1000", doc: "BulkRegisterNSE: wait before reconnecting to NSMRS", parse: positiveInt(600_000) },
  { key: "callTimeoutMs", env: "PNSMGR_CALL_TIMEOUT_MS", default: "15000", doc: "deadline for unary calls whose caller set none", parse: positiveInt(3_600_000) },
  { key: "maxMessageBytes", env: "PNSMGR_MAX_MESSAGE_BYTES", default: String(4 * 1024 * 1024), doc: "largest message received or sent", parse: positiveInt(1 << 30) },
  { key: "maxConcurrentStreams", env: "PNSMGR_MAX_CONCURRENT_STREAMS", default: "1000", doc: "HTTP/2 concurrent streams per connection", parse: positiveInt(1 << 20) },
  { key: "maxStreamsPerPeer", env: "PNSMGR_MAX_STREAMS_PER_PEER", default: "1000", doc: "open streams (monitor, watch, follow, bulk) per peer address; RESOURCE_EXHAUSTED beyond", parse: positiveInt(1 << 20) },
  { key: "maxFeedsPerPeer", env: "PNSMGR_MAX_FEEDS_PER_PEER", default: "64", doc: "distinct upstream monitor feeds (remote NSMgr + selector) one peer address may have open; RESOURCE_EXHAUSTED beyond", parse: positiveInt(1 << 20) },
  { key: "keepaliveTimeMs", env: "PNSMGR_KEEPALIVE_TIME", default: "30s", doc: "HTTP/2 ping after this long without frames (also bounds a connection that never completes its preface)", parse: durationOrMs },
  { key: "keepaliveTimeoutMs", env: "PNSMGR_KEEPALIVE_TIMEOUT", default: "10s", doc: "close a connection whose ping is not answered within this", parse: durationOrMs },
  { key: "maxConnectionIdleMs", env: "PNSMGR_MAX_CONNECTION_IDLE", default: "5m", doc: "close a connection with no call open for this long", parse: durationOrMs },
  { key: "maxQueuedMessages", env: "PNSMGR_MAX_QUEUED_MESSAGES", default: "10000", doc: "messages a stream may have queued for a caller that does not read; RESOURCE_EXHAUSTED beyond", parse: positiveInt(1 << 24) },
  { key: "trace", env: "PNSMGR_TRACE", default: undefined, doc: "trace elements: all, or a comma list of element names", parse: optionalText },
  { key: "adminEvents", env: "PNSMGR_ADMIN_EVENTS", default: "on", doc: "serve pnsmgr.admin.Events (read the event log) on the listeners: on | off", parse: onOff },
  { key: "v1ListenAddress", env: "NSM_LISTEN_ON", default: "tcp://:5004", doc: "v1 listener: NetworkService, MonitorConnection, v1 registries, health", parse: nsmListen },
  { key: "v1PublicUrl", env: "PNSMGR_PUBLIC_URL", default: undefined, doc: "URL put into NSE entries so NSMgrs reach this proxy (tcp://host:port); default: the v1 listener's address", parse: nsmUrl },
  { key: "name", env: "NSM_NAME", default: "nsmgr-proxy", doc: "this proxy's path segment name (unique per proxy)", parse: text },
  { key: "registryUrl", env: "NSM_REGISTRY_URL", default: undefined, doc: "local v1 registry (tcp://host:port) where NSEs are discovered by name", parse: nsmUrl },
  { key: "mapIpFile", env: "NSM_MAP_IP_FILE_PATH", default: "map-ip.yaml", doc: "flat YAML IP map (internal -> external), watched", parse: text },
  { key: "maxTokenLifetimeMs", env: "NSM_MAX_TOKEN_LIFETIME", default: "10m", doc: "lifetime of this proxy's path tokens", parse: parseDuration },
  { key: "clusterInfoFile", env: "PNSMGR_CLUSTER_INFO_FILE", default: "/etc/clusterinfo/config.yaml", doc: "flat YAML labels merged into connections and NSE labels", parse: text },
  { key: "dnsServer", env: "PNSMGR_DNS_SERVER", default: undefined, doc: "DNS server ip:port for remote domain lookups; system resolver when unset", parse: dnsServer },
  { key: "registryService", env: "PNSMGR_REGISTRY_SERVICE", default: "registry.nsm-system", doc: "SRV name of a domain's registry: <this>.<domain>", parse: text },
  { key: "nsmgrProxyService", env: "PNSMGR_NSMGR_PROXY_SERVICE", default: "nsmgr-proxy.nsm-system", doc: "SRV name of a domain's proxy: <this>.<domain>", parse: text },
  { key: "monitorLeaseMs", env: "PNSMGR_MONITOR_LEASE", default: "5s", doc: "lease of a monitor feed (one upstream monitor stream, run by one replica); a dead replica's feeds are taken over after it", parse: durationOrMs },
  { key: "monitorLingerMs", env: "PNSMGR_MONITOR_LINGER", default: undefined, doc: "how long a monitor feed with no client attached keeps running; default 30s with Redis, 0 in memory", parse: durationOrZero },
] as const satisfies readonly Option<keyof Config>[];

/** Reads the configuration; an empty variable means its default, as in the seed. */
export function loadConfig(env: Env = process.env): Config {
  const config: Partial<Record<keyof Config, unknown>> = {};
  // The state options (REDIS_URL, sentinels, event log bounds) are declared in lib/state/state.ts.
  for (const option of OPTIONS as readonly Option<keyof Config>[]) {
    const raw = env[option.env];
    const value = raw === undefined || raw === "" ? option.default : raw;
    config[option.key] = value === undefined ? undefined : option.parse(value, option.env);
  }
  const state = stateOptionsFromEnv(env);
  config.state = state;
  // Replicas need a linger longer than a tick, or a feed with clients elsewhere would be ended.
  config.monitorLingerMs ??= state.kind === "redis" ? 30_000 : 0;
  return config as Config;
}

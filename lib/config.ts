/**
 * Typed configuration from the environment. The seed's names keep the seed's defaults; pnsmgr's own
 * options are prefixed PNSMGR_. Every option is declared once in OPTIONS (env name, default, what it
 * means, how it is checked); a bad value stops start-up with one line naming the variable.
 */
import { isIP } from "node:net";
import { type HostPort, parseHostPort, parsePort, unixAddress } from "./domains/address.js";
import { type StateOptions, stateOptionsFromEnv } from "./state/state.js";
import { parseDialRules } from "./guard/dial-rules.js";
import { NODE_SOURCES, type NodeSource } from "./nodes/node-sources.js";
import { ConfigError, parseDuration, parseDurationOrMs, parseWholeNumber } from "./config-values.js";
import { parseSpiffeId } from "./identity/spiffe-id.js";
import { type Level, type LogFormat, parseLevel } from "./log.js";
import { parseListenOn } from "./listen-on.js";

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
  /** Where node IPs come from: the files (node map, map-ip.yaml) or the Kubernetes API's Nodes. */
  nodeSource: NodeSource;
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
  /** NSM_LOG_LEVEL: the configured level (SIGUSR1 turns it to trace, SIGUSR2 back to this). */
  logLevel: Level;
  /** Log lines as readable text (default) or pino JSON. */
  logFormat: LogFormat;
  /** Prometheus scrape endpoint (host:port); unset: no metrics endpoint. */
  metricsListenAddress: string | undefined;
  /** TELEMETRY: export traces and metrics over OTLP gRPC (NSM's switch). */
  telemetry: boolean;
  /** The OpenTelemetry collector's OTLP gRPC address (host:port). */
  openTelemetryEndpoint: string;
  /** How often metrics are exported over OTLP. */
  metricsExportIntervalMs: number;
  /** NSM_PPROF_ENABLED: serve CPU profiles and heap snapshots over HTTP. */
  profilingEnabled: boolean;
  /** Where the profiling endpoint listens (loopback by default). */
  profilingListenAddress: string;
  /** How long start-up waits for the state store (Redis), retrying with backoff; 0 waits as long as it takes. */
  stateStartupTimeoutMs: number;
  /** NSM_LISTEN_ON's addresses after the first TCP one (v1ListenAddress): more TCP ports or unix:///path sockets. */
  v1ExtraListenAddresses: readonly string[];
  /**
   * Where pnsmgr.admin.Events (the monitor event log) is served: "admin" only on the admin listener,
   * "public" also on the seed and v1 listeners (which other domains reach), "off" nowhere.
   */
  adminEvents: "admin" | "public" | "off";
  /** The admin listener (host:port or unix:///path), loopback by default. */
  adminListenAddress: string;

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
  /** The SPIFFE Workload API socket (SPIRE agent): secured mode, mTLS and ES256 tokens on v1. */
  spiffeEndpointSocket: string | undefined;
  /** Plaintext v1 and HS256 sandbox tokens; only without SPIFFE_ENDPOINT_SOCKET, never by default. */
  insecure: boolean;
  /** mTLS peers allowed (trust domains `spiffe://td`, IDs `spiffe://td/path`); empty: any of the own or a federated trust domain. */
  tlsAuthorize: string[];
  /** Put the seed's v0 listeners (5005/5006) on mTLS too (secured mode only). */
  v0Tls: boolean;
  /** How long start-up waits for the first X.509 SVID. */
  svidTimeoutMs: number;
  /** Flat YAML of labels merged into connections and NSE labels (clusterName: ...). */
  clusterInfoFile: string;
  /** DNS server for SRV/A lookups of remote domains (host:port); the system's when unset. */
  dnsServer: string | undefined;
  /** How long SRV answers are cached, and the ceiling on cached A/AAAA TTLs; 0 turns the DNS cache off. */
  dnsCacheTtlMs: number;
  /** A remote registry out of reach: Finds answered from its last good answer this long, watches reconnected; 0 turns it off. */
  registryStaleForMs: number;
  /** Destination allowlist (domains, CIDRs, ports): when set, the only destinations dialled for callers. */
  dialAllow: readonly string[] | undefined;
  /** Extra destination deny rules, same grammar. */
  dialDeny: readonly string[] | undefined;
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

/** NSM_LISTEN_ON: a list of tcp:// and unix:// URLs; its first TCP address (the rest: v1ExtraListenAddresses). */
function nsmListenList(value: string, env: string): string {
  return parseListenOn(value, env).main;
}

function logLevel(value: string, env: string): Level {
  const level = parseLevel(value);
  if (level === undefined) throw new ConfigError(env, value, "is not one of TRACE, DEBUG, INFO, WARN, ERROR");
  return level;
}

function logFormat(value: string, env: string): LogFormat {
  if (value === "text" || value === "json") return value;
  throw new ConfigError(env, value, "is not text or json");
}

function nsmUrl(value: string, env: string): string {
  const bare = value.replace(/^tcp:\/\//, "");
  dialAddress(bare, env);
  return `tcp://${bare}`;
}

function nodeSource(value: string, env: string): NodeSource {
  const found = NODE_SOURCES.find(s => s === value);
  if (found === undefined) throw new ConfigError(env, value, `is not one of ${NODE_SOURCES.join(", ")}`);
  return found;
}

function onOff(value: string, env: string): boolean {
  if (value === "on" || value === "true" || (env === "TELEMETRY" && value === "opentelemetry")) return true;
  if (value === "off" || value === "false") return false;
  throw new ConfigError(env, value, "is not on or off");
}

function adminEvents(value: string, env: string): Config["adminEvents"] {
  if (value === "admin" || value === "on" || value === "true") return "admin";
  if (value === "public") return "public";
  if (value === "off" || value === "false") return "off";
  throw new ConfigError(env, value, "is not admin, public or off");
}

/** host:port, or unix:///path (unix:/path) for a socket. */
function adminListen(value: string, env: string): string {
  if (value.startsWith("unix:")) {
    const address = unixAddress(value);
    if (address === undefined) throw new ConfigError(env, value, "needs an absolute path: unix:///run/pnsmgr/admin.sock");
    return address;
  }
  return listenAddress(value, env);
}

function dialRules(value: string, env: string): string[] {
  try {
    return parseDialRules(value).map(rule => rule.text);
  } catch (error: unknown) {
    throw new ConfigError(env, value, (error as Error).message);
  }
}

/** SPIFFE_ENDPOINT_SOCKET as NSM and go-spiffe write it: unix:///path (unix:/path and a bare path accepted). */
function unixSocket(value: string, env: string): string {
  const address = unixAddress(value, true);
  if (address === undefined) throw new ConfigError(env, value, "needs a unix socket path (unix:///run/spire/sockets/agent.sock)");
  return address;
}

function spiffeIdList(value: string, env: string): string[] {
  const entries = value.split(",").map(e => e.trim()).filter(e => e !== "");
  for (const entry of entries) {
    try {
      parseSpiffeId(entry);
    } catch (error: unknown) {
      throw new ConfigError(env, value, (error as Error).message);
    }
  }
  return entries;
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
  { key: "nodeSource", env: "PNSMGR_NODE_SOURCE", default: "file", doc: "where node IPs come from: file (PNSMGR_NODE_MAP_FILE, NSM_MAP_IP_FILE_PATH) or kubernetes (a Node informer feeding both maps)", parse: nodeSource },
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
  { key: "logLevel", env: "NSM_LOG_LEVEL", default: "INFO", doc: "log level: TRACE, DEBUG, INFO, WARN, ERROR; SIGUSR1 switches to TRACE, SIGUSR2 back", parse: logLevel },
  { key: "logFormat", env: "PNSMGR_LOG_FORMAT", default: "text", doc: "log lines: text (one readable line per event) or json (pino)", parse: logFormat },
  { key: "metricsListenAddress", env: "PNSMGR_METRICS_LISTEN_ON", default: undefined, doc: "Prometheus endpoint host:port (GET /metrics); unset: off", parse: nsmListen },
  { key: "telemetry", env: "TELEMETRY", default: "false", doc: "export traces and metrics over OTLP gRPC: true | false", parse: onOff },
  { key: "openTelemetryEndpoint", env: "NSM_OPEN_TELEMETRY_ENDPOINT", default: "otel-collector.observability.svc.cluster.local:4317", doc: "OTLP gRPC collector host:port", parse: dialAddress },
  { key: "metricsExportIntervalMs", env: "NSM_METRICS_EXPORT_INTERVAL", default: "10s", doc: "interval between OTLP metric exports", parse: durationOrMs },
  { key: "profilingEnabled", env: "NSM_PPROF_ENABLED", default: "false", doc: "serve CPU profiles and heap snapshots (GET /debug/cpu?seconds=N, /debug/heap): true | false", parse: onOff },
  { key: "profilingListenAddress", env: "NSM_PPROF_LISTEN_ON", default: "localhost:6060", doc: "profiling endpoint host:port (keep it on loopback)", parse: nsmListen },
  { key: "stateStartupTimeoutMs", env: "PNSMGR_STATE_STARTUP_TIMEOUT", default: "0", doc: "how long start-up waits for Redis, retrying with backoff and logging each try; 0: as long as it takes", parse: durationOrZero },
  { key: "adminEvents", env: "PNSMGR_ADMIN_EVENTS", default: "admin", doc: "where pnsmgr.admin.Events (read the event log) is served: admin (only PNSMGR_ADMIN_LISTEN_ON) | public (also the seed and v1 listeners) | off", parse: adminEvents },
  { key: "adminListenAddress", env: "PNSMGR_ADMIN_LISTEN_ON", default: "127.0.0.1:5007", doc: "admin listener (pnsmgr.admin.Events, health): host:port or unix:///path", parse: adminListen },
  { key: "v1ListenAddress", env: "NSM_LISTEN_ON", default: "tcp://:5004", doc: "v1 listener(s): tcp://host:port or unix:///path, comma-separated (the first TCP one is the main address); NetworkService, MonitorConnection, v1 registries, health", parse: nsmListenList },
  { key: "v1PublicUrl", env: "PNSMGR_PUBLIC_URL", default: undefined, doc: "URL put into NSE entries so NSMgrs reach this proxy (tcp://host:port); default: the v1 listener's address", parse: nsmUrl },
  { key: "name", env: "NSM_NAME", default: "nsmgr-proxy", doc: "this proxy's path segment name (unique per proxy)", parse: text },
  { key: "registryUrl", env: "NSM_REGISTRY_URL", default: undefined, doc: "local v1 registry (tcp://host:port) where NSEs are discovered by name", parse: nsmUrl },
  { key: "mapIpFile", env: "NSM_MAP_IP_FILE_PATH", default: "map-ip.yaml", doc: "flat YAML IP map (internal -> external), watched", parse: text },
  { key: "maxTokenLifetimeMs", env: "NSM_MAX_TOKEN_LIFETIME", default: "10m", doc: "lifetime of this proxy's path tokens", parse: parseDuration },
  { key: "spiffeEndpointSocket", env: "SPIFFE_ENDPOINT_SOCKET", default: undefined, doc: "SPIFFE Workload API socket (unix:///path) of the SPIRE agent: mTLS on v1 and ES256 path tokens checked by NSM's policies", parse: unixSocket },
  { key: "insecure", env: "PNSMGR_INSECURE", default: "false", doc: "true: plaintext v1 and HS256 sandbox tokens, nothing checked (demos, tests); only without SPIFFE_ENDPOINT_SOCKET", parse: onOff },
  { key: "tlsAuthorize", env: "PNSMGR_TLS_AUTHORIZE", default: "", doc: "mTLS peers allowed: comma list of trust domains (spiffe://td) and IDs (spiffe://td/path); empty: any ID of the own or a federated trust domain", parse: spiffeIdList },
  { key: "v0Tls", env: "PNSMGR_V0_TLS", default: "off", doc: "on: the seed's listeners (5005/5006) serve mTLS too (needs SPIFFE_ENDPOINT_SOCKET)", parse: onOff },
  { key: "svidTimeoutMs", env: "PNSMGR_SVID_TIMEOUT", default: "30s", doc: "how long start-up waits for the first X.509 SVID from the Workload API", parse: durationOrMs },
  { key: "clusterInfoFile", env: "PNSMGR_CLUSTER_INFO_FILE", default: "/etc/clusterinfo/config.yaml", doc: "flat YAML labels merged into connections and NSE labels", parse: text },
  { key: "dnsServer", env: "PNSMGR_DNS_SERVER", default: undefined, doc: "DNS server ip:port for remote domain lookups; system resolver when unset", parse: dnsServer },
  { key: "dnsCacheTtlMs", env: "PNSMGR_DNS_CACHE_TTL", default: "30s", doc: "DNS cache: SRV answers kept this long (node:dns reports no SRV TTL), A/AAAA for their TTL up to this; 0 turns it off", parse: durationOrZero },
  { key: "registryStaleForMs", env: "PNSMGR_REGISTRY_STALE_FOR", default: "5m", doc: "a remote domain's registry out of reach (UNAVAILABLE, DEADLINE_EXCEEDED): Finds answered from its last good answer up to this old, watch streams reconnected with backoff this long; 0 turns it off", parse: durationOrZero },
  { key: "dialAllow", env: "PNSMGR_DIAL_ALLOW", default: undefined, doc: "destination allowlist (CIDR, IP, name, *.suffix, * with optional :port or :low-high), comma list; when set the only way out", parse: dialRules },
  { key: "dialDeny", env: "PNSMGR_DIAL_DENY", default: undefined, doc: "extra destination deny rules, same grammar as PNSMGR_DIAL_ALLOW", parse: dialRules },
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
  const listenOn = env.NSM_LISTEN_ON;
  config.v1ExtraListenAddresses = listenOn === undefined || listenOn === "" ? [] : parseListenOn(listenOn, "NSM_LISTEN_ON").extra;
  const state = stateOptionsFromEnv(env);
  config.state = state;
  // Replicas need a linger longer than a tick, or a feed with clients elsewhere would be ended.
  config.monitorLingerMs ??= state.kind === "redis" ? 30_000 : 0;
  return config as Config;
}

/**
 * Secured (SPIFFE) or insecure mode, and nothing in between: plaintext v1 and HS256 tokens only
 * when an operator says so. Throws a ConfigError naming both settings otherwise.
 */
export function securityMode(config: Pick<Config, "spiffeEndpointSocket" | "insecure" | "v0Tls">): "secured" | "insecure" {
  if (config.spiffeEndpointSocket !== undefined && config.insecure) {
    throw new ConfigError("PNSMGR_INSECURE", "true", "contradicts SPIFFE_ENDPOINT_SOCKET: set one of SPIFFE_ENDPOINT_SOCKET (secured) or PNSMGR_INSECURE=true (plaintext)");
  }
  if (config.spiffeEndpointSocket !== undefined) return "secured";
  if (config.insecure) {
    if (config.v0Tls) throw new ConfigError("PNSMGR_V0_TLS", "on", "needs SPIFFE_ENDPOINT_SOCKET (mTLS comes from the SPIFFE identity)");
    return "insecure";
  }
  throw new ConfigError("SPIFFE_ENDPOINT_SOCKET", "", "is unset: set SPIFFE_ENDPOINT_SOCKET (the SPIRE agent's Workload API socket) for mTLS and ES256 tokens, or PNSMGR_INSECURE=true for plaintext v1 with HS256 sandbox tokens");
}

/**
 * Typed configuration from the environment. The seed's names keep the seed's defaults; pnsmgr's own
 * options are prefixed PNSMGR_. Every option is declared once in OPTIONS (env name, default, what it
 * means, how it is checked); a bad value stops start-up with one line naming the variable.
 */
import { parseHostPort, parsePort } from "./domains/address.js";

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
  /** Element trace selection (PNSMGR_TRACE=all or a list of element names). */
  trace: string | undefined;
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

function listenAddress(value: string, env: string): string {
  try {
    parseHostPort(value, "listen address", true);
    return value;
  } catch (error: unknown) {
    throw new ConfigError(env, value, (error as Error).message);
  }
}

function dialAddress(value: string, env: string): string {
  const { host } = (() => {
    try {
      return parseHostPort(value);
    } catch (error: unknown) {
      throw new ConfigError(env, value, (error as Error).message);
    }
  })();
  if (host === "") throw new ConfigError(env, value, "needs a host");
  return value;
}

function positiveInt(max: number) {
  return (value: string, env: string): number => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= 1 && n <= max)) throw new ConfigError(env, value, `is not a whole number from 1 to ${max}`);
    return n;
  };
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
  { key: "trace", env: "PNSMGR_TRACE", default: undefined, doc: "trace elements: all, or a comma list of element names", parse: optionalText },
] as const satisfies readonly Option<keyof Config>[];

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly env: string,
    readonly value: string,
    reason: string,
  ) {
    super(`${env}=${JSON.stringify(value)} ${reason}`);
  }
}

/** Reads the configuration; an empty variable means its default, as in the seed. */
export function loadConfig(env: Env = process.env): Config {
  const config: Partial<Record<keyof Config, unknown>> = {};
  for (const option of OPTIONS as readonly Option<keyof Config>[]) {
    const raw = env[option.env];
    const value = raw === undefined || raw === "" ? option.default : raw;
    config[option.key] = value === undefined ? undefined : option.parse(value, option.env);
  }
  return config as Config;
}

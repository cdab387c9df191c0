/**
 * The configuration keeps the seed's variable names and defaults; a bad value stops start-up with a
 * ConfigError whose one-line message names the variable.
 */
import test from "ava";
import { ConfigError, OPTIONS, loadConfig } from "../../lib/config.js";

test("defaults are the seed's", t => {
  const config = loadConfig({});
  t.like(config, {
    apiAddress: ":5006",
    registryAddress: ":5005",
    remotePort: 80,
    advertisedAddress: "pnsmgr-svc:5006",
  });
  t.is(config.nsmrsAddress, undefined);
  t.is(config.nodeName, undefined);
  t.is(config.nodeMapFile, undefined);
  t.is(config.localRegistryAddress, undefined);
});

test("the seed's variables map to the seed's defaults in OPTIONS", t => {
  const defaults = Object.fromEntries(OPTIONS.map(o => [o.env, o.default]));
  t.like(defaults, {
    PROXY_NSMD_API_ADDRESS: ":5006",
    PROXY_NSMD_K8S_ADDRESS: ":5005",
    PROXY_NSMD_K8S_REMOTE_PORT: "80",
    PROXY_NSMD_ADDRESS: "pnsmgr-svc:5006",
  });
  t.is(defaults.NSMRS_ADDRESS, undefined);
  t.true("NSMRS_ADDRESS" in defaults);
  t.true("NODE_NAME" in defaults);
});

test("every option has a unique variable and a doc", t => {
  const names = OPTIONS.map(o => o.env);
  t.is(new Set(names).size, names.length);
  for (const option of OPTIONS) {
    t.regex(option.env, /^[A-Z][A-Z0-9_]*$/);
    t.true(option.doc.length > 0, `${option.env} has no doc`);
  }
});

test("an empty variable means its default", t => {
  const defaults = loadConfig({});
  for (const option of OPTIONS) {
    t.deepEqual(loadConfig({ [option.env]: "" })[option.key], defaults[option.key], option.env);
  }
});

test("set values are read", t => {
  const config = loadConfig({
    PROXY_NSMD_API_ADDRESS: "0.0.0.0:6006",
    PROXY_NSMD_K8S_ADDRESS: "127.0.0.1:0",
    PROXY_NSMD_K8S_REMOTE_PORT: "5005",
    PROXY_NSMD_ADDRESS: "203.0.113.9:5006",
    NSMRS_ADDRESS: "nsmrs.example.org:80",
    NODE_NAME: "node-1",
    PNSMGR_NODE_MAP_FILE: "/etc/pnsmgr/nodes.yaml",
    PNSMGR_LOCAL_REGISTRY: "127.0.0.1:5000",
    PNSMGR_CALL_TIMEOUT_MS: "2500",
    PNSMGR_MAX_MESSAGE_BYTES: "1024",
    PNSMGR_MAX_CONCURRENT_STREAMS: "10",
    PNSMGR_TRACE: "all",
  });
  t.like(config, {
    apiAddress: "0.0.0.0:6006",
    registryAddress: "127.0.0.1:0",
    remotePort: 5005,
    advertisedAddress: "203.0.113.9:5006",
    nsmrsAddress: "nsmrs.example.org:80",
    nodeName: "node-1",
    nodeMapFile: "/etc/pnsmgr/nodes.yaml",
    localRegistryAddress: "127.0.0.1:5000",
    callTimeoutMs: 2500,
    maxMessageBytes: 1024,
    maxConcurrentStreams: 10,
    trace: "all",
  });
});

test("IPv6 addresses in brackets are accepted", t => {
  t.is(loadConfig({ PROXY_NSMD_API_ADDRESS: "[::1]:5006" }).apiAddress, "[::1]:5006");
  t.is(loadConfig({ PROXY_NSMD_K8S_ADDRESS: "[::]:0" }).registryAddress, "[::]:0");
  t.is(loadConfig({ PROXY_NSMD_ADDRESS: "[2001:db8::1]:5006" }).advertisedAddress, "[2001:db8::1]:5006");
  t.is(loadConfig({ NSMRS_ADDRESS: "[2001:db8::2]:80" }).nsmrsAddress, "[2001:db8::2]:80");
});

const LISTEN = ["PROXY_NSMD_API_ADDRESS", "PROXY_NSMD_K8S_ADDRESS"];
const DIAL = ["PROXY_NSMD_ADDRESS", "NSMRS_ADDRESS", "PNSMGR_LOCAL_REGISTRY"];
const COUNTS = ["PNSMGR_CALL_TIMEOUT_MS", "PNSMGR_MAX_MESSAGE_BYTES", "PNSMGR_MAX_CONCURRENT_STREAMS", "PNSMGR_MAX_STREAMS_PER_PEER", "PNSMGR_MAX_FEEDS_PER_PEER"];

const BAD: [env: string, value: string][] = [
  ...["abc", "0", "70000", "-1", "80.5", " 80"].map(v => ["PROXY_NSMD_K8S_REMOTE_PORT", v] as [string, string]),
  ...LISTEN.flatMap(env => ["nohost", "::1:5", ":abc", ":70000", "[10.0.0.1]:5006", "[::1]"].map(v => [env, v] as [string, string])),
  ...DIAL.flatMap(env => ["nohost", "::1:5", ":5006", "host:0", "host:70000"].map(v => [env, v] as [string, string])),
  ...COUNTS.flatMap(env => ["0", "-5", "1.5", "abc"].map(v => [env, v] as [string, string])),
  ["PNSMGR_CALL_TIMEOUT_MS", "3600001"],
  ...["PNSMGR_DIAL_ALLOW", "PNSMGR_DIAL_DENY"].flatMap(env => ["127.1", "10.0.0.0/33", "0xa9fea9fe/32", "*.", "host:0", "a b"].map(v => [env, v] as [string, string])),
  ["PNSMGR_ADMIN_EVENTS", "yes"],
  ["PNSMGR_ADMIN_LISTEN_ON", "unix:relative.sock"],
  ["PNSMGR_ADMIN_LISTEN_ON", "nohost"],
  ["PNSMGR_DNS_CACHE_TTL", "soon"],
  ["PNSMGR_NODE_SOURCE", "k8s"],
  ["PNSMGR_NODE_SOURCE", "File"],
];

test("destination rules, the admin listener and the DNS cache: defaults and set values", t => {
  const defaults = loadConfig({});
  t.is(defaults.dialAllow, undefined);
  t.is(defaults.dialDeny, undefined);
  t.is(defaults.adminEvents, "admin");
  t.is(defaults.adminListenAddress, "127.0.0.1:5007");
  t.is(defaults.dnsCacheTtlMs, 30_000);
  const set = loadConfig({
    PNSMGR_DIAL_ALLOW: "10.0.0.0/8, *.domain2.example:5001-5010,[fd00::/8]:443",
    PNSMGR_DIAL_DENY: "10.0.0.9",
    PNSMGR_ADMIN_EVENTS: "public",
    PNSMGR_ADMIN_LISTEN_ON: "unix:///run/pnsmgr/admin.sock",
    PNSMGR_DNS_CACHE_TTL: "0",
  });
  t.deepEqual(set.dialAllow, ["10.0.0.0/8", "*.domain2.example:5001-5010", "[fd00::/8]:443"]);
  t.deepEqual(set.dialDeny, ["10.0.0.9"]);
  t.is(set.adminEvents, "public");
  t.is(set.adminListenAddress, "unix:///run/pnsmgr/admin.sock");
  t.is(set.dnsCacheTtlMs, 0);
  t.is(loadConfig({ PNSMGR_ADMIN_EVENTS: "on" }).adminEvents, "admin", "the old 'on' keeps the log off the public listeners");
  t.is(loadConfig({ PNSMGR_ADMIN_EVENTS: "off" }).adminEvents, "off");
});

for (const [env, value] of BAD) {
  test(`${env}=${JSON.stringify(value)} is refused with a message naming ${env}`, t => {
    const error = t.throws(() => loadConfig({ [env]: value }), { instanceOf: ConfigError });
    t.is(error?.env, env);
    t.is(error?.value, value);
    t.true(error?.message.startsWith(`${env}=`), error?.message);
    t.false(error?.message.includes("\n"), "one line");
  });
}

test("PNSMGR_NODE_SOURCE: file by default, or kubernetes", t => {
  t.is(loadConfig({}).nodeSource, "file");
  t.is(loadConfig({ PNSMGR_NODE_SOURCE: "kubernetes" }).nodeSource, "kubernetes");
  t.regex(t.throws(() => loadConfig({ PNSMGR_NODE_SOURCE: "api" }))?.message ?? "", /^PNSMGR_NODE_SOURCE="api" is not one of file, kubernetes$/);
});

test("among good variables the bad one is named", t => {
  const error = t.throws(() => loadConfig({ PROXY_NSMD_API_ADDRESS: ":5006", PNSMGR_CALL_TIMEOUT_MS: "0" }), { instanceOf: ConfigError });
  t.is(error?.env, "PNSMGR_CALL_TIMEOUT_MS");
});

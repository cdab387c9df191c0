/**
 * The Redis store with credentials and TLS, against real redis-server processes: a server with
 * requirepass and an ACL user limited to the `pnsmgr:` keys; a TLS server that demands client
 * certificates (CA, server and client certificates made here with openssl); a Sentinel with its own
 * requirepass in front of a master with a password. Options come from the environment as operators
 * set them (PNSMGR_REDIS_*), and no password appears in the store's description or errors.
 */
import test, { type ExecutionContext } from "ava";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { ConfigError } from "../../../lib/config-values.js";
import { type RedisStateOptions, type StateStore, createStateStore, stateOptionsFromEnv } from "../../../lib/state/state.js";
import { redisCommand, startRedis, startSentinel, stopAllRedis } from "../../support/redis.js";
import { freePort } from "../../support/ports.js";

const ADMIN_PASSWORD = "admin-secret-1f3a";
const USER_PASSWORD = "pnsmgr-secret-9c2e";

test.after.always(() => stopAllRedis());

async function open(t: ExecutionContext, env: Record<string, string>): Promise<StateStore> {
  const options = stateOptionsFromEnv(env) as RedisStateOptions;
  const store = await createStateStore({ ...options, startupTimeoutMs: 5000 });
  t.teardown(() => store.close());
  return store;
}

async function refusal(t: ExecutionContext, env: Record<string, string>): Promise<ProxyError> {
  const options = stateOptionsFromEnv(env) as RedisStateOptions;
  const error = await t.throwsAsync(createStateStore({ ...options, startupTimeoutMs: 2000, connectTimeoutMs: 500 }));
  return error as ProxyError;
}

/** Writes and reads back through the store: a route, and an event in the log. */
async function roundTrip(t: ExecutionContext, store: StateStore): Promise<void> {
  await store.routes.set("nse@domain-2", "tcp://10.0.0.9:5004");
  t.is(await store.routes.get("nse@domain-2"), "tcp://10.0.0.9:5004");
}

function noSecrets(t: ExecutionContext, text: string): void {
  for (const secret of [ADMIN_PASSWORD, USER_PASSWORD, "sentinel-secret-77", "master-secret-42"]) t.false(text.includes(secret), `no secret in: ${text}`);
}

test.serial("requirepass and an ACL user limited to the pnsmgr: keys: the user works on its prefix only; wrong password UNAVAILABLE", async t => {
  const redis = await startRedis({ args: ["--requirepass", ADMIN_PASSWORD, "--user", "pnsmgr", "on", `>${USER_PASSWORD}`, "~pnsmgr:*", "&*", "+@all"] });
  t.true(String(await redisCommand(redis.port, "PING")).includes("NOAUTH"), "the server wants a password");

  const store = await open(t, { REDIS_URL: redis.url, PNSMGR_REDIS_USERNAME: "pnsmgr", PNSMGR_REDIS_PASSWORD: USER_PASSWORD });
  await roundTrip(t, store);
  t.is(store.description, `redis ${redis.address} (auth)`);

  // The URL's userinfo keeps working (and wins over the variables).
  const byUrl = await open(t, { REDIS_URL: `redis://pnsmgr:${USER_PASSWORD}@${redis.address}`, PNSMGR_REDIS_PASSWORD: "not-this-one" });
  await roundTrip(t, byUrl);
  noSecrets(t, byUrl.description);

  // requirepass alone (the default user).
  await roundTrip(t, await open(t, { REDIS_URL: redis.url, PNSMGR_REDIS_PASSWORD: ADMIN_PASSWORD }));

  // The ACL keeps the user to its prefix.
  const elsewhere = await open(t, { REDIS_URL: redis.url, PNSMGR_REDIS_USERNAME: "pnsmgr", PNSMGR_REDIS_PASSWORD: USER_PASSWORD, PNSMGR_REDIS_PREFIX: "other:" });
  const denied = await t.throwsAsync(elsewhere.routes.set("nse@domain-2", "tcp://10.0.0.9:5004"));
  t.is((denied as ProxyError).code, Code.UNAVAILABLE);
  t.regex(denied?.message ?? "", /NOPERM/);

  const wrong = await refusal(t, { REDIS_URL: redis.url, PNSMGR_REDIS_USERNAME: "pnsmgr", PNSMGR_REDIS_PASSWORD: ADMIN_PASSWORD });
  t.is(wrong.code, Code.UNAVAILABLE);
  t.regex(wrong.message, /WRONGPASS|invalid username-password/);
  noSecrets(t, wrong.message);
  const none = await refusal(t, { REDIS_URL: redis.url });
  t.regex(none.message, /NOAUTH/);
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makeCertificates(): { dir: string; ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string; otherCa: string } {
  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-redis-tls-"));
  const path = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => {
    try {
      execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    } catch (error: unknown) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error("the TLS test makes its certificates with the openssl command: apt-get install openssl");
      throw error;
    }
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=pnsmgr test CA");
  ssl("req", "-x509", ...ec, "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "1", "-subj", "/CN=another CA");
  writeFileSync(path("server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  writeFileSync(path("client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const [name, ext] of [["server", "server.ext"], ["client", "client.ext"]] as const) {
    ssl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    ssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", "1", "-extfile", ext);
  }
  return { dir, ca: path("ca.crt"), serverCert: path("server.crt"), serverKey: path("server.key"), clientCert: path("client.crt"), clientKey: path("client.key"), otherCa: path("other-ca.crt") };
}

test.serial("TLS (rediss://) with a CA and a client certificate; the server's CA is checked and a client without a certificate is refused", async t => {
  const certs = makeCertificates();
  t.teardown(() => rmSync(certs.dir, { recursive: true, force: true }));
  const tlsPort = await freePort();
  await startRedis({
    args: ["--tls-port", String(tlsPort), "--tls-cert-file", certs.serverCert, "--tls-key-file", certs.serverKey, "--tls-ca-cert-file", certs.ca, "--tls-auth-clients", "yes", "--requirepass", ADMIN_PASSWORD],
  });
  const tls = { PNSMGR_REDIS_TLS_CA_FILE: certs.ca, PNSMGR_REDIS_TLS_CERT_FILE: certs.clientCert, PNSMGR_REDIS_TLS_KEY_FILE: certs.clientKey, PNSMGR_REDIS_PASSWORD: ADMIN_PASSWORD };
  const store = await open(t, { REDIS_URL: `rediss://127.0.0.1:${tlsPort}`, ...tls });
  await roundTrip(t, store);
  t.is(store.description, `redis 127.0.0.1:${tlsPort} (auth, tls)`);
  // The TLS files alone turn TLS on for a redis:// URL too.
  await roundTrip(t, await open(t, { REDIS_URL: `redis://127.0.0.1:${tlsPort}`, ...tls }));

  const noClientCert = await refusal(t, { REDIS_URL: `rediss://127.0.0.1:${tlsPort}`, PNSMGR_REDIS_TLS_CA_FILE: certs.ca, PNSMGR_REDIS_PASSWORD: ADMIN_PASSWORD });
  t.is(noClientCert.code, Code.UNAVAILABLE);
  const wrongCa = await refusal(t, { REDIS_URL: `rediss://127.0.0.1:${tlsPort}`, ...tls, PNSMGR_REDIS_TLS_CA_FILE: certs.otherCa });
  t.is(wrongCa.code, Code.UNAVAILABLE);
  t.regex(wrongCa.message, /certificate|self.signed|verify/i);
  const plain = await refusal(t, { REDIS_URL: `redis://127.0.0.1:${tlsPort}`, PNSMGR_REDIS_PASSWORD: ADMIN_PASSWORD });
  t.is(plain.code, Code.UNAVAILABLE, "plain text to the TLS port fails");
});

test.serial("Sentinel with its own requirepass in front of a master with a password", async t => {
  const master = await startRedis({ args: ["--requirepass", "master-secret-42"] });
  const sentinel = await startSentinel({ master, conf: ["requirepass sentinel-secret-77", "sentinel auth-pass mymaster master-secret-42"] });
  t.true(String(await redisCommand(sentinel.port, "PING")).includes("NOAUTH"), "the sentinel wants a password");
  const env = { PNSMGR_REDIS_SENTINELS: sentinel.address, PNSMGR_REDIS_PASSWORD: "master-secret-42", PNSMGR_REDIS_SENTINEL_PASSWORD: "sentinel-secret-77", PNSMGR_REDIS_WAIT_REPLICAS: "0" };
  const store = await open(t, env);
  await roundTrip(t, store);
  t.is(store.description, `redis sentinel mymaster via ${sentinel.address} (auth)`);
  const noSentinelPassword = await refusal(t, { ...env, PNSMGR_REDIS_SENTINEL_PASSWORD: "" });
  t.is(noSentinelPassword.code, Code.UNAVAILABLE);
  noSecrets(t, noSentinelPassword.message);
});

test("TLS file settings are checked at start-up, naming the variable, and never echo a password", t => {
  const missing = t.throws(() => stateOptionsFromEnv({ REDIS_URL: "redis://127.0.0.1:6379", PNSMGR_REDIS_TLS_CA_FILE: "/nonexistent/ca.pem" }), { instanceOf: ConfigError });
  t.regex(missing?.message ?? "", /^PNSMGR_REDIS_TLS_CA_FILE=.*cannot be read/);
  const half = t.throws(() => stateOptionsFromEnv({ REDIS_URL: "redis://127.0.0.1:6379", PNSMGR_REDIS_TLS_CERT_FILE: "/etc/hostname" }), { instanceOf: ConfigError });
  t.regex(half?.message ?? "", /together/);
  const options = stateOptionsFromEnv({ REDIS_URL: "redis://127.0.0.1:6379", PNSMGR_REDIS_PASSWORD: "p", PNSMGR_REDIS_USERNAME: "u" }) as RedisStateOptions;
  t.deepEqual(options.security, { username: "u", password: "p" });
  t.is((stateOptionsFromEnv({ PNSMGR_REDIS_PASSWORD: "p" }) as { kind: string }).kind, "memory", "a password alone does not select Redis");
});

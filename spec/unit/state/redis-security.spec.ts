/**
 * How the Redis credential and TLS settings become ioredis options: the master's password and ACL
 * user, the sentinels' own password, TLS for the master and (in Sentinel mode) the sentinels, and a
 * description that says auth/tls without any secret.
 */
import test from "ava";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeSecurity, redisSecurityFromEnv, redisSecurityOptions } from "../../../lib/state/redis/security.js";

test("standalone: user and password; TLS from the files, with their contents read", t => {
  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-redis-security-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of ["ca.pem", "cert.pem", "key.pem"]) writeFileSync(join(dir, name), `-----${name}-----\n`);
  const security = redisSecurityFromEnv({
    PNSMGR_REDIS_USERNAME: "pnsmgr",
    PNSMGR_REDIS_PASSWORD: "pw",
    PNSMGR_REDIS_TLS_CA_FILE: join(dir, "ca.pem"),
    PNSMGR_REDIS_TLS_CERT_FILE: join(dir, "cert.pem"),
    PNSMGR_REDIS_TLS_KEY_FILE: join(dir, "key.pem"),
  });
  const options = redisSecurityOptions(security, false, false) as { username: string; password: string; tls: { ca: Buffer; cert: Buffer; key: Buffer } };
  t.is(options.username, "pnsmgr");
  t.is(options.password, "pw");
  t.is(options.tls.ca.toString(), "-----ca.pem-----\n");
  t.is(options.tls.key.toString(), "-----key.pem-----\n");
  t.false("sentinelTLS" in options);
  t.is(describeSecurity(security, false), " (auth, tls)");
});

test("Sentinel: the sentinels' password is theirs; TLS goes to the master and the sentinels", t => {
  const security = redisSecurityFromEnv({ PNSMGR_REDIS_PASSWORD: "master-pw", PNSMGR_REDIS_SENTINEL_PASSWORD: "sentinel-pw", PNSMGR_REDIS_TLS_CA_FILE: "/etc/hostname" });
  const options = redisSecurityOptions(security, true, false);
  t.like(options, { password: "master-pw", sentinelPassword: "sentinel-pw", enableTLSForSentinelMode: true });
  t.deepEqual(options["sentinelTLS"], options["tls"]);
  t.false(describeSecurity(security, false).includes("pw"));
});

test("nothing set: no options; rediss:// alone turns TLS on with the system's CAs", t => {
  t.deepEqual(redisSecurityOptions(redisSecurityFromEnv({}), false, false), {});
  t.deepEqual(redisSecurityOptions(redisSecurityFromEnv({}), false, true), { tls: {} });
  t.is(describeSecurity({}, true), " (tls)");
  t.is(describeSecurity({}, false), "");
});

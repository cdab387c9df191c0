/**
 * What every test, demo and bench gateway needs because all of them run on loopback: loopback is
 * allowed as a destination (the destination guard refuses it by default), and the admin listener
 * takes a free port instead of the default 127.0.0.1:5007 (tests run many gateways at once).
 */
export const LOOPBACK_DIAL_ALLOW: readonly string[] = ["127.0.0.0/8", "::1"];

/** The same as environment variables, for gateways started as child processes. */
export const LOOPBACK_ENV: Readonly<Record<string, string>> = {
  PNSMGR_DIAL_ALLOW: LOOPBACK_DIAL_ALLOW.join(","),
  PNSMGR_ADMIN_LISTEN_ON: "127.0.0.1:0",
};

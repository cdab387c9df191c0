import test from "ava";
import { createFailureLog } from "../../lib/failure-log.js";
import { Code, ProxyError } from "../../lib/pipeline/errors.js";
import type { Logger } from "../../lib/log.js";

test("failed calls are logged at warn once per method and code per window, with the count in between", t => {
  const lines: [string, Record<string, unknown>][] = [];
  const log: Logger = { debug() {}, info() {}, error() {}, warn: (msg, fields = {}) => void lines.push([msg, fields]) };
  let now = 0;
  const report = createFailureLog(log, 1000, () => now);
  const down = new ProxyError(Code.UNAVAILABLE, "domain cluster2 could not be resolved");
  report("/registry.NetworkServiceEndpointRegistry/Find", down);
  report("/registry.NetworkServiceEndpointRegistry/Find", down);
  report("/registry.NetworkServiceEndpointRegistry/Find", down);
  report("/registry.NetworkServiceEndpointRegistry/Find", new ProxyError(Code.NOT_FOUND, "no such nse"));
  now = 1500;
  report("/registry.NetworkServiceEndpointRegistry/Find", down);
  t.deepEqual(
    lines.map(([, f]) => [f.code, f.suppressed]),
    [
      ["UNAVAILABLE", undefined],
      ["NOT_FOUND", undefined],
      ["UNAVAILABLE", 2],
    ],
  );
  t.is(lines[0]?.[1].error, "domain cluster2 could not be resolved");
});

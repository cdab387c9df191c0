/**
 * The v1 plane records what its monitor emits: UPDATE on Request, DOWN relayed from the next hop,
 * DELETE on Close, each with the next hop as peer, keyed by the gateway's own segment id, path
 * tokens redacted; `pnsmgr events --gateway <admin listener>` replays them.
 */
import test from "ava";
import { ConnectionEventType } from "../../../generated/nsm/connection.js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import { callUnary, closeAll } from "../../support/grpc.js";
import { stopGateways } from "../../support/gateway.js";
import { fwdToken } from "../connection-v1/_topology.js";
import { killClis, parsed, runEventsCli, storedEvents, v1Connection } from "./_support.js";

test.afterEach.always(async () => {
  killClis();
  await stopGateways();
  await closeAll();
});

test.serial("UPDATE, DOWN and DELETE are recorded with the next hop as peer, tokens redacted, and replayed from the v1 listener", async t => {
  t.timeout(20_000);
  const { gateway, nsmgr, stream, answer, ourId, nsmgrId } = await v1Connection();
  t.teardown(() => stream.cancel());
  nsmgr.connectionDown(nsmgrId);
  t.is((await stream.next()).type, ConnectionEventType.UPDATE);
  await callUnary(gateway.v1Address, NetworkServiceService.close, answer, { metadata: await fwdToken() });
  t.is((await stream.next()).type, ConnectionEventType.DELETE);

  const entries = await storedEvents(gateway, 3);
  t.deepEqual(
    entries.map(e => [e.type, e.peer, e.connectionIds]),
    [
      ["UPDATE", nsmgr.address, [ourId]],
      ["UPDATE", nsmgr.address, [ourId]],
      ["DELETE", nsmgr.address, [ourId]],
    ],
  );
  const json = JSON.stringify(entries.map(e => e.payload));
  t.false(/eyJ[\w-]+\.[\w-]+\./.test(json), "no JWT in the log");
  t.true(json.includes("(redacted)"));

  const replay = await runEventsCli(["--gateway", gateway.adminAddress, "--json"]);
  t.is(replay.code, 0, replay.stderr);
  const rows = parsed(replay.lines);
  t.deepEqual(rows.map(r => r.position), entries.map(e => e.position));
  t.deepEqual(rows.map(r => r.payload.connections?.[ourId]?.state ?? "UP"), ["UP", "DOWN", "UP"]);
});

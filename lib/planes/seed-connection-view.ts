/**
 * How a connection looks to the client on the far side of the seed proxy, shared by the Request
 * answer (connection plane) and relayed monitor events (monitor plane): path segment 1 back to
 * "nsmgr@host:port", the client's own src_ip back, and the remote's external dst_ip.
 */
import type { Connection } from "../../generated/nsm/connection.js";
import { Code, ProxyError, quoted } from "../pipeline/errors.js";

export const SRC_IP = "src_ip";
export const DST_IP = "dst_ip";
export const ORIG_SRC_IP = "orig_src_ip";
/** Named DstExternalIP in NSM: it holds the destination's external IP despite the key. */
export const EXT_SRC_IP = "ext_src_ip";

export function renameSegment(conn: Connection, index: number, name: string): Connection {
  const path = conn.path;
  const segment = path?.pathSegments[index];
  if (!path || !segment || segment.name === name) return conn;
  const pathSegments = path.pathSegments.map((s, i) => (i === index ? { ...s, name } : s));
  return { ...conn, path: { ...path, pathSegments } };
}

/** The client's view of a mechanism: its own src_ip back, and the remote's external dst_ip when known. */
export function restoreClientIPs(conn: Connection, externalDst: string | undefined): Connection {
  const mechanism = conn.mechanism;
  if (!mechanism) return conn;
  const parameters = { ...mechanism.parameters };
  const original = parameters[ORIG_SRC_IP];
  if (original) parameters[SRC_IP] = original;
  if (externalDst) parameters[DST_IP] = externalDst;
  return { ...conn, mechanism: { ...mechanism, parameters } };
}

/** "nsmgr@<our advertised address>" would be dialled back to this proxy: a loop. */
export function refuseSelf(written: string, self: string | undefined): void {
  const at = written.indexOf("@");
  if (self !== undefined && at >= 0 && written.slice(at + 1).toLowerCase() === self.toLowerCase()) {
    throw new ProxyError(Code.FAILED_PRECONDITION, `loop: ${quoted(written)} names this proxy's own address`);
  }
}

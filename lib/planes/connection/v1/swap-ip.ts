/**
 * swap-ip (the SDK's swapip server and client), over every mechanism preference and the current
 * mechanism, with the IP map (map-ip.yaml: internal -> external). A mechanism "has a source" when it
 * carries a non-empty src_ip; it is on the source side when its orig_src_ip is empty (nobody swapped
 * it yet), on the far side otherwise. The side of the call is that of the last mechanism with a
 * source; a call with no source anywhere is left alone.
 *
 *  server, out:  far side   -> dst_ip := "", orig_dst_ip := ""   (the far domain fills its own)
 *  client, out:  source side -> orig_src_ip := src_ip, src_ip := map[src_ip]
 *  client, back: source side -> src_ip := orig_src_ip, orig_src_ip := ""
 *  server, back: far side   -> orig_dst_ip := dst_ip, dst_ip := map[dst_ip]
 *
 * An IP the map does not know maps to itself (the SDK makes it ""), so a domain without NAT works
 * with an empty map and a missing entry never blanks an address.
 */
import { map } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import type { IpMap } from "../../../nodes/ip-map.js";
import type { Connection, Mechanism } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";

export const SRC_IP = "src_ip";
export const SRC_ORIGINAL_IP = "orig_src_ip";
export const DST_IP = "dst_ip";
export const DST_ORIGINAL_IP = "orig_dst_ip";

export type Side = "source" | "far" | undefined;

const hasSource = (m: Mechanism | undefined): m is Mechanism => (m?.parameters[SRC_IP] ?? "") !== "";
const sideOf = (m: Mechanism): Side => ((m.parameters[SRC_ORIGINAL_IP] ?? "") === "" ? "source" : "far");

/** The side of a request: that of its last mechanism (preferences, then the current one) with a source. */
export function sideOfRequest(req: NetworkServiceRequest): Side {
  const all = [...req.mechanismPreferences, req.connection?.mechanism];
  const last = all.filter(hasSource).at(-1);
  return last ? sideOf(last) : undefined;
}

const mapped = (ips: IpMap, ip: string) => ips.get(ip) ?? ip;

function eachMechanism(req: NetworkServiceRequest, update: (m: Mechanism) => Mechanism): NetworkServiceRequest {
  const conn = req.connection;
  return {
    ...req,
    mechanismPreferences: req.mechanismPreferences.map(update),
    connection: conn && conn.mechanism ? { ...conn, mechanism: update(conn.mechanism) } : conn,
  };
}

function withParameters(conn: Connection, update: (p: Record<string, string>) => Record<string, string>): Connection {
  return conn.mechanism ? { ...conn, mechanism: { ...conn.mechanism, parameters: update({ ...conn.mechanism.parameters }) } } : conn;
}

/** Receiving side of the proxy: clears a far-side request's destination, maps the answer's destination. */
export function swapIpServer(ips: IpMap): Element<NetworkServiceRequest, Connection> {
  return named("swap-ip-server", next => (req, ctx) => {
    if (sideOfRequest(req) !== "far") return next(req, ctx);
    const out = eachMechanism(req, m => (hasSource(m) && sideOf(m) === "far" ? { ...m, parameters: { ...m.parameters, [DST_IP]: "", [DST_ORIGINAL_IP]: "" } } : m));
    return next(out, ctx).pipe(
      map(conn =>
        withParameters(conn, p => {
          const dst = p[DST_IP] ?? "";
          return { ...p, [DST_IP]: dst === "" ? "" : mapped(ips, dst), [DST_ORIGINAL_IP]: dst };
        }),
      ),
    );
  });
}

/** Sending side of the proxy: maps a source-side request's source out, restores it in the answer. */
export function swapIpClient(ips: IpMap): Element<NetworkServiceRequest, Connection> {
  return named("swap-ip-client", next => (req, ctx) => {
    if (sideOfRequest(req) !== "source") return next(req, ctx);
    const out = eachMechanism(req, m => {
      if (!hasSource(m) || sideOf(m) !== "source") return m;
      const src = m.parameters[SRC_IP] ?? "";
      return { ...m, parameters: { ...m.parameters, [SRC_IP]: mapped(ips, src), [SRC_ORIGINAL_IP]: src } };
    });
    return next(out, ctx).pipe(
      map(conn => withParameters(conn, p => ({ ...p, [SRC_IP]: (p[SRC_ORIGINAL_IP] || p[SRC_IP]) ?? "", [SRC_ORIGINAL_IP]: "" }))),
    );
  });
}

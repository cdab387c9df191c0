/**
 * A cap per peer address: how many things (open streams, distinct monitor feeds) the callers at one
 * address may hold at once. `acquire` returns the release function, or undefined past the cap. With
 * a key, only distinct keys count (many streams of one feed are one feed).
 */
export interface PeerLimit {
  acquire(peer: string, key?: string): (() => void) | undefined;
  /** What the peer holds now (distinct keys, or acquisitions without a key). */
  held(peer: string): number;
}

/** The host part of a transport peer ("127.0.0.1:5000", "ipv6:[::1]:5000", "[::1]:5000"). */
export function peerHost(peer: string): string {
  const bare = peer.replace(/^ipv[46]:/, "");
  const colon = bare.lastIndexOf(":");
  const host = colon > 0 && /^\d+$/.test(bare.slice(colon + 1)) ? bare.slice(0, colon) : bare;
  return host.replace(/^\[(.*)\]$/, "$1");
}

export function createPeerLimit(max: number): PeerLimit {
  const peers = new Map<string, Map<string | symbol, number>>();
  return {
    acquire(peer, key) {
      const host = peerHost(peer);
      const held = peers.get(host) ?? new Map<string | symbol, number>();
      const item = key ?? Symbol("stream");
      const count = held.get(item);
      if (count === undefined && held.size >= max) return undefined;
      held.set(item, (count ?? 0) + 1);
      peers.set(host, held);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (held.get(item) ?? 1) - 1;
        if (left > 0) held.set(item, left);
        else held.delete(item);
        if (held.size === 0 && peers.get(host) === held) peers.delete(host);
      };
    },
    held: peer => peers.get(peerHost(peer))?.size ?? 0,
  };
}

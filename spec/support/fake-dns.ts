/**
 * A tiny real DNS server for tests: UDP on 127.0.0.1 port 0, answering the SRV, A and AAAA records a
 * test configures (class IN; the answer names the question by a compression pointer). A name with
 * records but none of the asked type answers NOERROR with no answers (NODATA, ENODATA in node); an
 * unknown name answers NXDOMAIN (ENOTFOUND); `fail` makes a name answer SERVFAIL (ESERVFAIL) or any
 * other rcode. Every question asked is logged in `queries` ("SRV registry.nsm-system.cluster2").
 * Point node:dns at it with `resolver.setServers([dns.address])` or the gateway's dnsServer option.
 */
import { type Socket, createSocket } from "node:dgram";
import { isIP } from "node:net";

const TYPE = { A: 1, AAAA: 28, SRV: 33 } as const;
type RecordType = keyof typeof TYPE;

export interface SrvAnswer {
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

interface NameRecords {
  srv: SrvAnswer[];
  a: string[];
  aaaa: string[];
  rcode?: number;
}

export interface FakeDns {
  /** host:port of the server, for setServers / PNSMGR_DNS_SERVER. */
  readonly address: string;
  /** Questions received, "TYPE name", oldest first. */
  readonly queries: string[];
  srv(name: string, target: string, port: number, options?: { priority?: number; weight?: number }): FakeDns;
  a(name: string, ip: string): FakeDns;
  aaaa(name: string, ip: string): FakeDns;
  /** Answers every question about `name` with `rcode` (2 = SERVFAIL, 5 = REFUSED). */
  fail(name: string, rcode?: number): FakeDns;
  /** Forgets every record of `name` (it becomes NXDOMAIN). */
  remove(name: string): FakeDns;
  close(): Promise<void>;
}

const running = new Set<FakeDns>();

export async function startFakeDns(): Promise<FakeDns> {
  const records = new Map<string, NameRecords>();
  const queries: string[] = [];
  const socket: Socket = createSocket("udp4");
  const entry = (name: string): NameRecords => {
    const key = normal(name);
    let found = records.get(key);
    if (!found) {
      found = { srv: [], a: [], aaaa: [] };
      records.set(key, found);
    }
    return found;
  };

  socket.on("message", (message, remote) => {
    let reply: Buffer | undefined;
    try {
      reply = answer(message, records, queries);
    } catch {
      reply = undefined; // not a DNS query we understand: no answer
    }
    if (reply) socket.send(reply, remote.port, remote.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => resolve());
  });

  const dns: FakeDns = {
    address: `127.0.0.1:${socket.address().port}`,
    queries,
    srv(name, target, port, options = {}) {
      entry(name).srv.push({ target, port, ...options });
      return dns;
    },
    a(name, ip) {
      if (isIP(ip) !== 4) throw new Error(`fake DNS: ${ip} is not IPv4`);
      entry(name).a.push(ip);
      return dns;
    },
    aaaa(name, ip) {
      if (isIP(ip) !== 6) throw new Error(`fake DNS: ${ip} is not IPv6`);
      entry(name).aaaa.push(ip);
      return dns;
    },
    fail(name, rcode = 2) {
      entry(name).rcode = rcode;
      return dns;
    },
    remove(name) {
      records.delete(normal(name));
      return dns;
    },
    close: () =>
      new Promise<void>(resolve => {
        running.delete(dns);
        socket.close(() => resolve());
      }),
  };
  running.add(dns);
  return dns;
}

/** Closes every fake DNS server still running (call from test.afterEach.always). */
export async function closeFakeDns(): Promise<void> {
  await Promise.all([...running].map(d => d.close()));
}

function normal(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

function answer(query: Buffer, records: ReadonlyMap<string, NameRecords>, log: string[]): Buffer {
  const id = query.readUInt16BE(0);
  const flags = query.readUInt16BE(2);
  if (flags & 0x8000 || query.readUInt16BE(4) !== 1) throw new Error("not a single-question query");
  let offset = 12;
  const labels: string[] = [];
  for (;;) {
    const length = query.readUInt8(offset);
    offset += 1;
    if (length === 0) break;
    if (length >= 0xc0) throw new Error("compressed question");
    labels.push(query.toString("ascii", offset, offset + length));
    offset += length;
  }
  const type = query.readUInt16BE(offset);
  const question = query.subarray(12, offset + 4);
  const name = labels.join(".");
  const typeName = (Object.keys(TYPE) as RecordType[]).find(k => TYPE[k] === type) ?? `TYPE${type}`;
  log.push(`${typeName} ${name}`);

  const found = records.get(normal(name));
  const rcode = found === undefined ? 3 : (found.rcode ?? 0);
  const answers: Buffer[] = [];
  if (found && rcode === 0) {
    if (type === TYPE.SRV) for (const s of found.srv) answers.push(rr(TYPE.SRV, srvData(s)));
    if (type === TYPE.A) for (const ip of found.a) answers.push(rr(TYPE.A, Buffer.from(ip.split(".").map(Number))));
    if (type === TYPE.AAAA) for (const ip of found.aaaa) answers.push(rr(TYPE.AAAA, ipv6Bytes(ip)));
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  // QR, opcode copied, AA, RD copied, RA, rcode
  header.writeUInt16BE(0x8000 | (flags & 0x7800) | 0x0400 | (flags & 0x0100) | 0x0080 | (rcode & 0xf), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, question, ...answers]);
}

/** One answer record for the question's name (pointer to offset 12), class IN, TTL 5 s. */
function rr(type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt32BE(5, 6);
  head.writeUInt16BE(data.length, 10);
  return Buffer.concat([head, data]);
}

function srvData(s: SrvAnswer): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt16BE(s.priority ?? 0, 0);
  head.writeUInt16BE(s.weight ?? 0, 2);
  head.writeUInt16BE(s.port, 4);
  return Buffer.concat([head, encodeName(s.target)]);
}

function encodeName(name: string): Buffer {
  const parts = normal(name) === "" ? [] : normal(name).split(".");
  return Buffer.concat([...parts.map(p => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, "ascii")])), Buffer.from([0])]);
}

function ipv6Bytes(ip: string): Buffer {
  const [head = "", tail] = ip.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

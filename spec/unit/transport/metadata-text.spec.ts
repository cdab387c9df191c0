/** Unit tests: grpc-js Metadata to the pipeline's text maps and back (first/last value, binary keys, unsendable entries). */
import test from "ava";
import { Metadata } from "@grpc/grpc-js";
import { firstTextValues, lastTextValues, toGrpcMetadata } from "../../../lib/transport/grpc/metadata-text.js";

function sample(): Metadata {
  const m = new Metadata();
  m.add("path", "first");
  m.add("path", "second");
  m.set("x-one", "1");
  m.set("trace-bin", Buffer.from([1, 2, 3]));
  return m;
}

test("request metadata keeps the first value of a key, response metadata the last; binary entries are left out", t => {
  t.deepEqual(Object.fromEntries(firstTextValues(sample())), { path: "first", "x-one": "1" });
  t.deepEqual(Object.fromEntries(lastTextValues(sample())), { path: "second", "x-one": "1" });
  t.is(lastTextValues(undefined).size, 0);
});

test("a map goes back to Metadata; an entry HTTP/2 cannot carry is dropped instead of throwing", t => {
  const m = toGrpcMetadata(new Map([["x-ok", "yes"], ["Bad Key", "v"], ["x-bad-value", "line\nbreak"], ["path", '{"Index":0}']]));
  t.deepEqual(m.getMap(), { "x-ok": "yes", path: '{"Index":0}' });
});

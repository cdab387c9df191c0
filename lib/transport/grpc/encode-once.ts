/**
 * Encode a response once however many streams it is written to. A monitor event fanned out to N
 * subscribers of one upstream is the same object on every stream; the wrapped serializer keeps its
 * bytes (by identity, weakly) so the other N-1 writes reuse them. grpc-js copies the bytes into its
 * own frame, so sharing them is safe. Responses must not be mutated after they are first written.
 */
import type { ServiceDefinition } from "@grpc/grpc-js";

export function withEncodeOnce<S extends ServiceDefinition>(definition: S): S {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const encode = method.responseSerialize as (value: unknown) => Buffer;
    const cache = new WeakMap<object, Buffer>();
    wrapped[name] = {
      ...method,
      responseSerialize: (value: unknown): Buffer => {
        if (typeof value !== "object" || value === null) return encode(value);
        let bytes = cache.get(value);
        if (bytes === undefined) {
          bytes = encode(value);
          cache.set(value, bytes);
        }
        return bytes;
      },
    };
  }
  return wrapped as S;
}

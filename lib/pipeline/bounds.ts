/**
 * Size bounds on what a caller may send, checked before anything is parsed, resolved or dialled: a
 * message whose names, URLs, labels, lists or path are larger than any real NSM peer sends is refused
 * with INVALID_ARGUMENT naming the field and the bound. It walks any decoded message generically
 * (field names decide which bound applies), so it knows no plane and no message type.
 */
import { type Observable, map } from "rxjs";
import { type Element, named } from "./element.js";
import { invalidArgument } from "./errors.js";

export interface Bounds {
  /** Names: fields called `name`, `...Name`, `networkService`, `domain` (Kubernetes names are <= 253; with `@domain` twice that). */
  readonly maxNameLength: number;
  /** URLs and addresses: fields called `url`, `...Url`, `...Address`. */
  readonly maxUrlLength: number;
  /** Entries of one label-like map (labels, parameters, metrics, selectors, extra context). */
  readonly maxLabels: number;
  /** Length of a label key and of a label value. */
  readonly maxLabelKeyLength: number;
  readonly maxLabelValueLength: number;
  /** Segments of a connection path (NSM paths have about 8). */
  readonly maxPathSegments: number;
  /** Any other string (path tokens are the largest: a JWT). */
  readonly maxTextLength: number;
  /** Items of any other list, own fields or entries of any other object. */
  readonly maxItems: number;
  /** Nesting of messages. */
  readonly maxDepth: number;
}

export const DEFAULT_BOUNDS: Bounds = {
  maxNameLength: 512,
  maxUrlLength: 2048,
  maxLabels: 64,
  maxLabelKeyLength: 256,
  maxLabelValueLength: 1024,
  maxPathSegments: 32,
  maxTextLength: 16_384,
  maxItems: 256,
  maxDepth: 16,
};

const LABEL_MAPS = new Set(["labels", "parameters", "metrics", "extraContext", "sourceSelector", "destinationSelector"]);
const isName = (field: string) => field === "name" || field.endsWith("Name") || field === "networkService" || field === "domain";
const isUrl = (field: string) => field === "url" || field.endsWith("Url") || field.endsWith("Address") || field === "address";

/** The first bound `message` breaks, as a short sentence; undefined when it keeps them all. */
export function boundsViolation(message: unknown, bounds: Bounds = DEFAULT_BOUNDS): string | undefined {
  return walk(message, "", "", 0, bounds);
}

function walk(value: unknown, where: string, field: string, depth: number, b: Bounds): string | undefined {
  if (typeof value === "string") {
    const max = isName(field) ? b.maxNameLength : isUrl(field) ? b.maxUrlLength : b.maxTextLength;
    return value.length > max ? `${where || "value"} is ${value.length} characters long; at most ${max}` : undefined;
  }
  if (typeof value !== "object" || value === null || value instanceof Date) return undefined;
  if (depth > b.maxDepth) return `${where} is nested more than ${b.maxDepth} deep`;
  if (ArrayBuffer.isView(value)) {
    return value.byteLength > b.maxTextLength ? `${where} is ${value.byteLength} bytes long; at most ${b.maxTextLength}` : undefined;
  }
  if (Array.isArray(value)) {
    const max = field === "pathSegments" ? b.maxPathSegments : b.maxItems;
    if (value.length > max) return `${where} has ${value.length} ${field === "pathSegments" ? "path segments" : "items"}; at most ${max}`;
    for (let i = 0; i < value.length; i++) {
      const found = walk(value[i], `${where}[${i}]`, field, depth + 1, b);
      if (found) return found;
    }
    return undefined;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (LABEL_MAPS.has(field)) {
    if (entries.length > b.maxLabels) return `${where} has ${entries.length} entries; at most ${b.maxLabels}`;
    for (const [key, v] of entries) {
      if (key.length > b.maxLabelKeyLength) return `${where} has a key of ${key.length} characters; at most ${b.maxLabelKeyLength}`;
      if (typeof v === "string" && v.length > b.maxLabelValueLength) {
        return `${where}[${JSON.stringify(key.slice(0, 32))}] is ${v.length} characters long; at most ${b.maxLabelValueLength}`;
      }
    }
    return undefined;
  }
  if (entries.length > b.maxItems) return `${where || "message"} has ${entries.length} entries; at most ${b.maxItems}`;
  for (const [key, v] of entries) {
    const child = where === "" ? key : `${where}.${key.length > 64 ? `${key.slice(0, 64)}…` : key}`;
    if (key.length > b.maxNameLength) return `${where || "message"} has a key of ${key.length} characters; at most ${b.maxNameLength}`;
    const found = walk(v, child, key, depth + 1, b);
    if (found) return found;
  }
  return undefined;
}

/** Throws INVALID_ARGUMENT when `message` breaks a bound; returns it otherwise. */
export function checkedBounds<T>(message: T, what: string, bounds: Bounds = DEFAULT_BOUNDS): T {
  const found = boundsViolation(message, bounds);
  if (found !== undefined) throw invalidArgument(`${what}: ${found}`);
  return message;
}

/** An element refusing a request (of any plane) that breaks a bound. */
export function checkBounds<Req, Res>(what: string, bounds: Bounds = DEFAULT_BOUNDS): Element<Req, Res> {
  return named("check-bounds", next => (req, ctx) => next(checkedBounds(req, what, bounds), ctx));
}

/** The same for each message of a client stream. */
export function checkEachBounds<Req, Res>(what: string, bounds: Bounds = DEFAULT_BOUNDS): Element<Observable<Req>, Res> {
  return named("check-bounds", next => (requests, ctx) => next(requests.pipe(map(message => checkedBounds(message, what, bounds))), ctx));
}

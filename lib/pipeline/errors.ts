/**
 * The one error type of the pipeline. Elements throw or emit ProxyError with a status code; only
 * transport/ turns it into a wire status. Codes are gRPC's numbers, written here so that the
 * pipeline does not depend on a transport.
 */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

export class ProxyError extends Error {
  override readonly name = "ProxyError";

  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Wraps anything thrown into a ProxyError; an error that carries a status code keeps it. */
  static from(error: unknown, fallback: Code = Code.INTERNAL): ProxyError {
    if (error instanceof ProxyError) return error;
    if (isStatusLike(error)) {
      return new ProxyError(error.code, error.details || error.message || Code[error.code] || "error", { cause: error });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new ProxyError(fallback, message, { cause: error });
  }

  /** The same code with context prepended, e.g. "dial 10.0.0.1:5001: connection refused". */
  withContext(prefix: string): ProxyError {
    return new ProxyError(this.code, `${prefix}: ${this.message}`, { cause: this });
  }
}

interface StatusLike {
  code: Code;
  details?: string;
  message?: string;
}

function isStatusLike(error: unknown): error is StatusLike {
  if (typeof error !== "object" || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 16;
}

/**
 * A caller's value for an error message, quoted and cut to `max` characters: a status never echoes
 * an unbounded input back (a long echo costs the caller a huge trailer, or the status altogether).
 */
export function quoted(value: string, max = 96): string {
  return JSON.stringify(value.length > max ? value.slice(0, max) : value) + (value.length > max ? `…(${value.length} characters)` : "");
}

export const invalidArgument = (message: string) => new ProxyError(Code.INVALID_ARGUMENT, message);
export const notFound = (message: string) => new ProxyError(Code.NOT_FOUND, message);
export const unavailable = (message: string, cause?: unknown) => new ProxyError(Code.UNAVAILABLE, message, { cause });

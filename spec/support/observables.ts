/** Small helpers for tests of elements and chains (not a test file). */
import { firstValueFrom, type Observable } from "rxjs";
import { ProxyError } from "../../lib/pipeline/errors.js";

/** The error an Observable ends with, as a ProxyError; fails if it emits a value first. */
export async function errorOf<T>(observable: Observable<T>): Promise<ProxyError> {
  try {
    const value = await firstValueFrom(observable);
    throw new Error(`expected an error, got ${JSON.stringify(value)}`);
  } catch (error: unknown) {
    if (!(error instanceof ProxyError)) throw error;
    return error;
  }
}

/** Test values (not a test file): inputs made immutable, so an element that edits its input throws in the test. */

/** Deep-freezes a value and returns it. */
export function frozen<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) frozen(v);
    Object.freeze(value);
  }
  return value;
}

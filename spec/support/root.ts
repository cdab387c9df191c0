/** The repository's root directory, for tests that read its files or run its scripts (not a test file). */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

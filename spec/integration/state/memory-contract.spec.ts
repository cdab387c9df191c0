/** The state store contract against the in-memory store. */
import { createMemoryStateStore } from "../../../lib/state/state.js";
import { stateContract } from "./contract.js";

stateContract("memory", async options => createMemoryStateStore(options?.events ? { events: options.events } : {}));

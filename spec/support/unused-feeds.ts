/** The monitor feed parts of PlaneDeps, for unit tests of planes that do not use them. */
import { createMemoryStateStore } from "../../lib/state/state.js";

export function unusedFeeds() {
  const store = createMemoryStateStore();
  return { feeds: store.feeds, replicas: store.replicas, replicaId: "unit-test" };
}

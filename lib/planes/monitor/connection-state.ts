/**
 * The connections an upstream monitor stream has reported so far, folded from its events:
 * INITIAL_STATE_TRANSFER replaces them, UPDATE adds or replaces, DELETE removes. A subscriber that
 * joins a running stream starts from this state.
 */
import { type Connection, type ConnectionEvent, ConnectionEventType } from "../../../generated/nsm/connection.js";

/** Folds one event into `state` in place (the caller owns it): O(connections in the event). */
export function foldEvent(state: Map<string, Connection>, event: ConnectionEvent): Map<string, Connection> {
  if (event.type === ConnectionEventType.INITIAL_STATE_TRANSFER) state.clear();
  for (const [key, connection] of Object.entries(event.connections)) {
    if (event.type === ConnectionEventType.DELETE) state.delete(key);
    else state.set(key, connection);
  }
  return state;
}

export function initialStateEvent(state: ReadonlyMap<string, Connection>): ConnectionEvent {
  return { type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: Object.fromEntries(state) };
}

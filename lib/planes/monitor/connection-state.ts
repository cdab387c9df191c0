/**
 * The connections an upstream monitor stream has reported so far, folded from its events:
 * INITIAL_STATE_TRANSFER replaces them, UPDATE adds or replaces, DELETE removes. A subscriber that
 * joins a running stream starts from this state.
 */
import { type Connection, type ConnectionEvent, ConnectionEventType } from "../../../generated/nsm/connection.js";

export function foldEvent(state: ReadonlyMap<string, Connection>, event: ConnectionEvent): Map<string, Connection> {
  const next = event.type === ConnectionEventType.INITIAL_STATE_TRANSFER ? new Map<string, Connection>() : new Map(state);
  for (const [key, connection] of Object.entries(event.connections)) {
    if (event.type === ConnectionEventType.DELETE) next.delete(key);
    else next.set(key, connection);
  }
  return next;
}

export function initialStateEvent(state: ReadonlyMap<string, Connection>): ConnectionEvent {
  return { type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: Object.fromEntries(state) };
}

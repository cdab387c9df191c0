/**
 * What watch-reconnect needs to know of NS and NSE Find responses: the entry's name, its content and
 * how its deletion is told.
 */
import type { NetworkServiceEndpointResponse, NetworkServiceResponse } from "../../../../generated/nsm/registry.js";
import type { WatchEntries } from "./watch-reconnect.js";

export const nseWatchEntries: WatchEntries<NetworkServiceEndpointResponse> = {
  nameOf: res => res.networkServiceEndpoint?.name,
  entryOf: res => res.networkServiceEndpoint,
  deleted: res => res.deleted,
  asDeleted: res => ({ ...res, deleted: true }),
};

export const nsWatchEntries: WatchEntries<NetworkServiceResponse> = {
  nameOf: res => res.networkService?.name,
  entryOf: res => res.networkService,
  deleted: res => res.deleted,
  asDeleted: res => ({ ...res, deleted: true }),
};

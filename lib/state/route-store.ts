/**
 * Learned routes: NSE name -> the URL of the next hop that serves it (NSM's interdomainbypass map).
 * Learned when an NSE found or registered through this proxy has its URL replaced by ours; used when
 * a Request for that NSE arrives; deleted only on Unregister. The interface only (memory/records.ts,
 * redis/records.ts).
 */
export interface RouteStore {
  set(nseName: string, url: string): Promise<void>;
  get(nseName: string): Promise<string | undefined>;
  delete(nseName: string): Promise<void>;
}

/**
 * Learned routes: NSE name -> the URL of the next hop that serves it (NSM's interdomainbypass map).
 * Learned when an NSE found or registered through this proxy has its URL replaced by ours; used when
 * a Request for that NSE arrives; deleted only on Unregister. One interface; in-memory by default.
 */
export interface RouteStore {
  set(nseName: string, url: string): Promise<void>;
  get(nseName: string): Promise<string | undefined>;
  delete(nseName: string): Promise<void>;
}

export function createMemoryRouteStore(): RouteStore {
  const routes = new Map<string, string>();
  return {
    async set(name, url) {
      routes.set(name, url);
    },
    async get(name) {
      return routes.get(name);
    },
    async delete(name) {
      routes.delete(name);
    },
  };
}

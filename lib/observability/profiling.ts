/**
 * On-demand profiles of a running gateway, pnsmgr's counterpart of NSM's pprof endpoint
 * (NSM_PPROF_ENABLED, NSM_PPROF_LISTEN_ON, default localhost:6060): GET /debug/cpu?seconds=N records a
 * V8 CPU profile for N seconds (default 30, at most 300) and returns it as a .cpuprofile (Chrome
 * DevTools / speedscope read it); GET /debug/heap returns a .heapsnapshot. Both go through
 * node:inspector in-process, one at a time (409 while one runs). A heap snapshot pauses the process
 * for a while and takes memory in proportion to the heap: the endpoint belongs on loopback.
 */
import { Session } from "node:inspector/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../log.js";
import { type HttpEndpoint, listenHttp } from "./http-endpoint.js";

export function startProfiling(listen: string, log: Logger): Promise<HttpEndpoint> {
  let busy = false;
  return listenHttp(listen, (request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const run = url.pathname === "/debug/cpu" ? cpuProfile : url.pathname === "/debug/heap" ? heapSnapshot : undefined;
    if (request.method !== "GET" || run === undefined) return plain(response, 404, "GET /debug/cpu?seconds=N or /debug/heap\n");
    if (busy) return plain(response, 409, "a profile is being taken; try again when it is done\n");
    busy = true;
    log.info("profiling", { what: url.pathname, from: request.socket.remoteAddress ?? "" });
    run(url, request, response)
      .catch((error: unknown) => {
        log.warn("profiling failed", { what: url.pathname, error: (error as Error).message });
        if (!response.headersSent) plain(response, 500, `${(error as Error).message}\n`);
        else response.destroy();
      })
      .finally(() => {
        busy = false;
      });
  });
}

async function cpuProfile(url: URL, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const text = url.searchParams.get("seconds") ?? "30";
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0 && seconds <= 300)) return plain(response, 400, `seconds=${JSON.stringify(text)} is not a number of seconds in (0, 300]\n`);
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, seconds * 1000);
      request.socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const { profile } = await session.post("Profiler.stop");
    if (response.destroyed) return;
    response.writeHead(200, { "content-type": "application/json", "content-disposition": 'attachment; filename="pnsmgr.cpuprofile"' });
    response.end(JSON.stringify(profile));
  } finally {
    session.disconnect();
  }
}

async function heapSnapshot(_url: URL, _request: IncomingMessage, response: ServerResponse): Promise<void> {
  const session = new Session();
  session.connect();
  try {
    response.writeHead(200, { "content-type": "application/json", "content-disposition": 'attachment; filename="pnsmgr.heapsnapshot"' });
    session.on("HeapProfiler.addHeapSnapshotChunk", message => response.write(message.params.chunk));
    await session.post("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    response.end();
  } finally {
    session.disconnect();
  }
}

function plain(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { "content-type": "text/plain" }).end(text);
}

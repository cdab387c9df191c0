/**
 * Test domains in a few lines, as NSM's sandbox builds them (not a test file): each domain is a real
 * pnsmgr gateway on 127.0.0.1 with what a test asks for around it (its registry, an NSMgr behind it,
 * a real redis-server for its state, map-ip / clusterinfo files, learned routes, node IPs), or a
 * remote seed (v0) domain of stand-in NSMgrs and a ClusterInfo; the domains found through one fake DNS
 * server by SRV, and everything torn down by one t.teardown, last started first.
 *
 *   const world = await sandbox(t)
 *     .domain("domain-2", d => d.nsmgr({ endpoints: ["nse"] }).gateway({ name: "proxy-2" }))
 *     .domain("domain-1", d => d.gateway({ name: "proxy-1" }, { routes: w => ({ "nse@domain-2": w.domain("domain-2").url }) }))
 *     .build();
 *
 * Domains are built in the order given, so a domain may route to one declared before it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../../lib/config.js";
import { type Gateway, startGateway } from "../../lib/gateway.js";
import { silentLogger } from "../../lib/log.js";
import type { NodeInfo } from "../../lib/nodes/node-map.js";
import { stateOptionsFromEnv } from "../../lib/state/state.js";
import type { NodeIPConfiguration } from "../../generated/seed/clusterinfo.js";
import { type FakeDns, startFakeDns } from "./fake-dns.js";
import { type FakeNsmgr, type FakeNsmgrOptions, startFakeClusterInfo, startFakeNsmgr } from "./fake-nsmgr.js";
import { type FakeV1Nsmgr, type FakeV1NsmgrOptions, startFakeV1Nsmgr } from "./fake-v1-nsmgr.js";
import { type FakeV1Registry, startFakeV1Registry } from "./fake-v1-registry.js";
import { type FakeNseRegistry, startFakeNseRegistry } from "./fake-v1-registry-lite.js";
import { testConfig } from "./gateway.js";
import type { TestServer } from "./grpc.js";
import { freePort } from "./ports.js";
import { type RedisProcess, startRedis } from "./redis.js";

/** One domain as built: the parts the test asked for. */
export interface Domain {
  readonly name: string;
  /** The real pnsmgr gateway (a domain may have none: a floating domain is only a registry). */
  readonly gateway: Gateway;
  /** `tcp://` + the gateway's v1 address, as a route or an NSE URL names it. */
  readonly url: string;
  /** The gateway's v1 port. */
  readonly port: number;
  /** The domain's registry (a full fake v1 registry), when asked for. */
  readonly registry: FakeV1Registry;
  /** The stand-in NSMgr behind the gateway, and the tiny registry that points its endpoints at it. */
  readonly nsmgr: FakeV1Nsmgr;
  readonly nseRegistry: FakeNseRegistry;
  /** The real redis-server holding the gateway's shared state. */
  readonly redis: RedisProcess;
  /** A seed (v0) domain's stand-in NSMgrs, in the order asked for, and its ClusterInfo. */
  readonly seedNsmgrs: FakeNsmgr[];
  readonly clusterInfo: TestServer;
}

export interface World {
  /** The fake DNS server every gateway asks (started when any domain is published). */
  readonly dns: FakeDns;
  domain(name: string): Domain;
  /** Stops everything (t.teardown does it too); last started first. */
  stop(): Promise<void>;
}

export interface GatewayExtras {
  /** map-ip.yaml entries (from → to), as the gateway's IP map. */
  readonly ipMap?: readonly (readonly [string, string])[];
  /** clusterinfo.yaml's clusterName. */
  readonly clusterName?: string;
  /** Learned routes (NSE name → URL) put into the gateway's route store; may name domains built before. */
  readonly routes?: (world: World) => Record<string, string>;
  /** Listen on a free port that is known in advance and publish `tcp://<publicHost>:<port>` as the v1 URL. */
  readonly publicHost?: string;
  /** A seed domain built before: its ClusterInfo's port becomes the gateway's remote port (PROXY_NSMD_K8S_REMOTE_PORT). */
  readonly seedRemote?: string;
  /** This domain's nodes (the node map the seed plane localizes with). */
  readonly nodes?: readonly NodeInfo[];
}

export interface PublishOptions {
  /** The SRV target of the registry record; default `registry-lb.<domain>.test` (a name other than the SRV name, as in a cluster). */
  readonly registryHost?: string;
  /** The SRV target of the proxy record; default `proxy-lb.<domain>.test`. */
  readonly proxyHost?: string;
}

type Part = "registry" | "nsmgr" | "seed" | "redis" | "gateway" | "publish";

/** What one domain is made of, in a few calls. */
export class DomainBuilder {
  readonly parts = new Set<Part>();
  nsmgrOptions: FakeV1NsmgrOptions = {};
  gatewayOverrides: Partial<Config> = {};
  gatewayExtras: GatewayExtras = {};
  publishOptions: PublishOptions = {};
  seedOptions: { nsmgrs: FakeNsmgrOptions[]; nodes: NodeIPConfiguration[] } = { nsmgrs: [], nodes: [] };

  /** A full fake v1 registry as the domain's registry (the gateway's NSM_REGISTRY_URL, before an NSMgr's tiny one). */
  registry(): this {
    this.parts.add("registry");
    return this;
  }

  /** A stand-in NSMgr serving `options.endpoints`, found by the gateway through a tiny registry. */
  nsmgr(options: FakeV1NsmgrOptions = {}): this {
    this.parts.add("nsmgr");
    this.nsmgrOptions = options;
    return this;
  }

  /** A remote seed (v0) domain: stand-in NSMgrs, and a ClusterInfo answering for `nodes`. */
  seedNsmgrs(nsmgrs: FakeNsmgrOptions[], nodes: NodeIPConfiguration[]): this {
    this.parts.add("seed");
    this.seedOptions = { nsmgrs, nodes };
    return this;
  }

  /** A real redis-server for the gateway's state. */
  redis(): this {
    this.parts.add("redis");
    return this;
  }

  /** The domain's pnsmgr gateway, with config overrides and the files and routes of `extras`. */
  gateway(overrides: Partial<Config> = {}, extras: GatewayExtras = {}): this {
    this.parts.add("gateway");
    this.gatewayOverrides = overrides;
    this.gatewayExtras = extras;
    return this;
  }

  /** SRV (and A) records in the sandbox DNS: the domain's registry, and its gateway as nsmgr-proxy. */
  published(options: PublishOptions = {}): this {
    this.parts.add("publish");
    this.publishOptions = options;
    return this;
  }
}

interface Teardown {
  teardown(fn: () => Promise<void> | void): void;
}

/** How to stop what was started, in the order started. */
type Started = (() => Promise<void> | void)[];

/** The parts of a domain while it is being built. */
type Parts = { -readonly [K in keyof Domain]?: Domain[K] };

export class SandboxBuilder {
  private readonly plans: [string, DomainBuilder][] = [];

  constructor(private readonly t: Teardown) {}

  domain(name: string, build: (domain: DomainBuilder) => DomainBuilder): this {
    this.plans.push([name, build(new DomainBuilder())]);
    return this;
  }

  async build(): Promise<World> {
    const started: Started = [];
    const stop = async () => {
      // Every part is stopped even when one fails to; the first failure is reported.
      const failures: unknown[] = [];
      for (const undo of started.splice(0).reverse()) await Promise.resolve(undo()).catch((error: unknown) => failures.push(error));
      if (failures.length > 0) throw failures[0];
    };
    this.t.teardown(stop);
    const domains = new Map<string, Domain>();
    let dns: FakeDns | undefined;
    const world: World = {
      get dns() {
        if (!dns) throw new Error("sandbox: no DNS server (publish a domain)");
        return dns;
      },
      domain(name) {
        const found = domains.get(name);
        if (!found) throw new Error(`sandbox: no domain "${name}" built yet (domains are built in the order given)`);
        return found;
      },
      stop,
    };
    if (this.plans.some(([, plan]) => plan.parts.has("publish"))) {
      const server = await startFakeDns();
      started.push(() => server.close());
      dns = server;
    }
    for (const [name, plan] of this.plans) domains.set(name, await buildDomain(name, plan, world, dns, started));
    return world;
  }
}

/** Starts a sandbox; `build()` starts its domains and registers their teardown with `t`. */
export function sandbox(t: Teardown): SandboxBuilder {
  return new SandboxBuilder(t);
}

/** The domain as the test sees it: reading a part it did not ask for is a mistake in the test, said at once. */
function domainOf(name: string, parts: Parts): Domain {
  const domain = { name };
  for (const key of ["gateway", "url", "port", "registry", "nsmgr", "nseRegistry", "redis", "seedNsmgrs", "clusterInfo"] as const) {
    Object.defineProperty(domain, key, {
      enumerable: true,
      get: () => {
        if (parts[key] === undefined) throw new Error(`sandbox: domain "${name}" has no ${key} (ask for it in the builder)`);
        return parts[key];
      },
    });
  }
  return domain as Domain;
}

async function buildDomain(name: string, plan: DomainBuilder, world: World, dns: FakeDns | undefined, started: Started): Promise<Domain> {
  const parts: Parts = { name };
  if (plan.parts.has("registry")) {
    const registry = await startFakeV1Registry();
    started.push(() => registry.kill());
    parts.registry = registry;
  }
  if (plan.parts.has("nsmgr")) {
    const nsmgr = await startFakeV1Nsmgr(plan.nsmgrOptions);
    started.push(() => nsmgr.server.kill());
    const nseRegistry = await startFakeNseRegistry(Object.fromEntries((plan.nsmgrOptions.endpoints ?? []).map(nse => [nse, nsmgr.url])));
    started.push(() => nseRegistry.server.kill());
    parts.nsmgr = nsmgr;
    parts.nseRegistry = nseRegistry;
  }
  if (plan.parts.has("seed")) {
    const seedNsmgrs: FakeNsmgr[] = [];
    for (const options of plan.seedOptions.nsmgrs) {
      const nsmgr = await startFakeNsmgr(options);
      started.push(() => nsmgr.server.kill());
      seedNsmgrs.push(nsmgr);
    }
    const clusterInfo = await startFakeClusterInfo(plan.seedOptions.nodes);
    started.push(() => clusterInfo.kill());
    parts.seedNsmgrs = seedNsmgrs;
    parts.clusterInfo = clusterInfo;
  }
  if (plan.parts.has("redis")) {
    const redis = await startRedis();
    started.push(() => redis.stop());
    parts.redis = redis;
  }
  if (plan.parts.has("gateway")) {
    const gateway = await startDomainGateway(name, plan, parts, world, dns, started);
    parts.gateway = gateway;
    parts.url = `tcp://${gateway.v1Address}`;
    parts.port = Number(gateway.v1Address.slice(gateway.v1Address.lastIndexOf(":") + 1));
  }
  if (plan.parts.has("publish") && dns) publish(dns, name, plan.publishOptions, parts);
  return domainOf(name, parts);
}

async function startDomainGateway(
  name: string,
  plan: DomainBuilder,
  parts: Parts,
  world: World,
  dns: FakeDns | undefined,
  started: Started,
): Promise<Gateway> {
  const extras = plan.gatewayExtras;
  const dir = mkdtempSync(join(tmpdir(), `pnsmgr-sandbox-${name}-`));
  started.push(() => rmSync(dir, { recursive: true, force: true }));
  const files: Partial<Config> = {};
  if (extras.ipMap) {
    files.mapIpFile = join(dir, "map-ip.yaml");
    writeFileSync(files.mapIpFile, extras.ipMap.map(([from, to]) => `${from}: ${to}\n`).join(""));
  }
  if (extras.clusterName !== undefined) {
    files.clusterInfoFile = join(dir, "clusterinfo.yaml");
    writeFileSync(files.clusterInfoFile, `clusterName: ${extras.clusterName}\n`);
  }
  const registryUrl = parts.registry ? `tcp://${parts.registry.address}` : parts.nseRegistry?.url;
  const port = extras.publicHost === undefined ? undefined : await freePort();
  // Not startTestGateway: the sandbox stops its own gateways (stopGateways() would stop them twice).
  const config = testConfig({
    ...(registryUrl === undefined ? {} : { registryUrl }),
    ...(dns ? { dnsServer: dns.address } : {}),
    ...(parts.redis ? { state: stateOptionsFromEnv({ REDIS_URL: parts.redis.url }) } : {}),
    ...(port === undefined ? {} : { v1ListenAddress: `127.0.0.1:${port}`, v1PublicUrl: `tcp://${extras.publicHost}:${port}` }),
    ...(extras.seedRemote === undefined ? {} : { remotePort: world.domain(extras.seedRemote).clusterInfo.port }),
    ...files,
    ...plan.gatewayOverrides,
  });
  const gateway = await startGateway(config, { log: silentLogger });
  started.push(() => gateway.stop(100));
  if (extras.nodes) gateway.nodes.replace(extras.nodes);
  for (const [nse, url] of Object.entries(extras.routes?.(world) ?? {})) await gateway.routes.set(nse, url);
  return gateway;
}

function publish(dns: FakeDns, name: string, options: PublishOptions, parts: Parts): void {
  const registry = parts.registry;
  if (registry) {
    const host = options.registryHost ?? `registry-lb.${name}.test`;
    dns.srv(`registry.nsm-system.${name}`, host, registry.port).a(host, "127.0.0.1");
  }
  if (parts.port !== undefined) {
    const host = options.proxyHost ?? `proxy-lb.${name}.test`;
    dns.srv(`nsmgr-proxy.nsm-system.${name}`, host, parts.port).a(host, "127.0.0.1");
  }
}

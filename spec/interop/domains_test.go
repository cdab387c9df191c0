package interop

import (
	"context"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/edwarnicke/grpcfd"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/nsmgrproxy"
	"github.com/networkservicemesh/sdk/pkg/registry"
	"github.com/networkservicemesh/sdk/pkg/registry/chains/memory"
	"github.com/networkservicemesh/sdk/pkg/registry/chains/proxydns"
	"github.com/networkservicemesh/sdk/pkg/registry/common/dnsresolve"
	"github.com/networkservicemesh/sdk/pkg/tools/sandbox"
	"github.com/networkservicemesh/sdk/pkg/tools/token"
)

// proxyKind is what serves a domain's interdomain edge.
type proxyKind string

const (
	// sdkProxy: the SDK's nsmgr-proxy + registry-proxy-dns, in-process, started by the harness on a
	// URL chosen beforehand (exactly where a pnsmgr would be), resolving remote domains through the
	// harness DNS server over the wire.
	sdkProxy proxyKind = "sdk"
	// pnsmgrProxy: a pnsmgr process (node --import tsx lib/main.ts).
	pnsmgrProxy proxyKind = "pnsmgr"
)

// Per-test deadline: every scenario ends (fails) within this, whatever pnsmgr does.
const scenarioTimeout = 30 * time.Second

// env is one test's world: a context with a deadline, the shared fake resolver (the sandbox's DNS
// data) and the harness DNS server answering from it.
type env struct {
	t        *testing.T
	ctx      context.Context
	cancel   context.CancelFunc // tears the sandbox down
	resolver dnsresolve.Resolver
	dns      *dnsServer
	// requestTimeout is one NSC Request's or Close's deadline (requestTimeout unless a scenario needs
	// less: the SDK expires a connection at its token expiry minus the Request's deadline).
	requestTimeout time.Duration
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWithin(t, scenarioTimeout)
}

// newEnvWithin is newEnv with another deadline (scenarios that wait for SVIDs to expire).
func newEnvWithin(t *testing.T, timeout time.Duration) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	// The sandbox goes down with the context: in each pnsmgr's cleanup (BeforeStop, so that pnsmgr's drain
	// has no open peer streams to wait for) and at the latest here (registered first, runs last).
	t.Cleanup(cancel)
	resolver := sandbox.NewFakeResolver()
	e := &env{t: t, ctx: ctx, cancel: cancel, resolver: resolver, dns: startDNSServer(t, resolver), requestTimeout: requestTimeout}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("INTEROP_VERBOSE") != "" {
			t.Logf("harness DNS queries: %q", e.dns.Queries())
		}
	})
	return e
}

// domain is one NSM domain built with the sandbox plus its proxy.
type domain struct {
	*sandbox.Domain
	Kind      proxyKind
	ProxyURL  *url.URL // where the domain's registry forwards `@` names; the SRV nsmgr-proxy.nsm-system.<domain>
	ProxyName string   // the proxy's path segment name
	Pnsmgr    *pnsmgrProcess
	pnsmgrOpt pnsmgrOptions
	sdk       *sdkProxyServer
	env       *env
}

// registryWithProxy is a sandbox registry supplier: the SDK's memory registry whose `@` traffic goes to
// proxyURL (the sandbox would pass its own nsmgr-proxy URL, nil here because the sandbox builds none).
// The registry built last is kept in *built (for serving it on one more listener).
func registryWithProxy(proxyURL *url.URL, built *registry.Registry) sandbox.SupplyRegistryFunc {
	return func(ctx context.Context, tokenGenerator token.GeneratorFunc, defaultExpiration time.Duration, _ *url.URL, options ...grpc.DialOption) registry.Registry {
		r := memory.NewServer(ctx, tokenGenerator,
			memory.WithDefaultExpiration(defaultExpiration),
			memory.WithProxyRegistryURL(sandbox.CloneURL(proxyURL)),
			memory.WithDialOptions(options...))
		*built = r
		return r
	}
}

// newDomain builds domain `name` with `nodes` nodes (nsmgr + forwarder each) and starts its proxy of
// the given kind. The sandbox builds no nsmgr-proxy/registry-proxy-dns of its own; the registry forwards
// every `@` name to the proxy URL, and the harness adds the SRV entry nsmgr-proxy.nsm-system.<name> ->
// proxy URL (Build adds registry.nsm-system.<name> -> registry URL).
//
// No port is picked by closing a listener and reusing its number: the SDK proxy's listeners are opened
// here and served later; pnsmgr binds port 0 and prints its address. As the registry must know the proxy
// URL when it is built and pnsmgr must know a registry URL when it starts, pnsmgr gets a listener opened
// first and served with the same registry once it exists.
func (e *env) newDomain(name string, nodes int, kind proxyKind) *domain {
	t := e.t
	t.Helper()
	d := &domain{Kind: kind, env: e}
	var proxyLn, registryProxyLn, pnsmgrRegistryLn net.Listener
	switch kind {
	case sdkProxy:
		d.ProxyName = "sdk-proxy-" + name
		proxyLn, registryProxyLn = listenLocal(t), listenLocal(t)
		d.ProxyURL = listenerURL(proxyLn)
	case pnsmgrProxy:
		d.ProxyName = "pnsmgr-" + name
		pnsmgrRegistryLn = listenLocal(t)
		d.pnsmgrOpt = pnsmgrOptions{
			Name:        d.ProxyName,
			RegistryURL: listenerURL(pnsmgrRegistryLn),
			DNSServer:   e.dns.Addr,
			ClusterInfo: "clusterName: " + name + "\n",
			BeforeStop: func() {
				e.cancel()
				time.Sleep(100 * time.Millisecond) // the sandbox's servers stop asynchronously
			},
		}
		d.Pnsmgr = startPnsmgr(t, d.pnsmgrOpt)
		d.ProxyURL = d.Pnsmgr.URL
		d.pnsmgrOpt.URL = d.ProxyURL // a restart binds the same address again
	default:
		t.Fatalf("unknown proxy kind %q", kind)
	}

	var reg registry.Registry
	d.Domain = sandbox.NewBuilder(e.ctx, t).
		SetNodesCount(nodes).
		SetDNSResolver(e.resolver).
		SetDNSDomainName(name).
		SetNSMgrProxySupplier(nil).
		SetRegistryProxySupplier(nil).
		SetRegistrySupplier(registryWithProxy(d.ProxyURL, &reg)).
		Build()
	require.NoError(t, sandbox.AddSRVEntry(e.resolver, name, dnsresolve.DefaultNsmgrProxyService, d.ProxyURL))

	switch kind {
	case sdkProxy:
		d.sdk = e.startSDKProxy(d.ProxyName, proxyLn, registryProxyLn, d.Registry.URL)
	case pnsmgrProxy:
		e.serveOn(e.ctx, pnsmgrRegistryLn, reg.Register)
	}
	t.Logf("domain %s: registry %s, nsmgr %s, proxy %s (%s) at %s", name, d.Registry.URL, nsmgrURLs(d.Domain), d.ProxyName, kind, d.ProxyURL)
	return d
}

// newFloatingDomain builds a domain of 0 nodes whose registry is the floating registry: a plain memory
// registry with no proxy, reachable as registry.nsm-system.<name>; it has no nsmgr-proxy SRV entry.
func (e *env) newFloatingDomain(name string) *sandbox.Domain {
	e.t.Helper()
	d := sandbox.NewBuilder(e.ctx, e.t).
		SetNodesCount(0).
		SetDNSResolver(e.resolver).
		SetDNSDomainName(name).
		SetNSMgrProxySupplier(nil).
		SetRegistryProxySupplier(nil).
		Build()
	e.t.Logf("floating domain %s: registry %s", name, d.Registry.URL)
	return d
}

// sdkProxyServer is the SDK's nsmgr-proxy + registry-proxy-dns started by the harness (restartable).
type sdkProxyServer struct {
	e                *env
	name             string
	url, registryURL *url.URL
	registryProxyURL *url.URL
	listeners        []net.Listener // for the first start: opened by the caller, served by start
	cancel           context.CancelFunc
}

// startSDKProxy serves the SDK's nsmgr-proxy on proxyLn and its registry-proxy-dns on registryProxyLn,
// both stopped with the test's context. The proxy resolves remote domains through the harness DNS server.
func (e *env) startSDKProxy(name string, proxyLn, registryProxyLn net.Listener, registryURL *url.URL) *sdkProxyServer {
	e.t.Helper()
	s := &sdkProxyServer{e: e, name: name, url: listenerURL(proxyLn), registryURL: registryURL, registryProxyURL: listenerURL(registryProxyLn),
		listeners: []net.Listener{proxyLn, registryProxyLn}}
	s.start()
	return s
}

// start serves on the listeners given to startSDKProxy the first time, and binds the same addresses
// again after a crash.
func (s *sdkProxyServer) start() {
	e, t := s.e, s.e.t
	t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	s.cancel = cancel
	proxyLn, registryProxyLn := s.listen(0, s.url), s.listen(1, s.registryProxyURL)
	s.listeners = nil
	dialOptions := sandbox.DialOptions(sandbox.WithTokenGenerator(sandbox.GenerateTestToken))

	registryProxy := proxydns.NewServer(ctx, sandbox.GenerateTestToken, e.dns.netResolver(),
		proxydns.WithDialOptions(dialOptions...))
	e.serveOn(ctx, registryProxyLn, registryProxy.Register, wiretapOptions("registry-proxy-dns-"+s.name)...)

	proxy := nsmgrproxy.NewServer(ctx, sandbox.CloneURL(s.registryURL), sandbox.CloneURL(s.registryProxyURL), sandbox.GenerateTestToken,
		nsmgrproxy.WithName(s.name),
		nsmgrproxy.WithListenOn(sandbox.CloneURL(s.url)),
		nsmgrproxy.WithDialOptions(dialOptions...),
		nsmgrproxy.WithDialTimeout(sandbox.DialTimeout),
		nsmgrproxy.WithMapIPFilePath(emptyMapIPFile(t)),
	)
	e.serveOn(ctx, proxyLn, proxy.Register, wiretapOptions(s.name)...)
}

// listen is the i-th listener handed over for the first start, or a new one on u.
func (s *sdkProxyServer) listen(i int, u *url.URL) net.Listener {
	if i < len(s.listeners) {
		return s.listeners[i]
	}
	ln, err := net.Listen("tcp", u.Host)
	require.NoError(s.e.t, err, "listening again on %s", u)
	return ln
}

// crash stops the proxy (all its connections drop, all its state is lost).
func (s *sdkProxyServer) crash() {
	s.cancel()
	waitURLFree(s.e.t, s.url)
	waitURLFree(s.e.t, s.registryProxyURL)
}

// serveOn is the sandbox's (unexported) serve on a listener the caller opened: a gRPC server with the
// sandbox's h2c credentials, stopped (connections dropped) when ctx ends.
func (e *env) serveOn(ctx context.Context, ln net.Listener, register func(*grpc.Server), options ...grpc.ServerOption) {
	serveWith(ctx, ln, grpcfd.TransportCredentials(insecure.NewCredentials()), register, options...)
}

// serveWith serves a gRPC server with the given transport credentials on ln until ctx ends.
func serveWith(ctx context.Context, ln net.Listener, creds credentials.TransportCredentials, register func(*grpc.Server), options ...grpc.ServerOption) {
	server := grpc.NewServer(append([]grpc.ServerOption{grpc.Creds(creds)}, options...)...)
	register(server)
	go func() {
		<-ctx.Done()
		server.Stop()
	}()
	go func() { _ = server.Serve(ln) }()
}

// CrashProxy kills the domain's proxy (pnsmgr: SIGKILL; SDK: its servers stop, state lost).
func (d *domain) CrashProxy() {
	d.env.t.Helper()
	switch d.Kind {
	case pnsmgrProxy:
		d.Pnsmgr.kill()
		waitURLFree(d.env.t, d.ProxyURL)
	case sdkProxy:
		d.sdk.crash()
	}
	d.env.t.Logf("proxy %s of %s crashed", d.ProxyName, d.Name)
}

// StartProxy starts the domain's proxy again on the same URL with the same name (and empty state).
func (d *domain) StartProxy() {
	d.env.t.Helper()
	switch d.Kind {
	case pnsmgrProxy:
		d.Pnsmgr = startPnsmgr(d.env.t, d.pnsmgrOpt)
	case sdkProxy:
		d.sdk.start()
	}
	d.env.t.Logf("proxy %s of %s restarted", d.ProxyName, d.Name)
}

// waitURLFree waits until nothing listens on u any more.
func waitURLFree(t *testing.T, u *url.URL) {
	t.Helper()
	require.Eventually(t, func() bool { return sandbox.CheckURLFree(u) }, 10*time.Second, 20*time.Millisecond, "%s still in use", u)
}

func emptyMapIPFile(t *testing.T) string {
	p := t.TempDir() + "/map-ip.yaml"
	require.NoError(t, os.WriteFile(p, []byte("{}\n"), 0o600))
	return p
}

func nsmgrURLs(d *sandbox.Domain) []string {
	var urls []string
	for _, n := range d.Nodes {
		urls = append(urls, n.NSMgr.URL.String())
	}
	return urls
}

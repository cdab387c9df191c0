package interop

import (
	"context"
	"net"
	"net/url"
	"os/exec"
	"testing"
	"time"

	"github.com/edwarnicke/genericsync"
	"github.com/edwarnicke/grpcfd"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/networkservicemesh/api/pkg/api/networkservice"
	registryapi "github.com/networkservicemesh/api/pkg/api/registry"

	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/client"
	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/endpoint"
	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/nsmgr"
	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/nsmgrproxy"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/authorize"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/connect"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/discover"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/heal"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/mechanismtranslation"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/roundrobin"
	registryclient "github.com/networkservicemesh/sdk/pkg/registry/chains/client"
	"github.com/networkservicemesh/sdk/pkg/registry/chains/memory"
	"github.com/networkservicemesh/sdk/pkg/registry/chains/proxydns"
	registryauthorize "github.com/networkservicemesh/sdk/pkg/registry/common/authorize"
	"github.com/networkservicemesh/sdk/pkg/registry/common/dnsresolve"
	authmonitor "github.com/networkservicemesh/sdk/pkg/tools/monitorconnection/authorize"
	"github.com/networkservicemesh/sdk/pkg/tools/opa"
	"github.com/networkservicemesh/sdk/pkg/tools/sandbox"
	"github.com/networkservicemesh/sdk/pkg/tools/spiffejwt"
	"github.com/networkservicemesh/sdk/pkg/tools/token"
)

// Secured domains: what a real NSM deployment runs. Every component (registry, nsmgr, forwarder, NSE,
// NSC, and the SDK's nsmgr-proxy + registry-proxy-dns) serves and dials mTLS only, with the X.509 SVID
// and trust bundles (own + federated) of a go-spiffe X509Source on a real SPIRE agent, signs its path
// segment's token as an ES256 JWT with its SVID key (spiffejwt), and checks what it receives with the
// SDK's authorize servers and NSM's default policy files. The sandbox cannot be given TLS (it serves
// h2c), so the domain is assembled from the SDK's chains here, as NSM's cmd-* mains do.

// The maximum token lifetime NSM's cmds default to (NSM_MAX_TOKEN_LIFETIME).
const securedTokenLifetime = 10 * time.Minute

// securedIdentity is one SPIFFE identity of this test binary: an X509Source serving one SVID.
type securedIdentity struct {
	ID     spiffeid.ID
	Source *workloadapi.X509Source
}

func newSecuredIdentity(t *testing.T, ctx context.Context, spire *spireFixture, td, path string, ttlSeconds int) *securedIdentity {
	t.Helper()
	id := spiffeid.RequireFromString("spiffe://" + td + path)
	return &securedIdentity{ID: id, Source: spire.identity(t, ctx, td, id.String(), ttlSeconds)}
}

// Tokens is the SDK's SPIFFE token generator (ES256, sub = own ID, aud = the TLS peer's ID).
func (i *securedIdentity) Tokens() token.GeneratorFunc {
	return spiffejwt.TokenGeneratorFunc(i.Source, securedTokenLifetime)
}

// ServerCreds: mTLS, any peer whose SVID chains to the own or a federated bundle (as NSM's cmds).
func (i *securedIdentity) ServerCreds() credentials.TransportCredentials {
	return grpcfd.TransportCredentials(credentials.NewTLS(tlsconfig.MTLSServerConfig(i.Source, i.Source, tlsconfig.AuthorizeAny())))
}

// ClientCreds: mTLS with the same trust.
func (i *securedIdentity) ClientCreds() credentials.TransportCredentials {
	return grpcfd.TransportCredentials(credentials.NewTLS(tlsconfig.MTLSClientConfig(i.Source, i.Source, tlsconfig.AuthorizeAny())))
}

// DialOptions as NSM's cmds build them: mTLS plus the SPIFFE token on every call.
func (i *securedIdentity) DialOptions() []grpc.DialOption {
	return i.DialOptionsWithTokens(i.Tokens())
}

// DialOptionsWithTokens: mTLS with this identity, path tokens from gen (refusal tests forge them).
func (i *securedIdentity) DialOptionsWithTokens(gen token.GeneratorFunc) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(i.ClientCreds()),
		grpc.WithDefaultCallOptions(grpc.PerRPCCredentials(token.NewPerRPCCredentials(gen))),
		grpcfd.WithChainStreamInterceptor(),
		grpcfd.WithChainUnaryInterceptor(),
	}
}

// NSM's default policy files (embedded in the SDK), as cmd-nsmgr, cmd-registry-memory and
// cmd-nsmgr-proxy configure them.
var (
	registryPolicyPaths = []string{"etc/nsm/opa/common/.*.rego", "etc/nsm/opa/registry/.*.rego", "etc/nsm/opa/server/.*.rego"}
	monitorPolicyPaths  = []string{"etc/nsm/opa/monitor/.*.rego"}
)

// authorizers are one component's authorize servers, sharing the SPIFFE ID -> connections map that the
// monitor policy reads.
type authorizers struct {
	connections *genericsync.Map[spiffeid.ID, *genericsync.Map[string, struct{}]]
}

func newAuthorizers() *authorizers {
	return &authorizers{connections: new(genericsync.Map[spiffeid.ID, *genericsync.Map[string, struct{}]])}
}

// Server: Request/Close with the default policies (tokens_valid, tokens_chained, tokens_expired, prev_token_signed).
func (a *authorizers) Server() networkservice.NetworkServiceServer {
	return authorize.NewServer(authorize.WithSpiffeIDConnectionMap(a.connections))
}

// Monitor: MonitorConnections with the service_connection policy.
func (a *authorizers) Monitor(t *testing.T) networkservice.MonitorConnectionServer {
	policies, err := opa.PoliciesByFileMask(monitorPolicyPaths...)
	require.NoError(t, err)
	var list []authmonitor.Policy
	for _, p := range policies {
		list = append(list, p)
	}
	return authmonitor.NewMonitorConnectionServer(authmonitor.WithSpiffeIDConnectionMap(a.connections), authmonitor.WithPolicies(list...))
}

func (a *authorizers) NSRegistry() registryapi.NetworkServiceRegistryServer {
	return registryauthorize.NewNetworkServiceRegistryServer(registryauthorize.WithPolicies(registryPolicyPaths...))
}

func (a *authorizers) NSERegistry() registryapi.NetworkServiceEndpointRegistryServer {
	return registryauthorize.NewNetworkServiceEndpointRegistryServer(registryauthorize.WithPolicies(registryPolicyPaths...))
}

// securedDomain is one NSM domain of one node: registry, nsmgr, forwarder and the interdomain proxy,
// all on mTLS with the domain's identity.
type securedDomain struct {
	Name        string // DNS domain name (svc@<Name>)
	TrustDomain string
	Identity    *securedIdentity
	Kind        proxyKind

	RegistryURL, NSMgrURL, ForwarderURL *url.URL
	ProxyURL, RegistryProxyURL          *url.URL // RegistryProxyURL: the SDK proxy's registry-proxy-dns (kind sdk)
	NSMgrName, ForwarderName, ProxyName string
	ProxyID                             spiffeid.ID    // the proxy's SPIFFE ID (a pnsmgr has its own)
	Pnsmgr                              *pnsmgrProcess // kind pnsmgr

	// registerTimeout is a registration's deadline. The SDK's registry expires a registration at
	// min(token expiry) minus the Register call's own deadline, and refreshes it at 2/3 of its lifetime,
	// so with short-lived SVIDs (tokens never outlive them) the deadline must stay under a third of the
	// SVID's shortest remaining life (half its TTL, when SPIRE rotates).
	registerTimeout time.Duration

	env *env
}

// securedOptions vary a secured domain.
type securedOptions struct {
	// IdentityPath is the SPIFFE ID path of the domain's components (default /nsm); each path is
	// registered once per run, with SvidTTL seconds (default: the server's, 1 h).
	IdentityPath string
	SvidTTL      int
}

// newSecuredDomain builds domain `name` in SPIRE trust domain td with its interdomain proxy of the given
// kind. Every listener is opened first (port 0, kept open), so each component knows the others' URLs
// before anything serves; a pnsmgr is started first (port 0, its address read back) with a registry URL
// whose listener is served once the registry, which must know pnsmgr's URL, exists.
func (e *env) newSecuredDomain(spire *spireFixture, name, td string, kind proxyKind, options ...securedOptions) *securedDomain {
	t := e.t
	t.Helper()
	o := securedOptions{IdentityPath: "/nsm"}
	if len(options) > 0 {
		o = options[0]
	}
	d := &securedDomain{Name: name, TrustDomain: td, Kind: kind, env: e,
		Identity:        newSecuredIdentity(t, e.ctx, spire, td, o.IdentityPath, o.SvidTTL),
		NSMgrName:       "nsmgr-" + name,
		ForwarderName:   "forwarder-" + name,
		registerTimeout: findTimeout,
	}
	if o.SvidTTL > 0 {
		d.registerTimeout = time.Duration(o.SvidTTL) * time.Second / 8
	}
	registryLn, nsmgrLn, forwarderLn := listenLocal(t), listenLocal(t), listenLocal(t)
	d.RegistryURL, d.NSMgrURL, d.ForwarderURL = listenerURL(registryLn), listenerURL(nsmgrLn), listenerURL(forwarderLn)
	var proxyLn, registryProxyLn net.Listener
	switch kind {
	case sdkProxy:
		d.ProxyName = "sdk-proxy-" + name
		d.ProxyID = d.Identity.ID
		proxyLn, registryProxyLn = listenLocal(t), listenLocal(t)
		d.ProxyURL, d.RegistryProxyURL = listenerURL(proxyLn), listenerURL(registryProxyLn)
	case pnsmgrProxy:
		d.ProxyName = "pnsmgr-" + name
		// pnsmgr's own SVID: from node on PATH; with short-lived SVIDs, from a copy of node (another
		// workload to SPIRE) so that the two entries never meet in one process.
		node, idPath := "", "/pnsmgr"
		if o.SvidTTL > 0 {
			node, idPath = nodeBinaryCopy(t), "/pnsmgr-rotating"
		}
		d.ProxyID = spiffeid.RequireFromString("spiffe://" + td + idPath)
		socket := spire.pnsmgrIdentity(t, td, d.ProxyID.String(), pathOr(node, "node"), o.SvidTTL)
		d.Pnsmgr = startPnsmgr(t, pnsmgrOptions{
			Name:                 d.ProxyName,
			Node:                 node,
			RegistryURL:          d.RegistryURL,
			DNSServer:            e.dns.Addr,
			ClusterInfo:          "clusterName: " + name + "\n",
			SpiffeEndpointSocket: socket,
			BeforeStop: func() {
				e.cancel()
				time.Sleep(100 * time.Millisecond) // the in-process servers stop asynchronously
			},
		})
		d.ProxyURL = d.Pnsmgr.URL
	default:
		t.Fatalf("unknown proxy kind %q", kind)
	}
	id, dial, ctx := d.Identity, d.Identity.DialOptions(), e.ctx

	authz := newAuthorizers()
	reg := memory.NewServer(ctx, id.Tokens(),
		memory.WithDefaultExpiration(time.Minute),
		memory.WithProxyRegistryURL(sandbox.CloneURL(d.ProxyURL)),
		memory.WithDialOptions(dial...),
		memory.WithAuthorizeNSRegistryServer(authz.NSRegistry()),
		memory.WithAuthorizeNSERegistryServer(authz.NSERegistry()),
	)
	serveWith(ctx, registryLn, id.ServerCreds(), reg.Register)

	authz = newAuthorizers()
	mgr := nsmgr.NewServer(ctx, id.Tokens(),
		nsmgr.WithName(d.NSMgrName),
		nsmgr.WithURL(d.NSMgrURL.String()),
		nsmgr.WithRegistry(sandbox.CloneURL(d.RegistryURL)),
		nsmgr.WithDialOptions(dial...),
		nsmgr.WithDialTimeout(sandbox.DialTimeout),
		nsmgr.WithAuthorizeServer(authz.Server()),
		nsmgr.WithAuthorizeMonitorConnectionServer(authz.Monitor(t)),
		nsmgr.WithAuthorizeNSRegistryServer(authz.NSRegistry()),
		nsmgr.WithAuthorizeNSERegistryServer(authz.NSERegistry()),
	)
	serveWith(ctx, nsmgrLn, id.ServerCreds(), mgr.Register)

	d.startForwarder(forwarderLn)

	require.NoError(t, sandbox.AddSRVEntry(e.resolver, name, dnsresolve.DefaultRegistryService, d.RegistryURL))
	require.NoError(t, sandbox.AddSRVEntry(e.resolver, name, dnsresolve.DefaultNsmgrProxyService, d.ProxyURL))
	if kind == sdkProxy {
		d.startSDKProxy(proxyLn, registryProxyLn)
	}
	t.Logf("secured domain %s (%s as %s): registry %s, nsmgr %s, forwarder %s, proxy %s (%s) at %s",
		name, td, id.ID, d.RegistryURL, d.NSMgrURL, d.ForwarderURL, d.ProxyName, d.ProxyID, d.ProxyURL)
	return d
}

// pathOr is binary, or the path of `name` on PATH when binary is empty.
func pathOr(binary, name string) string {
	if binary != "" {
		return binary
	}
	found, err := exec.LookPath(name)
	if err != nil {
		return name
	}
	return found
}

// SubjectOf is the SPIFFE ID whose tokens a path segment of this domain carries: the proxy's own for
// the proxy's segment, the in-process components' otherwise.
func (d *securedDomain) SubjectOf(segmentName string) spiffeid.ID {
	if segmentName == d.ProxyName {
		return d.ProxyID
	}
	return d.Identity.ID
}

// startForwarder is the sandbox's forwarder (Node.NewForwarder) on mTLS: an endpoint that discovers the
// next hop through the nsmgr and connects to it, registered as NS `forwarder` with p2p=true.
func (d *securedDomain) startForwarder(ln net.Listener) {
	e, id, ctx := d.env, d.Identity, d.env.ctx
	dial := id.DialOptions()
	nseClient := registryclient.NewNetworkServiceEndpointRegistryClient(ctx,
		registryclient.WithClientURL(sandbox.CloneURL(d.NSMgrURL)), registryclient.WithDialOptions(dial...))
	nsClient := registryclient.NewNetworkServiceRegistryClient(ctx,
		registryclient.WithClientURL(sandbox.CloneURL(d.NSMgrURL)), registryclient.WithDialOptions(dial...))
	authz := newAuthorizers()
	fwd := endpoint.NewServer(ctx, id.Tokens(),
		endpoint.WithName(d.ForwarderName),
		endpoint.WithAuthorizeServer(authz.Server()),
		endpoint.WithAuthorizeMonitorConnectionServer(authz.Monitor(e.t)),
		endpoint.WithAdditionalFunctionality(
			discover.NewServer(nsClient, nseClient),
			roundrobin.NewServer(),
			connect.NewServer(client.NewClient(ctx,
				client.WithName(d.ForwarderName),
				client.WithAdditionalFunctionality(mechanismtranslation.NewClient()),
				client.WithDialOptions(dial...),
				client.WithDialTimeout(sandbox.DialTimeout),
				client.WithoutRefresh(),
			)),
		),
	)
	serveWith(ctx, ln, id.ServerCreds(), fwd.Register)
	d.register(&registryapi.NetworkServiceEndpoint{
		Name:                 d.ForwarderName,
		NetworkServiceNames:  []string{"forwarder"},
		NetworkServiceLabels: map[string]*registryapi.NetworkServiceLabels{"forwarder": {Labels: map[string]string{"p2p": "true"}}},
		Url:                  d.ForwarderURL.String(),
	})
}

// startSDKProxy: the SDK's nsmgr-proxy + registry-proxy-dns as cmd-nsmgr-proxy and
// cmd-registry-proxy-dns run them: mTLS, SPIFFE tokens, the default authorize servers.
func (d *securedDomain) startSDKProxy(proxyLn, registryProxyLn net.Listener) {
	e, id, ctx := d.env, d.Identity, d.env.ctx
	dial := id.DialOptions()
	authz := newAuthorizers()
	registryProxy := proxydns.NewServer(ctx, id.Tokens(), e.dns.netResolver(),
		proxydns.WithDialOptions(dial...),
		proxydns.WithAuthorizeNSRegistryServer(authz.NSRegistry()),
		proxydns.WithAuthorizeNSERegistryServer(authz.NSERegistry()),
	)
	serveWith(ctx, registryProxyLn, id.ServerCreds(), registryProxy.Register, wiretapOptions("registry-proxy-dns-"+d.ProxyName)...)

	authz = newAuthorizers()
	proxy := nsmgrproxy.NewServer(ctx, sandbox.CloneURL(d.RegistryURL), sandbox.CloneURL(d.RegistryProxyURL), id.Tokens(),
		nsmgrproxy.WithName(d.ProxyName),
		nsmgrproxy.WithListenOn(sandbox.CloneURL(d.ProxyURL)),
		nsmgrproxy.WithDialOptions(dial...),
		nsmgrproxy.WithDialTimeout(sandbox.DialTimeout),
		nsmgrproxy.WithMapIPFilePath(emptyMapIPFile(e.t)),
		nsmgrproxy.WithAuthorizeServer(authz.Server()),
		nsmgrproxy.WithAuthorizeMonitorConnectionServer(authz.Monitor(e.t)),
		nsmgrproxy.WithAuthorizeNSRegistryServer(authz.NSRegistry()),
		nsmgrproxy.WithAuthorizeNSERegistryServer(authz.NSERegistry()),
	)
	serveWith(ctx, proxyLn, id.ServerCreds(), proxy.Register, wiretapOptions(d.ProxyName)...)
}

// register registers an NSE through the domain's nsmgr (as an NSE or forwarder does).
func (d *securedDomain) register(nse *registryapi.NetworkServiceEndpoint) *registryapi.NetworkServiceEndpoint {
	e := d.env
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, d.registerTimeout)
	defer cancel()
	c := registryclient.NewNetworkServiceEndpointRegistryClient(e.ctx,
		registryclient.WithClientURL(sandbox.CloneURL(d.NSMgrURL)), registryclient.WithDialOptions(d.Identity.DialOptions()...))
	reg, err := c.Register(ctx, nse)
	require.NoError(e.t, err, "registering NSE %s through %s", nse.GetName(), d.NSMgrName)
	return reg
}

// RegisterNS registers a network service in the domain's registry.
func (d *securedDomain) RegisterNS(name string) {
	e := d.env
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, d.registerTimeout)
	defer cancel()
	c := registryclient.NewNetworkServiceRegistryClient(e.ctx,
		registryclient.WithClientURL(sandbox.CloneURL(d.RegistryURL)), registryclient.WithDialOptions(d.Identity.DialOptions()...))
	_, err := c.Register(ctx, &registryapi.NetworkService{Name: name})
	require.NoError(e.t, err, "registering NS %s in %s", name, d.Name)
}

// NewEndpoint serves an NSE (default authorize server) on mTLS and registers it through the nsmgr.
func (d *securedDomain) NewEndpoint(name, service string, additional ...networkservice.NetworkServiceServer) *registryapi.NetworkServiceEndpoint {
	e, id := d.env, d.Identity
	e.t.Helper()
	ln := listenLocal(e.t)
	authz := newAuthorizers()
	nse := endpoint.NewServer(e.ctx, id.Tokens(),
		endpoint.WithName(name),
		endpoint.WithAuthorizeServer(authz.Server()),
		endpoint.WithAuthorizeMonitorConnectionServer(authz.Monitor(e.t)),
		endpoint.WithAdditionalFunctionality(additional...),
	)
	serveWith(e.ctx, ln, id.ServerCreds(), nse.Register)
	return d.register(&registryapi.NetworkServiceEndpoint{Name: name, NetworkServiceNames: []string{service}, Url: listenerURL(ln).String()})
}

// NewNSC is an NSC on the domain's nsmgr with the SDK's default authorize client (next_token_signed)
// and heal, no retry (a refused Request fails at once with the real error).
func (d *securedDomain) NewNSC() networkservice.NetworkServiceClient {
	e := d.env
	return client.NewClient(e.ctx,
		client.WithName("nsc-"+d.Name),
		client.WithClientURL(sandbox.CloneURL(d.NSMgrURL)),
		client.WithDialOptions(d.Identity.DialOptions()...),
		client.WithAuthorizeClient(authorize.NewClient()),
		client.WithHealClient(heal.NewClient(e.ctx)),
		client.WithDialTimeout(sandbox.DialTimeout),
	)
}

package interop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/protobuf/ptypes/empty"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/networkservicemesh/api/pkg/api/networkservice"
	"github.com/networkservicemesh/api/pkg/api/networkservice/mechanisms/cls"
	"github.com/networkservicemesh/api/pkg/api/networkservice/mechanisms/kernel"
	registryapi "github.com/networkservicemesh/api/pkg/api/registry"

	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/client"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/authorize"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/heal"
	"github.com/networkservicemesh/sdk/pkg/networkservice/core/next"
	"github.com/networkservicemesh/sdk/pkg/networkservice/utils/count"
	registryclient "github.com/networkservicemesh/sdk/pkg/registry/chains/client"
	registrynull "github.com/networkservicemesh/sdk/pkg/registry/common/null"
	"github.com/networkservicemesh/sdk/pkg/tools/sandbox"
)

const (
	// One NSC Request (or Close) through 8 hops; fails with the real error instead of retrying.
	requestTimeout = 15 * time.Second
	// A registry Find through both proxies.
	findTimeout = 10 * time.Second
	// The NSC heals onto a new NSE within this.
	healTimeout = 20 * time.Second
	tick        = 50 * time.Millisecond

	serviceName  = "svc"
	endpointName = "nse"
)

// ---------------------------------------------------------------------------------------------------
// Tests

// TestInterop_Baseline_SDKProxies proves the harness wiring: the same topology as the pnsmgr tests (the
// sandbox builds no proxy; each domain's registry forwards `@` names to a proxy URL picked beforehand;
// DNS over the wire from the harness DNS server) with the SDK's own nsmgr-proxy + registry-proxy-dns
// on both sides.
func TestInterop_Baseline_SDKProxies(t *testing.T) {
	t.Run("Basic", func(t *testing.T) { runBasic(t, sdkProxy, sdkProxy) })
	t.Run("Heal", func(t *testing.T) { runHeal(t, sdkProxy, sdkProxy) })
	t.Run("Floating", func(t *testing.T) { runFloating(t, sdkProxy, sdkProxy) })
	t.Run("Watch", func(t *testing.T) { runWatch(t, sdkProxy, sdkProxy) })
	t.Run("RestartProxy1", func(t *testing.T) { runProxyRestart(t, sdkProxy, sdkProxy, 1) })
	t.Run("RestartProxy2", func(t *testing.T) { runProxyRestart(t, sdkProxy, sdkProxy, 2) })
}

// TestInterop_HarnessDNS checks the harness DNS server answers what the SDK and pnsmgr look up.
func TestInterop_HarnessDNS(t *testing.T) {
	e := newEnv(t)
	u := &url.URL{Scheme: "tcp", Host: "127.0.0.1:5999"} // only looked up, never dialed
	require.NoError(t, sandbox.AddSRVEntry(e.resolver, "cluster9", "registry.nsm-system", u))
	r := e.dns.netResolver()
	_, srvs, err := r.LookupSRV(e.ctx, "", "", "registry.nsm-system.cluster9")
	require.NoError(t, err)
	require.Len(t, srvs, 1)
	require.Equal(t, u.Port(), fmt.Sprint(srvs[0].Port))
	require.Equal(t, "registry.nsm-system.cluster9.", srvs[0].Target)
	ips, err := r.LookupIPAddr(e.ctx, srvs[0].Target)
	require.NoError(t, err)
	require.Len(t, ips, 1)
	require.Equal(t, "127.0.0.1", ips[0].IP.String())
	_, _, err = r.LookupSRV(e.ctx, "", "", "nsmgr-proxy.nsm-system.cluster9")
	require.Error(t, err, "no nsmgr-proxy entry: NXDOMAIN")
}

// TestInterop_Basic: pnsmgr in both domains; Find, Request svc@cluster2, refresh, Close.
func TestInterop_Basic(t *testing.T) { runBasic(t, pnsmgrProxy, pnsmgrProxy) }

// TestInterop_Heal: pnsmgr in both domains; the NSE dies, a second one appears, the NSC heals onto it.
func TestInterop_Heal(t *testing.T) { runHeal(t, pnsmgrProxy, pnsmgrProxy) }

// TestInterop_Floating: pnsmgr in both domains; nse@floating.domain registered from cluster2, requested
// as svc@floating.domain from cluster1.
func TestInterop_Floating(t *testing.T) { runFloating(t, pnsmgrProxy, pnsmgrProxy) }

// TestInterop_Watch: pnsmgr in both domains; a `watch:true` NSE Find through cluster1's registry sees NSEs
// of cluster2 appear and disappear.
func TestInterop_Watch(t *testing.T) { runWatch(t, pnsmgrProxy, pnsmgrProxy) }

// TestInterop_RestartProxy: pnsmgr in both domains; the client-side (1) or NSE-side (2) pnsmgr is killed
// (SIGKILL) and started again on the same URL; the connection heals through it.
func TestInterop_RestartProxy(t *testing.T) {
	t.Run("Proxy1", func(t *testing.T) { runProxyRestart(t, pnsmgrProxy, pnsmgrProxy, 1) })
	t.Run("Proxy2", func(t *testing.T) { runProxyRestart(t, pnsmgrProxy, pnsmgrProxy, 2) })
}

// TestInterop_Mixed_SDKToPnsmgr: the client's domain has the SDK's nsmgr-proxy, the NSE's domain pnsmgr.
func TestInterop_Mixed_SDKToPnsmgr(t *testing.T) {
	t.Run("Basic", func(t *testing.T) { runBasic(t, sdkProxy, pnsmgrProxy) })
	t.Run("Heal", func(t *testing.T) { runHeal(t, sdkProxy, pnsmgrProxy) })
	t.Run("Floating", func(t *testing.T) { runFloating(t, sdkProxy, pnsmgrProxy) })
}

// TestInterop_Mixed_PnsmgrToSDK: the client's domain has pnsmgr, the NSE's domain the SDK's nsmgr-proxy.
func TestInterop_Mixed_PnsmgrToSDK(t *testing.T) {
	t.Run("Basic", func(t *testing.T) { runBasic(t, pnsmgrProxy, sdkProxy) })
	t.Run("Heal", func(t *testing.T) { runHeal(t, pnsmgrProxy, sdkProxy) })
	t.Run("Floating", func(t *testing.T) { runFloating(t, pnsmgrProxy, sdkProxy) })
}

// ---------------------------------------------------------------------------------------------------
// Scenarios

// runBasic: nsc(cluster1) -> nsmgr1 -> fwd1 -> nsmgr1... -> proxy1 -> proxy2 -> nsmgr2 -> fwd2 -> nse.
func runBasic(t *testing.T, kind1, kind2 proxyKind) {
	e := newEnv(t)
	d1 := e.newDomain("cluster1", 1, kind1)
	d2 := e.newDomain("cluster2", 1, kind2)

	registerNS(e, d2.Domain, serviceName)
	nse := newRecordingNSE()
	d2.Nodes[0].NewEndpoint(e.ctx, &registryapi.NetworkServiceEndpoint{Name: endpointName, NetworkServiceNames: []string{serviceName}},
		sandbox.GenerateTestToken, nse.counter, nse)

	remoteNS := serviceName + "@" + d2.Name
	checkRegistry(e, d1, remoteNS, endpointName+"@"+d2.Name)

	nsc := newNSC(e, d1)
	request := newRequest(remoteNS)
	conn := doRequest(e, nsc, request.Clone(), "Request "+remoteNS)
	checkPath(e, conn, d1, d2, endpointName)
	require.Equal(t, 1, nse.counter.UniqueRequests(), "the NSE saw the Request")
	nse.checkLast(t, serviceName, endpointName)
	if kind2 == pnsmgrProxy {
		// The NSE-side proxy merges its cluster info (PNSMGR_CLUSTER_INFO_FILE) into the connection labels,
		// as the SDK's clusterinfo element does with /etc/clusterinfo/config.yaml.
		require.Equal(t, d2.Name, nse.labels()["clusterName"], "connection labels at the NSE: %v", nse.labels())
	}

	// Refresh with the returned connection: same connection id, same path ids, still one connection at the NSE.
	refresh := request.Clone()
	refresh.Connection = conn.Clone()
	conn2 := doRequest(e, nsc, refresh, "refresh of "+remoteNS)
	checkPath(e, conn2, d1, d2, endpointName)
	require.Equal(t, conn.GetId(), conn2.GetId(), "refresh keeps the connection id")
	for i, seg := range conn.GetPath().GetPathSegments() {
		require.Equal(t, seg.GetId(), conn2.GetPath().GetPathSegments()[i].GetId(),
			"refresh keeps path segment %d (%s) id", i, seg.GetName())
	}
	require.Equal(t, 1, nse.counter.UniqueRequests(), "a refresh is not a new connection at the NSE")
	require.GreaterOrEqual(t, nse.counter.Requests(), 2, "the refresh reached the NSE")

	doClose(e, nsc, conn2, "Close "+remoteNS)
	require.Eventually(t, func() bool { return nse.counter.UniqueCloses() == 1 }, 5*time.Second, tick,
		"Close reached the NSE (closes seen: %d)", nse.counter.Closes())
}

// runHeal: as the SDK's TestNSMGR_HealEndpoint, across domains: the NSE dies, nse-2 for the same
// service is registered, the NSC's heal reselects onto it through both proxies.
func runHeal(t *testing.T, kind1, kind2 proxyKind) {
	e := newEnv(t)
	d1 := e.newDomain("cluster1", 1, kind1)
	d2 := e.newDomain("cluster2", 1, kind2)

	registerNS(e, d2.Domain, serviceName)
	nse := newRecordingNSE()
	nse1 := d2.Nodes[0].NewEndpoint(e.ctx, &registryapi.NetworkServiceEndpoint{Name: endpointName, NetworkServiceNames: []string{serviceName}},
		sandbox.GenerateTestToken, nse.counter, nse)

	remoteNS := serviceName + "@" + d2.Name
	nsc := newNSC(e, d1)
	request := newRequest(remoteNS)
	conn := doRequest(e, nsc, request.Clone(), "Request "+remoteNS)
	checkPath(e, conn, d1, d2, endpointName)
	require.Equal(t, 1, nse.counter.UniqueRequests())

	// The NSE dies; a second NSE for the service appears (same counter, as in the SDK's heal tests).
	nse1.Cancel()
	const endpoint2 = endpointName + "-2"
	d2.Nodes[0].NewEndpoint(e.ctx, &registryapi.NetworkServiceEndpoint{Name: endpoint2, NetworkServiceNames: []string{serviceName}},
		sandbox.GenerateTestToken, nse.counter, nse)

	require.Eventually(t, func() bool { return nse.counter.UniqueRequests() >= 2 }, healTimeout, tick,
		"the NSC did not heal onto %s (requests at the NSEs: %d unique, %d total)", endpoint2, nse.counter.UniqueRequests(), nse.counter.Requests())
	require.Equal(t, 2, nse.counter.UniqueRequests())
	nse.checkLast(t, serviceName, endpoint2)
	closes := nse.counter.UniqueCloses()

	// Refresh with the old connection, then Close it: both go to nse-2 now.
	refresh := request.Clone()
	refresh.Connection = conn.Clone()
	conn2 := doRequest(e, nsc, refresh, "refresh after heal")
	checkPath(e, conn2, d1, d2, endpoint2)

	doClose(e, nsc, conn, "Close after heal")
	require.Equal(t, 2, nse.counter.UniqueRequests())
	require.Eventually(t, func() bool { return nse.counter.UniqueCloses() == closes+1 }, 5*time.Second, tick,
		"Close after heal reached nse-2")
}

// runProxyRestart: an established connection survives a crash and restart (same URL, empty state) of the
// client-side proxy (side 1) or the NSE-side proxy (side 2): the monitor streams through the dead proxy
// break, the NSC sees DOWN and heals (the default heal reselects), and then refresh and Close work again.
func runProxyRestart(t *testing.T, kind1, kind2 proxyKind, side int) {
	e := newEnv(t)
	d1 := e.newDomain("cluster1", 1, kind1)
	d2 := e.newDomain("cluster2", 1, kind2)

	registerNS(e, d2.Domain, serviceName)
	nse := newRecordingNSE()
	d2.Nodes[0].NewEndpoint(e.ctx, &registryapi.NetworkServiceEndpoint{Name: endpointName, NetworkServiceNames: []string{serviceName}},
		sandbox.GenerateTestToken, nse.counter, nse)

	remoteNS := serviceName + "@" + d2.Name
	nsc := newNSC(e, d1)
	request := newRequest(remoteNS)
	conn := doRequest(e, nsc, request.Clone(), "Request "+remoteNS)
	checkPath(e, conn, d1, d2, endpointName)
	requests := nse.counter.Requests()

	restarted := map[int]*domain{1: d1, 2: d2}[side]
	restarted.CrashProxy()
	time.Sleep(500 * time.Millisecond) // let the NSC see the broken monitor streams while the proxy is down
	restarted.StartProxy()

	require.Eventually(t, func() bool { return nse.counter.Requests() > requests }, healTimeout, tick,
		"the NSC did not heal through the restarted %s (requests at the NSE: %d)", restarted.ProxyName, nse.counter.Requests())

	refresh := request.Clone()
	refresh.Connection = conn.Clone()
	conn2 := doRequest(e, nsc, refresh, "refresh after the restart of "+restarted.ProxyName)
	checkPath(e, conn2, d1, d2, endpointName)

	doClose(e, nsc, conn2, "Close after the restart of "+restarted.ProxyName)
	require.Eventually(t, func() bool { return nse.counter.Closes() >= 1 }, 5*time.Second, tick, "Close reached the NSE")
}

// runWatch: nsmgrs keep `watch:true` Finds open through the proxies. A watch on NSEs of svc@cluster2 opened
// through cluster1's registry sees the existing NSE, then one registered later in cluster2, then its
// deletion (deleted=true), all under `@cluster2` names with proxy1's URL.
func runWatch(t *testing.T, kind1, kind2 proxyKind) {
	e := newEnv(t)
	d1 := e.newDomain("cluster1", 1, kind1)
	d2 := e.newDomain("cluster2", 1, kind2)
	registerNS(e, d2.Domain, serviceName)
	nse := newRecordingNSE()
	d2.Nodes[0].NewEndpoint(e.ctx, &registryapi.NetworkServiceEndpoint{Name: endpointName, NetworkServiceNames: []string{serviceName}},
		sandbox.GenerateTestToken, nse.counter, nse)

	remoteNS := serviceName + "@" + d2.Name
	ctx, cancel := context.WithTimeout(e.ctx, healTimeout)
	defer cancel()
	cc, err := grpc.NewClient(d1.Registry.URL.Host, sandbox.DialOptions()...)
	require.NoError(t, err)
	defer func() { _ = cc.Close() }()
	stream, err := registryapi.NewNetworkServiceEndpointRegistryClient(cc).Find(ctx, &registryapi.NetworkServiceEndpointQuery{
		NetworkServiceEndpoint: &registryapi.NetworkServiceEndpoint{NetworkServiceNames: []string{remoteNS}},
		Watch:                  true,
	})
	require.NoError(t, err, "watch Find through %s's registry", d1.Name)
	events := make(chan *registryapi.NetworkServiceEndpointResponse, 16)
	go func() {
		defer close(events)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			events <- resp
		}
	}()
	next := func(what string) *registryapi.NetworkServiceEndpointResponse {
		t.Helper()
		select {
		case ev, ok := <-events:
			require.True(t, ok, "the watch stream through %s ended while waiting for %s (%v); %s", d1.ProxyName, what, ctx.Err(),
				askProxyNSE(e, d1, &registryapi.NetworkServiceEndpoint{NetworkServiceNames: []string{remoteNS}}))
			t.Logf("watch event: deleted=%v name=%s url=%s", ev.GetDeleted(), ev.GetNetworkServiceEndpoint().GetName(), ev.GetNetworkServiceEndpoint().GetUrl())
			return ev
		case <-ctx.Done():
			require.FailNow(t, "no watch event", "waiting for %s through %s", what, d1.ProxyName)
			return nil
		}
	}

	ev := next("the existing NSE")
	require.False(t, ev.GetDeleted())
	require.Equal(t, endpointName+"@"+d2.Name, ev.GetNetworkServiceEndpoint().GetName())
	require.Equal(t, d1.ProxyURL.String(), ev.GetNetworkServiceEndpoint().GetUrl())

	// A second NSE registered straight into cluster2's registry, then unregistered.
	const endpoint2 = endpointName + "-2"
	regCtx, regCancel := context.WithTimeout(e.ctx, findTimeout)
	defer regCancel()
	reg := registryclient.NewNetworkServiceEndpointRegistryClient(e.ctx, registryClientOptions(d2.Registry.URL)...)
	nse2 := &registryapi.NetworkServiceEndpoint{Name: endpoint2, NetworkServiceNames: []string{serviceName}, Url: d2.Nodes[0].NSMgr.URL.String()}
	registered, err := reg.Register(regCtx, nse2.Clone())
	require.NoError(t, err, "registering %s in %s", endpoint2, d2.Name)

	for {
		ev = next("the NSE registered later")
		if ev.GetNetworkServiceEndpoint().GetName() == endpoint2+"@"+d2.Name {
			break
		}
	}
	require.False(t, ev.GetDeleted())
	require.Equal(t, d1.ProxyURL.String(), ev.GetNetworkServiceEndpoint().GetUrl())

	_, err = reg.Unregister(regCtx, registered)
	require.NoError(t, err, "unregistering %s in %s", endpoint2, d2.Name)
	for {
		ev = next("the deletion of the NSE")
		if ev.GetNetworkServiceEndpoint().GetName() == endpoint2+"@"+d2.Name && ev.GetDeleted() {
			break
		}
	}
}

// runFloating: as the SDK's TestNSMGR_FloatingInterdomainUseCase_FloatingNetworkServiceNameRegistration:
// NS svc@floating.domain and NSE nse@floating.domain registered from cluster2 (through proxy2 into the
// floating registry), svc@floating.domain requested from cluster1.
func runFloating(t *testing.T, kind1, kind2 proxyKind) {
	e := newEnv(t)
	d1 := e.newDomain("cluster1", 1, kind1)
	d2 := e.newDomain("cluster2", 1, kind2)
	floating := e.newFloatingDomain("floating.domain")

	floatingNS := serviceName + "@" + floating.Name
	floatingNSE := endpointName + "@" + floating.Name
	registerNS(e, d2.Domain, floatingNS)
	nse := newRecordingNSE()
	d2.Nodes[0].NewEndpoint(e.ctx, &registryapi.NetworkServiceEndpoint{Name: floatingNSE, NetworkServiceNames: []string{floatingNS}},
		sandbox.GenerateTestToken, nse.counter, nse)

	// In the floating registry the names are bare and the URL is proxy2's (so that cluster1 reaches it).
	nses := findNSEs(e, floating, &registryapi.NetworkServiceEndpoint{Name: endpointName})
	require.Len(t, nses, 1, "the floating registry holds the NSE registered as %s (registered from %s through %s)", floatingNSE, d2.Name, d2.ProxyName)
	require.Equal(t, []string{serviceName}, nses[0].GetNetworkServiceNames(), "NS names in the floating registry")
	require.Equal(t, d2.ProxyURL.String(), nses[0].GetUrl(), "the floating registry's NSE URL is proxy2's public URL")
	require.NotNil(t, nses[0].GetExpirationTime(), "the floating registration has an expiration time")

	checkRegistry(e, d1, floatingNS, floatingNSE)

	nsc := newNSC(e, d1)
	request := newRequest(floatingNS)
	conn := doRequest(e, nsc, request.Clone(), "Request "+floatingNS)
	checkPath(e, conn, d1, d2, floatingNSE)
	nse.checkLast(t, floatingNS, floatingNSE)

	refresh := request.Clone()
	refresh.Connection = conn.Clone()
	conn2 := doRequest(e, nsc, refresh, "refresh of "+floatingNS)
	checkPath(e, conn2, d1, d2, floatingNSE)
	require.Equal(t, 1, nse.counter.UniqueRequests())

	doClose(e, nsc, conn2, "Close "+floatingNS)
	require.Eventually(t, func() bool { return nse.counter.UniqueCloses() == 1 }, 5*time.Second, tick, "Close reached the NSE")
}

// ---------------------------------------------------------------------------------------------------
// Steps

func registerNS(e *env, d *sandbox.Domain, name string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, findTimeout)
	defer cancel()
	_, err := d.NewNSRegistryClient(e.ctx, sandbox.GenerateTestToken).Register(ctx, &registryapi.NetworkService{Name: name})
	require.NoError(e.t, err, "registering NS %s in %s", name, d.Name)
}

// checkRegistry: from cluster1's registry (which forwards `@` to proxy1), the NS is found under its
// `@domain` name and the NSE comes back named `<nse>@<domain>` with proxy1's URL (so that nsmgr1 sends
// the Request to proxy1) and an expiration time.
func checkRegistry(e *env, d1 *domain, nsName, wantNSE string) {
	t := e.t
	t.Helper()
	nsQuery := &registryapi.NetworkService{Name: nsName}
	nsList := findNSs(e, d1.Domain, nsQuery)
	if len(nsList) != 1 {
		require.Len(t, nsList, 1, "NS Find {name:%q} through %s's registry; %s", nsName, d1.Name, askProxyNS(e, d1, nsQuery))
	}
	require.Equal(t, nsName, nsList[0].GetName(), "NS name as found from %s", d1.Name)

	nseQuery := &registryapi.NetworkServiceEndpoint{NetworkServiceNames: []string{nsName}}
	nses := findNSEs(e, d1.Domain, nseQuery)
	if len(nses) != 1 {
		require.Len(t, nses, 1, "NSE Find {network_service_names:[%q]} through %s's registry; %s", nsName, d1.Name, askProxyNSE(e, d1, nseQuery))
	}
	got := nses[0]
	t.Logf("NSE found from %s: name=%s url=%s ns=%v labels=%v expires=%v", d1.Name, got.GetName(), got.GetUrl(),
		got.GetNetworkServiceNames(), got.GetNetworkServiceLabels(), got.GetExpirationTime().AsTime())
	require.Equal(t, wantNSE, got.GetName(), "NSE name as found from %s", d1.Name)
	require.Equal(t, []string{nsName}, got.GetNetworkServiceNames(), "NSE's NS names as found from %s", d1.Name)
	require.Equal(t, d1.ProxyURL.String(), got.GetUrl(), "NSE URL as found from %s must be its proxy's public URL", d1.Name)
	require.NotNil(t, got.GetExpirationTime(), "NSE expiration time must be kept (expired/empty ones are dropped by nsmgr)")
	require.True(t, got.GetExpirationTime().AsTime().After(time.Now()), "NSE expiration time is in the future")

	byNameQuery := &registryapi.NetworkServiceEndpoint{Name: wantNSE}
	byName := findNSEs(e, d1.Domain, byNameQuery)
	if len(byName) != 1 {
		require.Len(t, byName, 1, "NSE Find {name:%q} through %s's registry; %s", wantNSE, d1.Name, askProxyNSE(e, d1, byNameQuery))
	}
	require.Equal(t, d1.ProxyURL.String(), byName[0].GetUrl(), "NSE URL (Find by name) as found from %s", d1.Name)
}

// registryClientOptions: the SDK's registry client to u, with the sandbox's dial options unless dial is
// given (secured scenarios: mTLS and SPIFFE tokens).
func registryClientOptions(u *url.URL, dial ...grpc.DialOption) []registryclient.Option {
	if len(dial) == 0 {
		dial = sandbox.DialOptions()
	}
	return []registryclient.Option{
		registryclient.WithClientURL(sandbox.CloneURL(u)),
		registryclient.WithDialOptions(dial...),
		registryclient.WithDialTimeout(sandbox.DialTimeout),
		// Fail with the real error, do not retry until the deadline.
		registryclient.WithNSRetryClient(registrynull.NewNetworkServiceRegistryClient()),
		registryclient.WithNSERetryClient(registrynull.NewNetworkServiceEndpointRegistryClient()),
	}
}

// findNSsAt runs an NS Find (watch false) at the registry server at u (dial: as registryClientOptions)
// and reads the stream to its end.
func findNSsAt(e *env, u *url.URL, query *registryapi.NetworkService, dial ...grpc.DialOption) ([]*registryapi.NetworkService, error) {
	ctx, cancel := context.WithTimeout(e.ctx, findTimeout)
	defer cancel()
	c := registryclient.NewNetworkServiceRegistryClient(ctx, registryClientOptions(u, dial...)...)
	stream, err := c.Find(ctx, &registryapi.NetworkServiceQuery{NetworkService: query})
	if err != nil {
		return nil, err
	}
	return recvAll(stream.Recv, (*registryapi.NetworkServiceResponse).GetNetworkService)
}

// findNSEsAt runs an NSE Find (watch false) at the registry server at u and reads the stream to its end.
func findNSEsAt(e *env, u *url.URL, query *registryapi.NetworkServiceEndpoint, dial ...grpc.DialOption) ([]*registryapi.NetworkServiceEndpoint, error) {
	ctx, cancel := context.WithTimeout(e.ctx, findTimeout)
	defer cancel()
	c := registryclient.NewNetworkServiceEndpointRegistryClient(ctx, registryClientOptions(u, dial...)...)
	stream, err := c.Find(ctx, &registryapi.NetworkServiceEndpointQuery{NetworkServiceEndpoint: query})
	if err != nil {
		return nil, err
	}
	return recvAll(stream.Recv, (*registryapi.NetworkServiceEndpointResponse).GetNetworkServiceEndpoint)
}

// recvAll reads a Find stream to its end (io.EOF), keeping get(response) of each response.
func recvAll[R any, T any](recv func() (R, error), get func(R) T) ([]T, error) {
	var list []T
	for {
		resp, err := recv()
		if err != nil {
			if isEOF(err) {
				return list, nil
			}
			return list, err
		}
		list = append(list, get(resp))
	}
}

func findNSs(e *env, d *sandbox.Domain, query *registryapi.NetworkService) []*registryapi.NetworkService {
	e.t.Helper()
	list, err := findNSsAt(e, d.Registry.URL, query)
	require.NoError(e.t, err, "NS Find %v in %s's registry", query, d.Name)
	return list
}

func findNSEs(e *env, d *sandbox.Domain, query *registryapi.NetworkServiceEndpoint) []*registryapi.NetworkServiceEndpoint {
	e.t.Helper()
	list, err := findNSEsAt(e, d.Registry.URL, query)
	require.NoError(e.t, err, "NSE Find %v in %s's registry", query, d.Name)
	return list
}

// The sandbox registry turns a failed `@` Find at the proxy into an empty answer (the error is lost), so
// when a Find through the registry comes back wrong, the harness asks the proxy itself to show why.
func askProxyNS(e *env, d *domain, query *registryapi.NetworkService) string {
	list, err := findNSsAt(e, d.ProxyURL, query)
	return fmt.Sprintf("asked directly, %s answers %d NS %v, error: %v", d.ProxyName, len(list), list, err)
}

func askProxyNSE(e *env, d *domain, query *registryapi.NetworkServiceEndpoint) string {
	list, err := findNSEsAt(e, d.ProxyURL, query)
	return fmt.Sprintf("asked directly, %s answers %d NSE %v, error: %v", d.ProxyName, len(list), list, err)
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// newNSC is the sandbox's NSC (Node.NewClient) without the retry wrapper, so a failing Request returns
// its error at once; heal is on, as in the sandbox.
func newNSC(e *env, d *domain) networkservice.NetworkServiceClient {
	return client.NewClient(e.ctx,
		client.WithName("nsc-"+d.Name),
		client.WithClientURL(sandbox.CloneURL(d.Nodes[0].NSMgr.URL)),
		client.WithDialOptions(sandbox.DialOptions()...),
		client.WithAuthorizeClient(authorize.NewClient(authorize.Any())),
		client.WithHealClient(heal.NewClient(e.ctx)),
		client.WithDialTimeout(sandbox.DialTimeout),
	)
}

func newRequest(networkService string) *networkservice.NetworkServiceRequest {
	return &networkservice.NetworkServiceRequest{
		MechanismPreferences: []*networkservice.Mechanism{{Cls: cls.LOCAL, Type: kernel.MECHANISM}},
		Connection: &networkservice.Connection{
			Id:             uuid.NewString(),
			NetworkService: networkService,
			Context:        &networkservice.ConnectionContext{},
			Labels:         map[string]string{},
		},
	}
}

func doRequest(e *env, nsc networkservice.NetworkServiceClient, request *networkservice.NetworkServiceRequest, what string) *networkservice.Connection {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, e.requestTimeout)
	defer cancel()
	start := time.Now()
	conn, err := nsc.Request(ctx, request)
	require.NoError(e.t, err, "%s (after %s)", what, time.Since(start).Round(time.Millisecond))
	require.NotNil(e.t, conn)
	e.t.Logf("%s (%s): %s", what, time.Since(start).Round(time.Millisecond), describePath(conn))
	return conn
}

func doClose(e *env, nsc networkservice.NetworkServiceClient, conn *networkservice.Connection, what string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, e.requestTimeout)
	defer cancel()
	start := time.Now()
	_, err := nsc.Close(ctx, conn)
	require.NoError(e.t, err, "%s (after %s)", what, time.Since(start).Round(time.Millisecond))
	e.t.Logf("%s: done in %s", what, time.Since(start).Round(time.Millisecond))
}

// checkPath: nsc, nsmgr1, fwd1, proxy1, proxy2, nsmgr2, fwd2, nse; every segment with an id and
// an expiry; the connection id is the NSC's segment id.
func checkPath(e *env, conn *networkservice.Connection, d1, d2 *domain, nse string) {
	t := e.t
	t.Helper()
	segs := conn.GetPath().GetPathSegments()
	require.Len(t, segs, 8, "path: %s", describePath(conn))
	require.Equal(t, d1.Nodes[0].NSMgr.Name, segs[1].GetName(), "segment 1 is nsmgr1; path: %s", describePath(conn))
	require.Equal(t, d1.ProxyName, segs[3].GetName(), "segment 3 is proxy1; path: %s", describePath(conn))
	require.Equal(t, d2.ProxyName, segs[4].GetName(), "segment 4 is proxy2; path: %s", describePath(conn))
	require.Equal(t, d2.Nodes[0].NSMgr.Name, segs[5].GetName(), "segment 5 is nsmgr2; path: %s", describePath(conn))
	require.Equal(t, nse, segs[7].GetName(), "segment 7 is the NSE; path: %s", describePath(conn))
	for i, s := range segs {
		require.NotEmpty(t, s.GetId(), "segment %d (%s) has an id", i, s.GetName())
		require.NotEmpty(t, s.GetToken(), "segment %d (%s) has a token", i, s.GetName())
		require.NotNil(t, s.GetExpires(), "segment %d (%s) has expires", i, s.GetName())
	}
	require.Equal(t, segs[0].GetId(), conn.GetId(), "the NSC's connection id is its own segment id")
	require.Equal(t, 0, int(conn.GetPath().GetIndex()), "path index as the NSC sees it")
}

func describePath(conn *networkservice.Connection) string {
	var parts []string
	for i, s := range conn.GetPath().GetPathSegments() {
		parts = append(parts, fmt.Sprintf("[%d]%s", i, s.GetName()))
	}
	return fmt.Sprintf("id=%s ns=%s nse=%s state=%s path(index %d)=%s", conn.GetId(), conn.GetNetworkService(),
		conn.GetNetworkServiceEndpointName(), conn.GetState(), conn.GetPath().GetIndex(), strings.Join(parts, " "))
}

// ---------------------------------------------------------------------------------------------------
// NSE elements

// recordingNSE counts (count.Server) and remembers what the last Request looked like at the endpoint.
type recordingNSE struct {
	counter    *count.Server
	mu         sync.Mutex
	lastNS     string
	lastNSE    string
	lastLabels map[string]string
}

func newRecordingNSE() *recordingNSE { return &recordingNSE{counter: new(count.Server)} }

func (r *recordingNSE) Request(ctx context.Context, request *networkservice.NetworkServiceRequest) (*networkservice.Connection, error) {
	r.mu.Lock()
	r.lastNS = request.GetConnection().GetNetworkService()
	r.lastNSE = request.GetConnection().GetNetworkServiceEndpointName()
	r.lastLabels = map[string]string{}
	for k, v := range request.GetConnection().GetLabels() {
		r.lastLabels[k] = v
	}
	r.mu.Unlock()
	return next.Server(ctx).Request(ctx, request)
}

func (r *recordingNSE) Close(ctx context.Context, conn *networkservice.Connection) (*empty.Empty, error) {
	return next.Server(ctx).Close(ctx, conn)
}

func (r *recordingNSE) labels() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastLabels
}

// checkLast: the NSE sees its own names (proxy2 strips `@domain` from the NS and NSE names).
func (r *recordingNSE) checkLast(t *testing.T, ns, nse string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Equal(t, ns, r.lastNS, "network_service as the NSE sees it")
	require.Equal(t, nse, r.lastNSE, "network_service_endpoint_name as the NSE sees it")
}

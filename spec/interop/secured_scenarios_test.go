package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/uuid"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/networkservicemesh/api/pkg/api/networkservice"
	"github.com/networkservicemesh/api/pkg/api/networkservice/mechanisms/cls"
	"github.com/networkservicemesh/api/pkg/api/networkservice/mechanisms/kernel"
	registryapi "github.com/networkservicemesh/api/pkg/api/registry"

	registryclient "github.com/networkservicemesh/sdk/pkg/registry/chains/client"
	"github.com/networkservicemesh/sdk/pkg/tools/token"
)

// ---------------------------------------------------------------------------------------------------
// Tests

// TestInterop_Secured_Baseline_SDKProxies: two secured domains (cluster1 in trust domain cluster1.test,
// cluster2 in cluster2.test, federated), the SDK's proxies on both sides: what pnsmgr's secured mode must
// match. Request svc@cluster2 with every hop on mTLS and every segment's token an ES256 JWT that chains,
// refresh, monitor, Close, registry Find and watch through the proxies, SVID rotation.
func TestInterop_Secured_Baseline_SDKProxies(t *testing.T) {
	runSecuredScenarios(t, sdkProxy, sdkProxy)
}

// TestInterop_Secured_Pnsmgr: pnsmgr in both secured domains (SPIFFE_ENDPOINT_SOCKET, its own SVID
// spiffe://<td>/pnsmgr): the baseline's scenarios.
func TestInterop_Secured_Pnsmgr(t *testing.T) { runSecuredScenarios(t, pnsmgrProxy, pnsmgrProxy) }

// TestInterop_Secured_Mixed_SDKToPnsmgr: the client's domain has the SDK's nsmgr-proxy, the NSE's pnsmgr.
func TestInterop_Secured_Mixed_SDKToPnsmgr(t *testing.T) {
	runSecuredScenarios(t, sdkProxy, pnsmgrProxy)
}

// TestInterop_Secured_Mixed_PnsmgrToSDK: the client's domain has pnsmgr, the NSE's the SDK's nsmgr-proxy.
func TestInterop_Secured_Mixed_PnsmgrToSDK(t *testing.T) {
	runSecuredScenarios(t, pnsmgrProxy, sdkProxy)
}

// TestInterop_Secured_Refusals_SDKProxy: what the SDK's nsmgr-proxy (cluster2) refuses: no TLS, an SVID
// of a trust domain it does not trust, and path tokens that are forged, expired, for another audience or
// do not chain. Each case is checked against a control that differs only in the one thing refused.
func TestInterop_Secured_Refusals_SDKProxy(t *testing.T) {
	runSecuredRefusals(t, useSpire(t), sdkProxy)
}

// TestInterop_Secured_Refusals_Pnsmgr: the same refusals against pnsmgr as cluster2's proxy (cluster1
// keeps the SDK's proxy); pnsmgr's PERMISSION_DENIED also names the policy.
func TestInterop_Secured_Refusals_Pnsmgr(t *testing.T) {
	runSecuredRefusals(t, useSpire(t), pnsmgrProxy)
}

// runSecuredScenarios runs the secured scenarios with the given proxies (client side, NSE side); rotation
// (about 35 s) only with the same kind on both sides.
func runSecuredScenarios(t *testing.T, kind1, kind2 proxyKind) {
	spire := useSpire(t)
	t.Run("Basic", func(t *testing.T) { runSecuredBasic(t, spire, kind1, kind2) })
	t.Run("Registry", func(t *testing.T) { runSecuredRegistry(t, spire, kind1, kind2) })
	if kind1 == kind2 {
		t.Run("Rotation", func(t *testing.T) { runSecuredRotation(t, spire, kind1, kind2) })
	}
}

// ---------------------------------------------------------------------------------------------------
// Scenarios

func newSecuredPair(t *testing.T, spire *spireFixture, kind1, kind2 proxyKind) (*env, *securedDomain, *securedDomain, *recordingNSE) {
	return newSecuredPairIn(newEnv(t), spire, kind1, kind2)
}

func newSecuredPairIn(e *env, spire *spireFixture, kind1, kind2 proxyKind, options ...securedOptions) (*env, *securedDomain, *securedDomain, *recordingNSE) {
	d1 := e.newSecuredDomain(spire, "cluster1", trustDomain1, kind1, options...)
	d2 := e.newSecuredDomain(spire, "cluster2", trustDomain2, kind2, options...)
	d2.RegisterNS(serviceName)
	nse := newRecordingNSE()
	d2.NewEndpoint(endpointName, serviceName, nse.counter, nse)
	return e, d1, d2, nse
}

// runSecuredBasic: nsc(cluster1) -> nsmgr1 -> fwd1 -> proxy1 -> proxy2 -> nsmgr2 -> fwd2 -> nse, all mTLS.
func runSecuredBasic(t *testing.T, spire *spireFixture, kind1, kind2 proxyKind) {
	e, d1, d2, nse := newSecuredPair(t, spire, kind1, kind2)
	remoteNS := serviceName + "@" + d2.Name

	nsc := d1.NewNSC()
	request := newRequest(remoteNS)
	conn := doRequest(e, nsc, request.Clone(), "Request "+remoteNS)
	checkSecuredPath(e, conn, d1, d2, endpointName)
	require.Equal(t, 1, nse.counter.UniqueRequests(), "the NSE saw the Request")
	nse.checkLast(t, serviceName, endpointName)

	// Monitor at proxy1 as nsmgr1's identity (which made the Request through it): the connection is
	// there. cluster2's identity, which has no connection through proxy1, is refused.
	checkMonitor(e, d1.ProxyURL, d1.Identity, conn)
	err := monitorFirst(e, d1.ProxyURL, d2.Identity, conn)
	requireCode(t, codes.PermissionDenied, err, "monitor at %s as %s", d1.ProxyName, d2.Identity.ID)

	refresh := request.Clone()
	refresh.Connection = conn.Clone()
	conn2 := doRequest(e, nsc, refresh, "refresh of "+remoteNS)
	checkSecuredPath(e, conn2, d1, d2, endpointName)
	require.Equal(t, conn.GetId(), conn2.GetId(), "refresh keeps the connection id")
	require.Equal(t, 1, nse.counter.UniqueRequests(), "a refresh is not a new connection at the NSE")

	doClose(e, nsc, conn2, "Close "+remoteNS)
	require.Eventually(t, func() bool { return nse.counter.UniqueCloses() == 1 }, 5*time.Second, tick,
		"Close reached the NSE (closes seen: %d)", nse.counter.Closes())
}

// How long the rotation scenario's SVIDs live: SPIRE rotates them at about half of it, and the SDK caps
// every token's expiry at its own and its peer's SVID expiry, so the connection is refreshed every few
// seconds and must outlive its first SVIDs. The SDK's NSE-side timeout closes a connection at its token
// expiry minus the Request's deadline, so Requests get rotatingRequestTimeout, well under a third of the
// shortest token life (half the TTL).
const (
	rotatingSvidTTL        = 30
	rotatingRequestTimeout = 4 * time.Second
)

// runSecuredRotation: with 30 s SVIDs on both sides, an established connection outlives the SVIDs it was
// made with (refreshes keep going through with rotated SVIDs and tokens; the NSE never times it out), and
// a new Request after the first SVIDs expired gets through.
func runSecuredRotation(t *testing.T, spire *spireFixture, kind1, kind2 proxyKind) {
	e := newEnvWithin(t, 2*rotatingSvidTTL*time.Second+30*time.Second)
	e.requestTimeout = rotatingRequestTimeout
	e, d1, d2, nse := newSecuredPairIn(e, spire, kind1, kind2, securedOptions{IdentityPath: "/nsm-rotating", SvidTTL: rotatingSvidTTL})
	remoteNS := serviceName + "@" + d2.Name
	first1, err := d1.Identity.Source.GetX509SVID()
	require.NoError(t, err)
	first2, err := d2.Identity.Source.GetX509SVID()
	require.NoError(t, err)
	lifetime := first1.Certificates[0].NotAfter.Sub(time.Now())
	require.LessOrEqual(t, lifetime, rotatingSvidTTL*time.Second, "the SVID lives at most its entry's TTL")

	nsc := d1.NewNSC()
	conn := doRequest(e, nsc, newRequest(remoteNS), "Request "+remoteNS)
	checkSecuredPath(e, conn, d1, d2, endpointName)

	// Past the expiry of the first SVIDs of both domains (and of every token made with them).
	expired := first1.Certificates[0].NotAfter
	if first2.Certificates[0].NotAfter.After(expired) {
		expired = first2.Certificates[0].NotAfter
	}
	counts := func(when string) {
		t.Logf("%s: NSE requests %d (unique %d), closes %d (unique %d)", when, nse.counter.Requests(), nse.counter.UniqueRequests(), nse.counter.Closes(), nse.counter.UniqueCloses())
	}
	counts("after the Request")
	select {
	case <-time.After(time.Until(expired) - time.Second):
		counts("1 s before the first SVIDs expire")
	case <-e.ctx.Done():
	}
	select {
	case <-time.After(time.Until(expired) + time.Second):
	case <-e.ctx.Done():
		require.FailNow(t, "deadline before the first SVIDs expired")
	}
	now1, err := d1.Identity.Source.GetX509SVID()
	require.NoError(t, err)
	now2, err := d2.Identity.Source.GetX509SVID()
	require.NoError(t, err)
	require.NotEqual(t, first1.Certificates[0].SerialNumber, now1.Certificates[0].SerialNumber, "%s rotated", d1.Identity.ID)
	require.NotEqual(t, first2.Certificates[0].SerialNumber, now2.Certificates[0].SerialNumber, "%s rotated", d2.Identity.ID)

	// The connection is still refreshed end to end, with rotated SVIDs, and was never closed at the NSE.
	counts("1 s after the first SVIDs expired")
	requests := nse.counter.Requests()
	require.Eventually(t, func() bool { return nse.counter.Requests() > requests }, 2*rotatingSvidTTL*time.Second, tick,
		"no refresh reached the NSE after the first SVIDs expired (requests %d)", requests)
	require.Equal(t, 0, nse.counter.Closes(), "the NSE closed the connection (expired) before the NSC did")
	require.Equal(t, 1, nse.counter.UniqueRequests())
	t.Logf("after the first SVIDs expired: %d requests at the NSE for one connection", nse.counter.Requests())

	// A second NSC's new Request (new handshakes all the way) and both Closes.
	nsc2 := d1.NewNSC()
	conn2 := doRequest(e, nsc2, newRequest(remoteNS), "second Request "+remoteNS+" after rotation")
	checkSecuredPath(e, conn2, d1, d2, endpointName)
	doClose(e, nsc2, conn2, "Close of the second connection")
	doClose(e, nsc, conn, "Close of the first connection")
	require.Eventually(t, func() bool { return nse.counter.UniqueCloses() == 2 }, 5*time.Second, tick, "both Closes reached the NSE")
}

// runSecuredRegistry: NS and NSE Find through cluster1's registry (which forwards `@cluster2` to proxy1,
// on to cluster2's registry), and a watch that sees an NSE appear and go.
func runSecuredRegistry(t *testing.T, spire *spireFixture, kind1, kind2 proxyKind) {
	e, d1, d2, _ := newSecuredPair(t, spire, kind1, kind2)
	remoteNS := serviceName + "@" + d2.Name
	dial := d1.Identity.DialOptions()

	nsList, err := findNSsAt(e, d1.RegistryURL, &registryapi.NetworkService{Name: remoteNS}, dial...)
	require.NoError(t, err, "NS Find %s through %s's registry", remoteNS, d1.Name)
	require.Len(t, nsList, 1, "NS Find %s through %s's registry", remoteNS, d1.Name)
	require.Equal(t, remoteNS, nsList[0].GetName())

	nses, err := findNSEsAt(e, d1.RegistryURL, &registryapi.NetworkServiceEndpoint{NetworkServiceNames: []string{remoteNS}}, dial...)
	require.NoError(t, err, "NSE Find %s through %s's registry", remoteNS, d1.Name)
	require.Len(t, nses, 1, "NSE Find %s through %s's registry", remoteNS, d1.Name)
	require.Equal(t, endpointName+"@"+d2.Name, nses[0].GetName())
	require.Equal(t, d1.ProxyURL.String(), nses[0].GetUrl(), "the NSE's URL as found from %s is its proxy's", d1.Name)

	// Watch through cluster1's registry; an NSE registered in cluster2 appears, then goes.
	ctx, cancel := context.WithTimeout(e.ctx, healTimeout)
	defer cancel()
	cc, err := grpc.NewClient(d1.RegistryURL.Host, dial...)
	require.NoError(t, err)
	defer func() { _ = cc.Close() }()
	stream, err := registryapi.NewNetworkServiceEndpointRegistryClient(cc).Find(ctx, &registryapi.NetworkServiceEndpointQuery{
		NetworkServiceEndpoint: &registryapi.NetworkServiceEndpoint{NetworkServiceNames: []string{remoteNS}},
		Watch:                  true,
	})
	require.NoError(t, err)
	const endpoint2 = endpointName + "-2"
	waitFor := func(what string, match func(*registryapi.NetworkServiceEndpointResponse) bool) {
		t.Helper()
		for {
			ev, err := stream.Recv()
			require.NoError(t, err, "watch through %s's registry, waiting for %s", d1.Name, what)
			t.Logf("watch event: deleted=%v name=%s url=%s", ev.GetDeleted(), ev.GetNetworkServiceEndpoint().GetName(), ev.GetNetworkServiceEndpoint().GetUrl())
			if match(ev) {
				return
			}
		}
	}
	waitFor("the existing NSE", func(ev *registryapi.NetworkServiceEndpointResponse) bool {
		return ev.GetNetworkServiceEndpoint().GetName() == endpointName+"@"+d2.Name && !ev.GetDeleted()
	})
	reg := registryclient.NewNetworkServiceEndpointRegistryClient(e.ctx, registryClientOptions(d2.RegistryURL, d2.Identity.DialOptions()...)...)
	registered, err := reg.Register(ctx, &registryapi.NetworkServiceEndpoint{Name: endpoint2, NetworkServiceNames: []string{serviceName}, Url: d2.NSMgrURL.String()})
	require.NoError(t, err, "registering %s in %s", endpoint2, d2.Name)
	waitFor("the NSE registered later", func(ev *registryapi.NetworkServiceEndpointResponse) bool {
		return ev.GetNetworkServiceEndpoint().GetName() == endpoint2+"@"+d2.Name && !ev.GetDeleted() &&
			ev.GetNetworkServiceEndpoint().GetUrl() == d1.ProxyURL.String()
	})
	_, err = reg.Unregister(ctx, registered)
	require.NoError(t, err)
	waitFor("the deletion of the NSE", func(ev *registryapi.NetworkServiceEndpointResponse) bool {
		return ev.GetNetworkServiceEndpoint().GetName() == endpoint2+"@"+d2.Name && ev.GetDeleted()
	})
}

// runSecuredRefusals sends Requests straight to cluster2's proxy, as cluster1's proxy would, with one
// thing wrong each time; the control sends the same with nothing wrong and must get through to the NSE.
func runSecuredRefusals(t *testing.T, spire *spireFixture, kind2 proxyKind) {
	e, d1, d2, nse := newSecuredPair(t, spire, sdkProxy, kind2)
	target := d2.ProxyURL
	id1 := d1.Identity
	svid, err := id1.Source.GetX509SVID()
	require.NoError(t, err)
	valid := id1.Tokens()

	// tokens signed with key, sub = cluster1's identity.
	signed := func(key any, aud string, exp time.Time) string {
		claims := jwt.RegisteredClaims{Subject: id1.ID.String(), ExpiresAt: jwt.NewNumericDate(exp)}
		if aud != "" {
			claims.Audience = jwt.ClaimStrings{aud}
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(key)
		require.NoError(t, err)
		return tok
	}
	fixed := func(tok string) token.GeneratorFunc {
		return func(credentials.AuthInfo) (string, time.Time, error) { return tok, time.Now().Add(time.Minute), nil }
	}
	forgedKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	in10m := time.Now().Add(10 * time.Minute)
	proxy2ID := d2.ProxyID.String()

	t.Run("Control", func(t *testing.T) {
		conn := requestAt(e, target, id1.DialOptionsWithTokens(valid), nil)
		require.NoError(t, conn.err, "a Request from cluster1's identity with a valid token")
		require.Equal(t, 1, nse.counter.UniqueRequests(), "the control Request reached the NSE")
		_, err := networkservice.NewNetworkServiceClient(conn.cc).Close(conn.ctx, conn.conn)
		require.NoError(t, err, "Close of the control connection")
	})

	// policy: the NSM policy that refuses (pnsmgr names it in the status message; the SDK does not).
	refused := func(t *testing.T, want codes.Code, policy, what string, dial []grpc.DialOption, prev []*networkservice.PathSegment) {
		t.Helper()
		requests := nse.counter.Requests()
		r := requestAt(e, target, dial, prev)
		requireCode(t, want, r.err, "%s", what)
		t.Logf("%s: refused: %v", what, r.err)
		if policy != "" && kind2 == pnsmgrProxy {
			require.Contains(t, status.Convert(r.err).Message(), policy, "%s: the refusal names the policy", what)
		}
		require.Equal(t, requests, nse.counter.Requests(), "%s: nothing reached the NSE", what)
	}

	t.Run("Plaintext", func(t *testing.T) {
		refused(t, codes.Unavailable, "", "a plaintext Request", []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil)
		_, err := findNSsAt(e, target, &registryapi.NetworkService{Name: serviceName}, grpc.WithTransportCredentials(insecure.NewCredentials()))
		requireCode(t, codes.Unavailable, err, "a plaintext registry Find")
	})

	t.Run("UnfederatedSVID", func(t *testing.T) {
		// A client that skips checking the server (so that the server's refusal is what is seen) and
		// presents an SVID of cluster3.test, which cluster2 does not trust. The same client with
		// cluster1's SVID gets through.
		stranger := newSecuredIdentity(t, e.ctx, spire, trustDomain3, "/intruder", 0)
		presenting := func(id *securedIdentity) []grpc.DialOption {
			s, err := id.Source.GetX509SVID()
			require.NoError(t, err)
			cert := tls.Certificate{PrivateKey: s.PrivateKey}
			for _, c := range s.Certificates {
				cert.Certificate = append(cert.Certificate, c.Raw)
			}
			// Presented whatever CAs the server asks for (Go would otherwise send no certificate at all
			// to a server that names only CAs this one is not from).
			creds := credentials.NewTLS(&tls.Config{ //nolint:gosec // InsecureSkipVerify: the test looks at the server's side
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
				InsecureSkipVerify:   true,
				MinVersion:           tls.VersionTLS12,
			})
			return []grpc.DialOption{grpc.WithTransportCredentials(creds)}
		}
		_, err := findNSsAt(e, target, &registryapi.NetworkService{Name: serviceName}, presenting(id1)...)
		require.NoError(t, err, "control: cluster1's SVID through the same client")
		_, err = findNSsAt(e, target, &registryapi.NetworkService{Name: serviceName}, presenting(stranger)...)
		requireCode(t, codes.Unavailable, err, "a registry Find with an SVID of %s", trustDomain3)
		refused(t, codes.Unavailable, "", "a Request with an SVID of "+trustDomain3, presenting(stranger), nil)
	})

	t.Run("ForgedToken", func(t *testing.T) {
		refused(t, codes.PermissionDenied, "prev_token_signed", "a token signed by another key", id1.DialOptionsWithTokens(fixed(signed(forgedKey, proxy2ID, in10m))), nil)
	})

	t.Run("ExpiredToken", func(t *testing.T) {
		refused(t, codes.PermissionDenied, "tokens_expired", "an expired token", id1.DialOptionsWithTokens(fixed(signed(svid.PrivateKey, proxy2ID, time.Now().Add(-time.Minute)))), nil)
	})

	t.Run("WrongAudience", func(t *testing.T) {
		other := spiffeid.RequireFromString("spiffe://" + trustDomain2 + "/not-the-proxy").String()
		refused(t, codes.PermissionDenied, "tokens_chained", "a token for "+other, id1.DialOptionsWithTokens(fixed(signed(svid.PrivateKey, other, in10m))), nil)
	})

	t.Run("UnchainedToken", func(t *testing.T) {
		// One more segment before the sender's: its token is valid and signed, but names another
		// audience than the sender's identity, so the path's tokens do not chain.
		elsewhere := "spiffe://" + trustDomain1 + "/elsewhere"
		first := &networkservice.PathSegment{Name: "first", Id: uuid.NewString(), Token: signed(svid.PrivateKey, elsewhere, in10m)}
		refused(t, codes.PermissionDenied, "tokens_chained", "a path whose first token is for "+elsewhere, id1.DialOptionsWithTokens(valid), []*networkservice.PathSegment{first})
	})
}

// ---------------------------------------------------------------------------------------------------
// Steps

// requestResult is one raw Request's outcome, with what a Close needs.
type requestResult struct {
	ctx  context.Context
	cc   *grpc.ClientConn
	conn *networkservice.Connection
	err  error
}

// requestAt sends svc@cluster2 (to nse@cluster2) straight to a proxy as the previous hop would: the path
// holds `prev` and then the sender's own segment (its token comes from the dial options' per-call
// credentials, as the SDK sends it).
func requestAt(e *env, target *url.URL, dial []grpc.DialOption, prev []*networkservice.PathSegment) requestResult {
	e.t.Helper()
	cc, err := grpc.NewClient(target.Host, dial...)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = cc.Close() })
	ctx, cancel := context.WithTimeout(e.ctx, requestTimeout)
	e.t.Cleanup(cancel)
	segments := append(append([]*networkservice.PathSegment{}, prev...), &networkservice.PathSegment{Name: "sender", Id: uuid.NewString()})
	request := &networkservice.NetworkServiceRequest{
		MechanismPreferences: []*networkservice.Mechanism{{Cls: cls.LOCAL, Type: kernel.MECHANISM}},
		Connection: &networkservice.Connection{
			Id:                         segments[len(segments)-1].GetId(),
			NetworkService:             serviceName + "@cluster2",
			NetworkServiceEndpointName: endpointName + "@cluster2",
			Context:                    &networkservice.ConnectionContext{},
			Labels:                     map[string]string{},
			Path:                       &networkservice.Path{Index: uint32(len(segments) - 1), PathSegments: segments},
		},
	}
	conn, err := networkservice.NewNetworkServiceClient(cc).Request(ctx, request)
	return requestResult{ctx: ctx, cc: cc, conn: conn, err: err}
}

// checkSecuredPath: the path as in the plain scenarios, and every token an ES256 JWT: sub = the
// identity of the domain whose component made it, tokens chained (aud of one = sub of the next).
func checkSecuredPath(e *env, conn *networkservice.Connection, d1, d2 *securedDomain, nse string) {
	t := e.t
	t.Helper()
	segs := conn.GetPath().GetPathSegments()
	require.Len(t, segs, 8, "path: %s", describePath(conn))
	for i, want := range []string{"nsc-" + d1.Name, d1.NSMgrName, d1.ForwarderName, d1.ProxyName, d2.ProxyName, d2.NSMgrName, d2.ForwarderName, nse} {
		require.Equal(t, want, segs[i].GetName(), "segment %d; path: %s", i, describePath(conn))
	}
	var prevAud []string
	for i, s := range segs {
		claims := jwt.RegisteredClaims{}
		parsed, _, err := jwt.NewParser().ParseUnverified(s.GetToken(), &claims)
		require.NoError(t, err, "segment %d (%s) token is a JWT", i, s.GetName())
		require.Equal(t, "ES256", parsed.Method.Alg(), "segment %d (%s) token algorithm", i, s.GetName())
		own := d1.SubjectOf(s.GetName())
		if i >= 4 {
			own = d2.SubjectOf(s.GetName())
		}
		require.Equal(t, own.String(), claims.Subject, "segment %d (%s) token subject", i, s.GetName())
		if i > 0 {
			require.Contains(t, prevAud, claims.Subject, "segment %d's token audience names segment %d's subject", i-1, i)
		}
		prevAud = claims.Audience
		require.NotNil(t, s.GetExpires(), "segment %d (%s) has expires", i, s.GetName())
	}
	require.Equal(t, segs[0].GetId(), conn.GetId(), "the NSC's connection id is its own segment id")
}

// monitorFirst opens MonitorConnections at target as id, selecting the connection's path, and returns
// the error of the first receive (nil when an event came).
func monitorFirst(e *env, target *url.URL, id *securedIdentity, conn *networkservice.Connection) error {
	_, err := monitorEvent(e, target, id, conn)
	return err
}

func monitorEvent(e *env, target *url.URL, id *securedIdentity, conn *networkservice.Connection) (*networkservice.ConnectionEvent, error) {
	e.t.Helper()
	cc, err := grpc.NewClient(target.Host, id.DialOptions()...)
	require.NoError(e.t, err)
	defer func() { _ = cc.Close() }()
	ctx, cancel := context.WithTimeout(e.ctx, findTimeout)
	defer cancel()
	var selector []*networkservice.PathSegment
	for _, s := range conn.GetPath().GetPathSegments() {
		selector = append(selector, &networkservice.PathSegment{Id: s.GetId()})
	}
	stream, err := networkservice.NewMonitorConnectionClient(cc).MonitorConnections(ctx, &networkservice.MonitorScopeSelector{PathSegments: selector})
	if err != nil {
		return nil, err
	}
	return stream.Recv()
}

// checkMonitor: the monitor at target shows the connection (its first event holds a connection whose
// path has the NSC's segment).
func checkMonitor(e *env, target *url.URL, id *securedIdentity, conn *networkservice.Connection) {
	e.t.Helper()
	ev, err := monitorEvent(e, target, id, conn)
	require.NoError(e.t, err, "monitor at %s as %s", target, id.ID)
	require.Equal(e.t, networkservice.ConnectionEventType_INITIAL_STATE_TRANSFER, ev.GetType())
	found := false
	for _, c := range ev.GetConnections() {
		for _, s := range c.GetPath().GetPathSegments() {
			found = found || s.GetId() == conn.GetId()
		}
	}
	require.True(e.t, found, "the monitor at %s shows the connection %s: %v", target, conn.GetId(), ev.GetConnections())
}

// requireCode: err is a gRPC status with code want.
func requireCode(t *testing.T, want codes.Code, err error, format string, args ...any) {
	t.Helper()
	what := fmt.Sprintf(format, args...)
	require.Error(t, err, what)
	require.Equal(t, want.String(), status.Code(err).String(), "%s: %v", what, err)
}

package interop

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/networkservicemesh/sdk/pkg/registry/common/dnsresolve"
)

// dnsServer is a real DNS server on 127.0.0.1 (UDP and TCP on the same port) that answers from the
// sandbox's fake resolver, so the SDK's components (which use the fake resolver in-process) and
// pnsmgr (which asks this server over the wire) see exactly the same data.
//
// The fake resolver holds entries "<service>.<domain>" -> host:port (sandbox.AddSRVEntry; the
// sandbox's Build adds registry.nsm-system.<domain> for each domain with a registry and
// nsmgr-proxy.nsm-system.<domain> for each domain with an SDK nsmgr-proxy; the harness adds the
// nsmgr-proxy entry for domains whose proxy it starts itself). This server answers:
//   - SRV <name>. -> priority 0, weight 0, port, target <name>. (the SRV target is the name itself,
//     the same as the fake resolver's LookupSRV; so resolving the target or the SRV name gives the same IP)
//   - A <name>.   -> the IPv4 address; AAAA <name>. -> the IPv6 address (if it is one)
//   - a name the resolver holds but another type: NOERROR with no answer (NODATA)
//   - a name the resolver does not hold: NXDOMAIN
type dnsServer struct {
	Addr     string // 127.0.0.1:<port>, for PNSMGR_DNS_SERVER
	resolver dnsresolve.Resolver

	mu      sync.Mutex
	queries []string // "SRV registry.nsm-system.cluster2." ..., for diagnostics
}

func startDNSServer(t *testing.T, resolver dnsresolve.Resolver) *dnsServer {
	t.Helper()
	s := &dnsServer{resolver: resolver}

	// UDP and TCP on the same port (TCP for truncated answers); a UDP port may be taken on TCP, so retry.
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			break
		}
		_ = pc.Close()
		require.Less(t, attempt, 20, "harness DNS: no port free on both UDP and TCP: %v", err)
	}
	s.Addr = pc.LocalAddr().String()

	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: ln, Handler: s}
	started := make(chan struct{}, 2)
	udp.NotifyStartedFunc = func() { started <- struct{}{} }
	tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	for i := 0; i < 2; i++ {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("harness DNS server did not start")
		}
	}
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return s
}

// ServeDNS implements dns.Handler.
func (s *dnsServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	s.mu.Lock()
	s.queries = append(s.queries, dns.TypeToString[q.Qtype]+" "+q.Name)
	s.mu.Unlock()

	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, srvs, srvErr := s.resolver.LookupSRV(ctx, "", "", name)
	ips, ipErr := s.resolver.LookupIPAddr(ctx, name)
	if srvErr != nil && ipErr != nil {
		resp.Rcode = dns.RcodeNameError
		_ = w.WriteMsg(resp)
		return
	}
	hdr := func(rrtype uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: 1}
	}
	switch q.Qtype {
	case dns.TypeSRV:
		for _, srv := range srvs {
			resp.Answer = append(resp.Answer, &dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: srv.Priority, Weight: srv.Weight, Port: srv.Port, Target: dns.Fqdn(srv.Target)})
		}
		// Additional A records for the targets, as a real server would.
		for _, ip := range ips {
			if v4 := ip.IP.To4(); v4 != nil {
				resp.Extra = append(resp.Extra, &dns.A{Hdr: hdr(dns.TypeA), A: v4})
			}
		}
	case dns.TypeA:
		for _, ip := range ips {
			if v4 := ip.IP.To4(); v4 != nil {
				resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: v4})
			}
		}
	case dns.TypeAAAA:
		for _, ip := range ips {
			if ip.IP.To4() == nil && ip.IP.To16() != nil {
				resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip.IP})
			}
		}
	}
	_ = w.WriteMsg(resp)
}

// Queries returns the questions asked so far ("SRV registry.nsm-system.cluster2.").
func (s *dnsServer) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

// netResolver is a Go resolver that asks only this server (used by the SDK proxies the harness
// starts itself, so that they resolve over the wire exactly as pnsmgr does).
func (s *dnsServer) netResolver() *net.Resolver {
	addr := s.Addr
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

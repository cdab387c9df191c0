//go:build interopbench

// The side-by-side benchmark of `npm run bench:interop` (scripts/bench-interop.sh): the 8-hop interdomain
// Request+Close (nsc -> nsmgr1 -> fwd1 -> nsmgr1 -> proxy1 -> proxy2 -> nsmgr2 -> fwd2 -> nsmgr2 -> nse) with
// the SDK's nsmgr-proxy + registry-proxy-dns at both domain edges and with two pnsmgr processes in their
// place, in one run, at 1, 16 and 64 in flight. Built only with `-tags interopbench`, so `go test ./...`
// never runs it.
//
// CPU and RSS are read the same way for both kinds of proxy: from /proc/<pid>/stat (utime+stime) and
// /proc/<pid>/status (VmRSS) of the proxy processes. For that the SDK's proxies run in child processes too:
// this test binary started again with -test.run=TestInteropBenchChildSDKProxy, serving on listeners the
// parent opened (passed as file descriptors), exactly as the in-process harness proxies are built
// (sdkProxyServer.start). Everything else (sandbox registries, nsmgrs, forwarders, NSEs, NSC) runs in the
// harness process and is the same for both kinds.
package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/networkservicemesh/api/pkg/api/networkservice"
	registryapi "github.com/networkservicemesh/api/pkg/api/registry"
	"github.com/networkservicemesh/sdk/pkg/registry"
	"github.com/networkservicemesh/sdk/pkg/registry/common/dnsresolve"
	"github.com/networkservicemesh/sdk/pkg/tools/sandbox"
	"github.com/stretchr/testify/require"
)

// benchChildEnv carries a child proxy's settings (JSON) to TestInteropBenchChildSDKProxy.
const benchChildEnv = "INTEROP_BENCH_SDK_PROXY_CHILD"

type benchChildConfig struct {
	Name, URL, RegistryURL, RegistryProxyURL, DNS string
}

// TestInteropBenchChildSDKProxy is the SDK proxy child process; it does nothing in a normal run.
func TestInteropBenchChildSDKProxy(t *testing.T) {
	raw := os.Getenv(benchChildEnv)
	if raw == "" {
		t.Skip("only run as the SDK proxy child of TestInteropBench (" + benchChildEnv + " unset)")
	}
	var c benchChildConfig
	require.NoError(t, json.Unmarshal([]byte(raw), &c))
	var listeners []net.Listener
	for _, fd := range []uintptr{3, 4} {
		ln, err := net.FileListener(os.NewFile(fd, "listener"))
		require.NoError(t, err)
		listeners = append(listeners, ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &env{t: t, ctx: ctx, cancel: cancel, dns: &dnsServer{Addr: c.DNS}}
	s := &sdkProxyServer{e: e, name: c.Name, url: mustURL(t, c.URL), registryURL: mustURL(t, c.RegistryURL),
		registryProxyURL: mustURL(t, c.RegistryProxyURL), listeners: listeners}
	s.start()
	fmt.Println("sdk proxy serving")
	// Serve until the parent closes our stdin (or dies).
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// benchProxy is one proxy process (pnsmgr or an SDK proxy child) whose CPU and RSS are read from /proc.
type benchProxy struct{ pid int }

// cpu is utime+stime of the process so far.
func (p benchProxy) cpu(t *testing.T) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	require.NoError(t, err)
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) "
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// rssMiB is VmRSS of the process now.
func (p benchProxy) rssMiB(t *testing.T) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// newBenchEnv is newEnv with a deadline long enough for the whole benchmark.
func newBenchEnv(t *testing.T, timeout time.Duration) *env {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	resolver := sandbox.NewFakeResolver()
	return &env{t: t, ctx: ctx, cancel: cancel, resolver: resolver, dns: startDNSServer(t, resolver)}
}

// newChildSDKDomain is newDomain(name, 1, sdkProxy) with the SDK's proxies in a child process.
func (e *env) newChildSDKDomain(name string) (*domain, benchProxy) {
	t := e.t
	d := &domain{Kind: sdkProxy, env: e, ProxyName: "sdk-proxy-" + name}
	proxyLn, registryProxyLn := listenLocal(t), listenLocal(t)
	d.ProxyURL = listenerURL(proxyLn)
	var reg registry.Registry
	d.Domain = sandbox.NewBuilder(e.ctx, t).SetNodesCount(1).SetDNSResolver(e.resolver).SetDNSDomainName(name).
		SetNSMgrProxySupplier(nil).SetRegistryProxySupplier(nil).SetRegistrySupplier(registryWithProxy(d.ProxyURL, &reg)).Build()
	require.NoError(t, sandbox.AddSRVEntry(e.resolver, name, dnsresolve.DefaultNsmgrProxyService, d.ProxyURL))

	cfg, err := json.Marshal(benchChildConfig{Name: d.ProxyName, URL: d.ProxyURL.String(), RegistryURL: d.Registry.URL.String(),
		RegistryProxyURL: listenerURL(registryProxyLn).String(), DNS: e.dns.Addr})
	require.NoError(t, err)
	var files []*os.File
	for _, ln := range []net.Listener{proxyLn, registryProxyLn} {
		f, err := ln.(*net.TCPListener).File()
		require.NoError(t, err)
		files = append(files, f)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInteropBenchChildSDKProxy$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchChildEnv+"="+string(cfg), "GOMAXPROCS="+strconv.Itoa(2))
	cmd.ExtraFiles = files
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "SDK proxy child %s", d.ProxyName)
	require.Contains(t, line, "sdk proxy serving")
	for _, f := range files {
		_ = f.Close()
	}
	_ = proxyLn.Close() // the child serves on its own copies
	_ = registryProxyLn.Close()
	return d, benchProxy{pid: cmd.Process.Pid}
}

// benchWorld is the two domains of one kind, an NSE for svc@cluster2 and an NSC in cluster1.
type benchWorld struct {
	kind    string
	e       *env
	proxies []benchProxy
	pnsmgrs []*pnsmgrProcess
	nsc     networkservice.NetworkServiceClient
	remote  string
}

func newBenchWorld(t *testing.T, kind proxyKind, timeout time.Duration) *benchWorld {
	e := newBenchEnv(t, timeout)
	w := &benchWorld{kind: string(kind), e: e}
	var d1, d2 *domain
	if kind == sdkProxy {
		var p1, p2 benchProxy
		d1, p1 = e.newChildSDKDomain("cluster1")
		d2, p2 = e.newChildSDKDomain("cluster2")
		w.proxies = []benchProxy{p1, p2}
	} else {
		d1 = e.newDomain("cluster1", 1, pnsmgrProxy)
		d2 = e.newDomain("cluster2", 1, pnsmgrProxy)
		w.proxies = []benchProxy{{pid: d1.Pnsmgr.cmd.Process.Pid}, {pid: d2.Pnsmgr.cmd.Process.Pid}}
		w.pnsmgrs = []*pnsmgrProcess{d1.Pnsmgr, d2.Pnsmgr}
	}
	registerNS(e, d2.Domain, serviceName)
	nse := newRecordingNSE()
	d2.Nodes[0].NewEndpoint(e.ctx, &registryapi.NetworkServiceEndpoint{Name: endpointName, NetworkServiceNames: []string{serviceName}},
		sandbox.GenerateTestToken, nse.counter, nse)
	w.remote = serviceName + "@" + d2.Name
	w.nsc = newNSC(e, d1)
	return w
}

// cycle is one Request then Close of a new connection; it returns both latencies.
func (w *benchWorld) cycle() (time.Duration, time.Duration, error) {
	ctx, cancel := context.WithTimeout(w.e.ctx, requestTimeout)
	defer cancel()
	start := time.Now()
	conn, err := w.nsc.Request(ctx, newRequest(w.remote))
	if err != nil {
		return 0, 0, fmt.Errorf("request: %w", err)
	}
	requested := time.Now()
	if _, err := w.nsc.Close(ctx, conn); err != nil {
		return 0, 0, fmt.Errorf("close: %w", err)
	}
	return requested.Sub(start), time.Since(requested), nil
}

type benchResult struct {
	Kind                   string
	InFlight, Cycles       int
	Seconds                float64
	RequestP50, RequestP99 time.Duration
	CloseP50, CloseP99     time.Duration
	CPUPerCycle            time.Duration // both proxies together
	RSSMiB                 float64       // both proxies together, after the phase
	DNSPerCycle            float64       // questions to the harness DNS server per cycle
}

func (r benchResult) throughput() float64 { return float64(r.Cycles) / r.Seconds }

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

// run keeps inFlight cycles going for d and measures them.
func (w *benchWorld) run(t *testing.T, inFlight int, d time.Duration) benchResult {
	cpuBefore := time.Duration(0)
	for _, p := range w.proxies {
		cpuBefore += p.cpu(t)
	}
	var (
		mu               sync.Mutex
		requests, closes []time.Duration
		failed           atomic.Value
		wg               sync.WaitGroup
	)
	stop := time.Now().Add(d)
	start := time.Now()
	for i := 0; i < inFlight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && failed.Load() == nil {
				req, cl, err := w.cycle()
				if err != nil {
					failed.Store(err)
					return
				}
				mu.Lock()
				requests, closes = append(requests, req), append(closes, cl)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("%s at %d in flight: %v", w.kind, inFlight, err)
	}
	cpuAfter, rss := time.Duration(0), 0.0
	for _, p := range w.proxies {
		cpuAfter += p.cpu(t)
		rss += p.rssMiB(t)
	}
	sort.Slice(requests, func(i, j int) bool { return requests[i] < requests[j] })
	sort.Slice(closes, func(i, j int) bool { return closes[i] < closes[j] })
	n := len(requests)
	require.Greater(t, n, 0, "%s at %d in flight: no cycle completed", w.kind, inFlight)
	return benchResult{Kind: w.kind, InFlight: inFlight, Cycles: n, Seconds: elapsed.Seconds(),
		RequestP50: percentile(requests, 0.5), RequestP99: percentile(requests, 0.99),
		CloseP50: percentile(closes, 0.5), CloseP99: percentile(closes, 0.99),
		CPUPerCycle: (cpuAfter - cpuBefore) / time.Duration(n), RSSMiB: rss}
}

func benchDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// TestInteropBench runs both worlds side by side and prints the table of ratios (pnsmgr / SDK).
func TestInteropBench(t *testing.T) {
	phase := benchDuration("INTEROP_BENCH_PHASE", 8*time.Second)
	warmup := benchDuration("INTEROP_BENCH_WARMUP", 2*time.Second)
	levels := []int{1, 16, 64}
	timeout := time.Duration(len(levels)*2)*(phase+warmup) + 2*time.Minute

	worlds := []*benchWorld{newBenchWorld(t, sdkProxy, timeout), newBenchWorld(t, pnsmgrProxy, timeout)}
	idle := map[string]float64{}
	for _, w := range worlds {
		_, _, err := w.cycle() // the first cycle pays for connections and DNS; then idle RSS
		require.NoError(t, err, "%s: first cycle", w.kind)
		time.Sleep(500 * time.Millisecond)
		for _, p := range w.proxies {
			idle[w.kind] += p.rssMiB(t)
		}
	}
	load1 := readLoad()
	results := map[string]map[int]benchResult{sdkProxy.str(): {}, pnsmgrProxy.str(): {}}
	for i, level := range levels {
		order := worlds
		if i%2 == 1 { // each kind goes first as often as it can
			order = []*benchWorld{worlds[1], worlds[0]}
		}
		for _, w := range order {
			w.run(t, level, warmup)
			profiled := w.profile(t, level, phase)
			w.saveMetrics(t, fmt.Sprintf("%d-before", level))
			queries := len(w.e.dns.Queries())
			r := w.run(t, level, phase)
			r.DNSPerCycle = float64(len(w.e.dns.Queries())-queries) / float64(r.Cycles)
			w.saveMetrics(t, fmt.Sprintf("%d-after", level))
			profiled()
			results[w.kind][level] = r
			t.Logf("%-6s %2d in flight: %4d cycles in %.1fs, Request p50 %sms p99 %sms, Close p50 %sms, CPU/cycle %sms, RSS %.0f MiB, DNS questions/cycle %.2f",
				w.kind, level, r.Cycles, r.Seconds, ms(r.RequestP50), ms(r.RequestP99), ms(r.CloseP50), ms(r.CPUPerCycle), r.RSSMiB, r.DNSPerCycle)
		}
	}
	load2 := readLoad()

	var b strings.Builder
	fmt.Fprintf(&b, "\nbench:interop — 8-hop Request+Close, %s per phase after %s warm-up; load average %s before, %s after; %d CPUs\n",
		phase, warmup, load1, load2, numCPU())
	mode := "node --import tsx lib/main.ts"
	if os.Getenv("INTEROP_PNSMGR_BUILT") != "" {
		mode = "node dist/lib/main.js"
	}
	fmt.Fprintf(&b, "pnsmgr runs as %s; SDK v1.18.0 proxies as child processes (this test binary)\n", mode)
	fmt.Fprintf(&b, "proxies' CPU and RSS from /proc/<pid> of the two proxy processes of each kind (SDK proxies in child processes)\n\n")
	fmt.Fprintf(&b, "| in flight | cycles/s SDK | cycles/s pnsmgr | ratio | Request p50 SDK / pnsmgr (ms) | ratio | Request p99 SDK / pnsmgr | ratio | Close p50 SDK / pnsmgr | ratio | CPU/cycle SDK / pnsmgr (ms) | ratio | RSS SDK / pnsmgr (MiB) | DNS questions/cycle SDK / pnsmgr |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, level := range levels {
		s, p := results[sdkProxy.str()][level], results[pnsmgrProxy.str()][level]
		fmt.Fprintf(&b, "| %d | %.1f | %.1f | %.2fx | %s / %s | %.2fx | %s / %s | %.2fx | %s / %s | %.2fx | %s / %s | %.2fx | %.0f / %.0f | %.2f / %.2f |\n",
			level, s.throughput(), p.throughput(), p.throughput()/s.throughput(),
			ms(s.RequestP50), ms(p.RequestP50), ratio(p.RequestP50, s.RequestP50),
			ms(s.RequestP99), ms(p.RequestP99), ratio(p.RequestP99, s.RequestP99),
			ms(s.CloseP50), ms(p.CloseP50), ratio(p.CloseP50, s.CloseP50),
			ms(s.CPUPerCycle), ms(p.CPUPerCycle), ratio(p.CPUPerCycle, s.CPUPerCycle),
			s.RSSMiB, p.RSSMiB, s.DNSPerCycle, p.DNSPerCycle)
	}
	fmt.Fprintf(&b, "\nidle RSS after the first cycle (two proxies): SDK %.0f MiB, pnsmgr %.0f MiB\n", idle[sdkProxy.str()], idle[pnsmgrProxy.str()])
	fmt.Println(b.String())
}

var (
	profilingLine = regexp.MustCompile(`pnsmgr serving.*\bprofiling=(\S+)`)
	metricsLine   = regexp.MustCompile(`pnsmgr serving.*\bmetrics=(\S+)`)
)

// saveMetrics writes each pnsmgr's Prometheus text to <dir>/<name>-<label>.metrics when
// INTEROP_BENCH_CPU_PROFILE=<dir> and the pnsmgr serves metrics (calls per method per phase, by difference).
func (w *benchWorld) saveMetrics(t *testing.T, label string) {
	dir := os.Getenv("INTEROP_BENCH_CPU_PROFILE")
	if dir == "" {
		return
	}
	for _, p := range w.pnsmgrs {
		if m := metricsLine.FindStringSubmatch(p.Output()); m != nil {
			res, err := http.Get("http://" + m[1] + "/metrics")
			require.NoError(t, err)
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s.metrics", p.Name, label)), body, 0o644))
		}
	}
}

// profile records a CPU profile of each pnsmgr over the next phase through its NSM_PPROF endpoint when
// INTEROP_BENCH_CPU_PROFILE=<dir> (scripts/bench-interop.sh sets NSM_PPROF_ENABLED for it); the returned
// function waits for the files <dir>/<name>-<level>.cpuprofile.
func (w *benchWorld) profile(t *testing.T, level int, phase time.Duration) func() {
	dir := os.Getenv("INTEROP_BENCH_CPU_PROFILE")
	if dir == "" || len(w.pnsmgrs) == 0 {
		return func() {}
	}
	var wg sync.WaitGroup
	for _, p := range w.pnsmgrs {
		m := profilingLine.FindStringSubmatch(p.Output())
		require.NotNil(t, m, "pnsmgr %s has no profiling endpoint (NSM_PPROF_ENABLED=true NSM_PPROF_LISTEN_ON=127.0.0.1:0)", p.Name)
		wg.Add(1)
		go func(p *pnsmgrProcess, addr string) {
			defer wg.Done()
			res, err := http.Get(fmt.Sprintf("http://%s/debug/cpu?seconds=%.1f", addr, phase.Seconds()))
			if err != nil {
				t.Errorf("profile of %s: %v", p.Name, err)
				return
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			file := filepath.Join(dir, fmt.Sprintf("%s-%d.cpuprofile", p.Name, level))
			if err := os.WriteFile(file, body, 0o644); err != nil {
				t.Errorf("profile of %s: %v", p.Name, err)
			}
		}(p, m[1])
	}
	return wg.Wait
}

func (k proxyKind) str() string { return string(k) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func readLoad() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(raw))[:3], " ")
}

func numCPU() int {
	raw, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(raw), "processor\t:")
}

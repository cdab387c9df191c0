package interop

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// How long a pnsmgr process may take to print its `pnsmgr serving` line (node + tsx transpiling lib/).
const pnsmgrStartTimeout = 30 * time.Second

// repoRoot is the pnsmgr checkout: two levels above this file (spec/interop).
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok, "runtime.Caller")
	root, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "lib", "main.ts"))
	require.NoError(t, err, "pnsmgr checkout not found at %s", root)
	return root
}

// listenLocal listens on a free 127.0.0.1 port and keeps listening: a server the harness starts later
// serves on it, so nothing else can take the port in between (the old listen-close-reuse lost that race).
func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// listenerURL is tcp://<host:port> of a listener.
func listenerURL(l net.Listener) *url.URL {
	return &url.URL{Scheme: "tcp", Host: l.Addr().String()}
}

// lockedBuffer collects a process's output from the reader goroutine while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// pnsmgrProcess is one running `node --import tsx lib/main.ts`.
type pnsmgrProcess struct {
	Name string   // NSM_NAME: the proxy's path segment name
	URL  *url.URL // the v1 address pnsmgr bound (its public URL)
	cmd  *exec.Cmd
	out  *lockedBuffer // stderr + stdout
	done chan struct{} // closed when the process has exited
}

type pnsmgrOptions struct {
	Name        string
	URL         *url.URL // listen URL (a restart on the same address); nil: port 0, read back from the serving line
	RegistryURL *url.URL // the domain's sandbox registry
	DNSServer   string   // the harness DNS server host:port
	ClusterInfo string   // PNSMGR_CLUSTER_INFO_FILE content (flat YAML labels); empty: no file
	// SpiffeEndpointSocket: secured mode (SPIFFE_ENDPOINT_SOCKET, the SPIRE agent's unix:// socket);
	// empty: PNSMGR_INSECURE=true (plaintext v1 and HS256 tokens, as the sandbox speaks).
	SpiffeEndpointSocket string
	// Node is the node binary (default: node on PATH); another copy of it is another workload to SPIRE.
	Node     string
	ExtraEnv []string // KEY=VALUE, appended last (wins)
	// BeforeStop runs in t.Cleanup before the process is stopped (the harness tears the sandbox down
	// first, so that no peer keeps a stream open and pnsmgr's SIGTERM drain ends at once).
	BeforeStop func()
}

var servingLine = regexp.MustCompile(`pnsmgr serving.*\bv1=(\S+)`)

// startPnsmgr starts pnsmgr for one domain and waits for its `pnsmgr serving` line. The process (and its
// process group) is killed in t.Cleanup; its output goes to the test log when the test failed, or always
// with INTEROP_VERBOSE=1.
func startPnsmgr(t *testing.T, o pnsmgrOptions) *pnsmgrProcess {
	t.Helper()
	root := repoRoot(t)
	node := o.Node
	if node == "" {
		var err error
		node, err = exec.LookPath("node")
		require.NoError(t, err, "node is needed to run pnsmgr (node --import tsx lib/main.ts)")
	}
	_, err := os.Stat(filepath.Join(root, "node_modules", "tsx"))
	require.NoError(t, err, "node_modules/tsx is missing: run `npm ci` in %s first", root)

	dir := t.TempDir()
	mapIP := filepath.Join(dir, "map-ip.yaml")
	require.NoError(t, os.WriteFile(mapIP, []byte("{}\n"), 0o600))
	clusterInfo := filepath.Join(dir, "clusterinfo.yaml") // absent: no cluster labels
	if o.ClusterInfo != "" {
		require.NoError(t, os.WriteFile(clusterInfo, []byte(o.ClusterInfo), 0o600))
	}

	p := &pnsmgrProcess{Name: o.Name, URL: o.URL, out: &lockedBuffer{}, done: make(chan struct{})}
	listenOn := "tcp://127.0.0.1:0"
	if o.URL != nil {
		listenOn = o.URL.String()
	}
	args := []string{"--import", "tsx", "lib/main.ts"}
	if os.Getenv("INTEROP_PNSMGR_BUILT") != "" { // the built gateway, as the image runs it (npm run build first)
		args = []string{"dist/lib/main.js"}
	}
	p.cmd = exec.Command(node, args...)
	p.cmd.Dir = root
	// No PNSMGR_PUBLIC_URL: pnsmgr's public URL defaults to the address it bound, which it prints.
	p.cmd.Env = append(os.Environ(),
		"NSM_LISTEN_ON="+listenOn,
		"NSM_NAME="+o.Name,
		"NSM_REGISTRY_URL="+o.RegistryURL.String(),
		"PNSMGR_DNS_SERVER="+o.DNSServer,
		"NSM_MAP_IP_FILE_PATH="+mapIP,
		"PNSMGR_CLUSTER_INFO_FILE="+clusterInfo,
		"NSM_MAX_TOKEN_LIFETIME=10m",
		// The seed (v0) listeners: any free port, never the defaults :5005/:5006.
		"PROXY_NSMD_API_ADDRESS=127.0.0.1:0",
		"PROXY_NSMD_K8S_ADDRESS=127.0.0.1:0",
		"PNSMGR_DIAL_ALLOW=127.0.0.0/8,::1", "PNSMGR_ADMIN_LISTEN_ON=127.0.0.1:0", // loopback peers; admin on any free port
	)
	if o.SpiffeEndpointSocket != "" {
		p.cmd.Env = append(p.cmd.Env, "SPIFFE_ENDPOINT_SOCKET="+o.SpiffeEndpointSocket)
	} else {
		p.cmd.Env = append(p.cmd.Env, "PNSMGR_INSECURE=true")
	}
	if trace := os.Getenv("INTEROP_PNSMGR_TRACE"); trace != "" {
		p.cmd.Env = append(p.cmd.Env, "PNSMGR_TRACE="+trace)
	}
	p.cmd.Env = append(p.cmd.Env, o.ExtraEnv...)
	// INTEROP_PNSMGR_ENV="KEY=VALUE KEY2=VALUE2": extra settings for every pnsmgr (debugging).
	p.cmd.Env = append(p.cmd.Env, strings.Fields(os.Getenv("INTEROP_PNSMGR_ENV"))...)
	p.cmd.SysProcAttr = sysProcAttr()

	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	p.cmd.Stdout = p.out
	require.NoError(t, p.cmd.Start(), "starting pnsmgr %s", o.Name)
	t.Logf("pnsmgr %s: pid %d, listening on %s, registry %s, DNS %s", o.Name, p.cmd.Process.Pid, listenOn, o.RegistryURL, o.DNSServer)

	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.out.Write([]byte(line + "\n"))
			if m := servingLine.FindStringSubmatch(line); m != nil {
				select {
				case serving <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(p.out, stderr) // after a line longer than the scanner buffer
	}()
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()

	started := time.Now()
	t.Cleanup(func() {
		if o.BeforeStop != nil {
			o.BeforeStop()
		}
		stopStart := time.Now()
		p.stop()
		t.Logf("pnsmgr %s stopped in %s (%s)", o.Name, time.Since(stopStart).Round(time.Millisecond), p.cmd.ProcessState)
		if t.Failed() || os.Getenv("INTEROP_VERBOSE") != "" {
			t.Logf("---- pnsmgr %s (%s) output ----\n%s---- end of pnsmgr %s output (%s) ----", o.Name, p.URL, p.out.String(), o.Name, p.cmd.ProcessState)
		}
	})

	select {
	case v1 := <-serving:
		if o.URL != nil {
			require.Equal(t, o.URL.Host, v1, "pnsmgr %s serves v1 on another address than NSM_LISTEN_ON", o.Name)
		}
		p.URL = &url.URL{Scheme: "tcp", Host: v1}
		t.Logf("pnsmgr %s serving after %s", o.Name, time.Since(started).Round(time.Millisecond))
	case <-p.done:
		t.Fatalf("pnsmgr %s exited before serving (%s); its output follows", o.Name, p.cmd.ProcessState)
	case <-time.After(pnsmgrStartTimeout):
		t.Fatalf("pnsmgr %s printed no `pnsmgr serving ... v1=` line within %s; its output follows", o.Name, pnsmgrStartTimeout)
	}
	return p
}

// Exited reports whether the process has ended (a crash shows up here).
func (p *pnsmgrProcess) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output is everything the process has written so far.
func (p *pnsmgrProcess) Output() string { return p.out.String() }

// kill is a crash: SIGKILL to the process group, then wait for the exit.
func (p *pnsmgrProcess) kill() {
	if p.cmd.Process == nil || p.Exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after 3 s.
func (p *pnsmgrProcess) stop() {
	if p.cmd.Process == nil || p.Exited() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
	// Anything left in the group (there should be nothing).
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// String for messages.
func (p *pnsmgrProcess) String() string {
	return fmt.Sprintf("pnsmgr %s at %s", p.Name, p.URL)
}

// Summary of the last lines of output, for assertion messages.
func (p *pnsmgrProcess) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Output(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"github.com/stretchr/testify/require"
)

// Real SPIRE for the secured scenarios: the TypeScript fixture spec/support/spire.ts (two spire-servers and
// two spire-agents, cluster1.test and cluster2.test, federated both ways) driven through
// spec/support/spire-cli.ts over stdin/stdout, so that both test suites share one SPIRE fixture. It starts
// once per `go test` run, on the first secured test, and stops in TestMain.

const (
	trustDomain1 = "cluster1.test"
	trustDomain2 = "cluster2.test"
	// trustDomain3 is started on demand and federated with nobody (refusal tests).
	trustDomain3 = "cluster3.test"
)

// spireDomain is one running trust domain as the fixture describes it.
type spireDomain struct {
	TrustDomain    string   `json:"trustDomain"`
	ID             string   `json:"id"`
	ServerSocket   string   `json:"serverSocket"`
	AgentSocket    string   `json:"agentSocket"`
	EndpointSocket string   `json:"endpointSocket"` // unix://<agent socket>, for SPIFFE_ENDPOINT_SOCKET
	AgentID        string   `json:"agentId"`
	FederatedWith  []string `json:"federatedWith"`
}

// spireEntry is a registration entry created through the fixture.
type spireEntry struct {
	EntryID     string `json:"entryId"`
	SpiffeID    string `json:"spiffeId"`
	TrustDomain string `json:"trustDomain"`
}

// spireEntryOptions are the fixture's createEntry arguments.
type spireEntryOptions struct {
	TrustDomain   string   `json:"trustDomain"`
	SpiffeID      string   `json:"spiffeId"`
	Selectors     []string `json:"selectors"`
	FederatesWith []string `json:"federatesWith,omitempty"` // default: every domain it is federated with
	X509SvidTTL   int      `json:"x509SvidTtl,omitempty"`   // seconds
}

type spireFixture struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *lockedBuffer // stderr
	mu      sync.Mutex
	nextID  int
	pending map[int]chan spireReply
	domains map[string]spireDomain
	done    chan struct{}
}

type spireReply struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
	Ready  *struct {
		BinDir  string        `json:"binDir"`
		Dir     string        `json:"dir"`
		Domains []spireDomain `json:"domains"`
	} `json:"ready"`
}

var (
	sharedSpireOnce sync.Once
	sharedSpire     *spireFixture
	sharedSpireErr  error
)

// How long SPIRE may take to come up (building it is scripts/ensure-spire.sh's job, before the tests).
const spireStartTimeout = 90 * time.Second

// useSpire returns the shared SPIRE fixture, starting it on first use.
func useSpire(t *testing.T) *spireFixture {
	t.Helper()
	sharedSpireOnce.Do(func() {
		started := time.Now()
		sharedSpire, sharedSpireErr = startSpireFixture(repoRoot(t))
		if sharedSpireErr == nil {
			t.Logf("SPIRE (%s, %s) started in %s", trustDomain1, trustDomain2, time.Since(started).Round(time.Millisecond))
		}
	})
	require.NoError(t, sharedSpireErr, "starting SPIRE (bash scripts/ensure-spire.sh builds it)")
	return sharedSpire
}

// stopSharedSpire ends the fixture process (it stops SPIRE when its stdin closes); called from TestMain.
func stopSharedSpire() {
	if sharedSpire != nil {
		sharedSpire.stop()
	}
}

func startSpireFixture(root string) (*spireFixture, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is needed for the SPIRE fixture: %w", err)
	}
	f := &spireFixture{out: &lockedBuffer{}, pending: map[int]chan spireReply{}, done: make(chan struct{})}
	f.cmd = exec.Command(node, "--import", "tsx", filepath.Join("spec", "support", "spire-cli.ts"), `{"defaultX509SvidTtl":3600}`)
	f.cmd.Dir = root
	f.cmd.Stderr = f.out
	f.cmd.SysProcAttr = sysProcAttr()
	if f.stdin, err = f.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err = f.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan spireReply, 1)
	go func() {
		defer close(f.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			var reply spireReply
			if json.Unmarshal(sc.Bytes(), &reply) != nil {
				continue
			}
			if reply.Ready != nil || (reply.ID == 0 && reply.Error != "") {
				ready <- reply
				continue
			}
			f.mu.Lock()
			ch := f.pending[reply.ID]
			delete(f.pending, reply.ID)
			f.mu.Unlock()
			if ch != nil {
				ch <- reply
			}
		}
		_ = f.cmd.Wait()
	}()
	select {
	case reply := <-ready:
		if reply.Ready == nil {
			f.stop()
			return nil, fmt.Errorf("SPIRE fixture: %s\n%s", reply.Error, f.out.String())
		}
		f.domains = map[string]spireDomain{}
		for _, d := range reply.Ready.Domains {
			f.domains[d.TrustDomain] = d
		}
		return f, nil
	case <-f.done:
		return nil, fmt.Errorf("SPIRE fixture exited before it was ready (%s)\n%s", f.cmd.ProcessState, f.out.String())
	case <-time.After(spireStartTimeout):
		f.stop()
		return nil, fmt.Errorf("SPIRE fixture not ready within %s\n%s", spireStartTimeout, f.out.String())
	}
}

// call sends one request to the fixture and decodes its result into out (may be nil).
func (f *spireFixture) call(op string, args, out any) error {
	f.mu.Lock()
	f.nextID++
	id := f.nextID
	ch := make(chan spireReply, 1)
	f.pending[id] = ch
	f.mu.Unlock()
	line, err := json.Marshal(map[string]any{"id": id, "op": op, "args": args})
	if err != nil {
		return err
	}
	if _, err = f.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("SPIRE fixture %s: %w", op, err)
	}
	select {
	case reply := <-ch:
		if reply.Error != "" {
			return fmt.Errorf("SPIRE fixture %s: %s", op, reply.Error)
		}
		if out != nil {
			return json.Unmarshal(reply.Result, out)
		}
		return nil
	case <-f.done:
		return fmt.Errorf("SPIRE fixture exited during %s\n%s", op, f.out.String())
	case <-time.After(60 * time.Second):
		return fmt.Errorf("SPIRE fixture %s: no answer within 60 s", op)
	}
}

func (f *spireFixture) stop() {
	_ = f.stdin.Close()
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
	}
}

// Domain is the running trust domain td (started on demand, unfederated, when it is trustDomain3).
func (f *spireFixture) Domain(t *testing.T, td string) spireDomain {
	t.Helper()
	f.mu.Lock()
	d, ok := f.domains[td]
	f.mu.Unlock()
	if ok {
		return d
	}
	require.Equal(t, trustDomain3, td, "only %s is started on demand", trustDomain3)
	require.NoError(t, f.call("addDomain", map[string]any{"trustDomain": td, "federate": false}, &d))
	f.mu.Lock()
	f.domains[td] = d
	f.mu.Unlock()
	return d
}

// CreateEntry registers an entry and waits until the domain's agent serves its SVID.
func (f *spireFixture) CreateEntry(t *testing.T, o spireEntryOptions) spireEntry {
	t.Helper()
	var e spireEntry
	require.NoError(t, f.call("createEntry", o, &e))
	return e
}

// DeleteEntry removes an entry (its SVID is no longer served).
func (f *spireFixture) DeleteEntry(t *testing.T, e spireEntry) {
	t.Helper()
	require.NoError(t, f.call("deleteEntry", e, nil))
}

// testBinarySelectors select this Go test binary (unix:path), so that SVIDs for it go to no other process.
func (f *spireFixture) testBinarySelectors(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	var selectors []string
	require.NoError(t, f.call("pathSelectors", map[string]any{"binary": exe}, &selectors))
	return selectors
}

// identity registers spiffeID for this test binary in td (once per run) and returns an X509Source
// from td's agent that serves exactly that SVID (the Workload API hands this binary every SVID
// registered for it; the picker chooses this one). The source is closed with the test.
func (f *spireFixture) identity(t *testing.T, ctx context.Context, td, spiffeID string, ttlSeconds int) *workloadapi.X509Source {
	t.Helper()
	d := f.Domain(t, td)
	f.registerOnce(t, spireEntryOptions{TrustDomain: td, SpiffeID: spiffeID, Selectors: f.testBinarySelectors(t), X509SvidTTL: ttlSeconds})
	source, err := workloadapi.NewX509Source(ctx,
		workloadapi.WithClientOptions(workloadapi.WithAddr(d.EndpointSocket)),
		workloadapi.WithDefaultX509SVIDPicker(func(svids []*x509svid.SVID) *x509svid.SVID {
			for _, s := range svids {
				if s.ID.String() == spiffeID {
					return s
				}
			}
			return svids[0]
		}),
	)
	require.NoError(t, err, "X509Source for %s from %s", spiffeID, d.EndpointSocket)
	t.Cleanup(func() { _ = source.Close() })
	svid, err := source.GetX509SVID()
	require.NoError(t, err)
	require.Equal(t, spiffeID, svid.ID.String(), "the agent serves another SVID first")
	return source
}

// pnsmgrIdentity registers spiffeID in td for the node binary `node` (pnsmgr runs as `node --import tsx
// lib/main.ts`), once per run, with ttlSeconds (0: the server's default), and returns the agent socket
// (SPIFFE_ENDPOINT_SOCKET) for that pnsmgr. One entry per trust domain and binary: a node process gets
// every SVID registered for its binary, and pnsmgr takes the first.
func (f *spireFixture) pnsmgrIdentity(t *testing.T, td, spiffeID, node string, ttlSeconds int) string {
	t.Helper()
	var selectors []string
	require.NoError(t, f.call("pathSelectors", map[string]any{"binary": node}, &selectors))
	f.registerOnce(t, spireEntryOptions{TrustDomain: td, SpiffeID: spiffeID, Selectors: selectors, X509SvidTTL: ttlSeconds})
	return f.Domain(t, td).EndpointSocket
}

var (
	nodeCopyOnce sync.Once
	nodeCopyDir  string
	nodeCopy     string
	nodeCopyErr  error
)

// nodeBinaryCopy is a copy of the node binary in a temp dir: to SPIRE's unix attestor (unix:path) a pnsmgr
// run from it is another workload than one run from node itself, so it can have an SVID of its own
// (the rotation scenario's short-lived one). Removed by removeNodeCopy in TestMain.
func nodeBinaryCopy(t *testing.T) string {
	t.Helper()
	nodeCopyOnce.Do(func() {
		node, err := exec.LookPath("node")
		if err == nil {
			node, err = filepath.EvalSymlinks(node)
		}
		if err == nil {
			nodeCopyDir, err = os.MkdirTemp("", "pnsmgr-interop-node-")
		}
		if err == nil {
			nodeCopy = filepath.Join(nodeCopyDir, "node")
			err = copyExecutable(node, nodeCopy)
		}
		nodeCopyErr = err
	})
	require.NoError(t, nodeCopyErr, "copying the node binary")
	return nodeCopy
}

func copyExecutable(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err = io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

func removeNodeCopy() {
	if nodeCopyDir != "" {
		_ = os.RemoveAll(nodeCopyDir)
	}
}

var (
	registeredMu sync.Mutex
	registered   = map[string]bool{}
)

func (f *spireFixture) registerOnce(t *testing.T, o spireEntryOptions) {
	t.Helper()
	registeredMu.Lock()
	defer registeredMu.Unlock()
	if registered[o.SpiffeID] {
		return
	}
	f.CreateEntry(t, o)
	registered[o.SpiffeID] = true
}

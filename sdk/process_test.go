package sdk_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/leadhub/leadhub/sdk"
	"github.com/leadhub/leadhub/sdk/sdktest"
)

// These tests run a real plugin binary, testdata/noisy, built once.

var (
	noisyOnce sync.Once
	noisyBin  string
	noisyErr  error
)

func buildNoisy(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a plugin binary")
	}
	noisyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sdk-noisy-")
		if err != nil {
			noisyErr = err
			return
		}
		noisyBin = filepath.Join(dir, "noisy")
		out, err := exec.Command("go", "build", "-o", noisyBin, "./testdata/noisy").CombinedOutput()
		if err != nil {
			noisyErr = err
			noisyBin = string(out)
		}
	})
	if noisyErr != nil {
		t.Fatalf("build testdata/noisy: %v\n%s", noisyErr, noisyBin)
	}
	return noisyBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if noisyBin != "" && noisyErr == nil {
		_ = os.RemoveAll(filepath.Dir(noisyBin))
	}
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for go-plugin's writer goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The client side here is what the host does.
func TestProcessHandshakeSurvivesStdoutNoise(t *testing.T) {
	bin := buildNoisy(t)
	host := sdktest.NewHost(sdk.Lead{ID: "a", ProjectID: "p", Email: "ann@x.io"}, sdk.Lead{ID: "b", ProjectID: "p", Email: "ANN@x.io"})
	var stderr syncBuffer
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.ClientPlugins(host),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		Stderr:           &stderr,
		StartTimeout:     10 * time.Second,
		Logger:           hclog.NewNullLogger(),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("handshake: %v\nplugin stderr:\n%s", err, stderr.String())
	}
	if v := client.NegotiatedVersion(); v != sdk.ProtocolVersion {
		t.Fatalf("negotiated protocol %d", v)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(*sdk.Client)
	ctx := ctxT(t)
	d, err := c.Describe(ctx)
	if err != nil || d.Name != "noisy" {
		t.Fatalf("describe = %+v, %v", d, err)
	}
	if err := c.Configure(ctx, nil); err != nil {
		t.Fatal(err)
	}
	patch, err := c.Enrich(ctx, sdk.Event{ID: "e", Type: sdk.EventLeadCreated, ProjectID: "p", LeadID: "a"}, sdk.Lead{ID: "a", ProjectID: "p", Email: "ann@x.io"})
	if err != nil {
		t.Fatalf("enrich: %v\nplugin stderr:\n%s", err, stderr.String())
	}
	if patch.Attributes["same_email"] != json.Number("2") {
		t.Fatalf("patch = %+v", patch)
	}
	for _, want := range []string{"noise from init", "raw noise on fd 1", "noise from main", "more noise from main"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("plugin stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestProcessExitsWhenHostDies(t *testing.T) {
	bin := buildNoisy(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	// sh plays the host: it starts the plugin, then is killed.
	sh := exec.Command("sh", "-c", `"$0" & echo $! > "$1"; exec sleep 60`, bin, pidFile)
	sh.Env = append(os.Environ(), sdk.MagicCookieKey+"="+sdk.MagicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 && time.Now().Before(deadline) {
		if b, err := os.ReadFile(pidFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		_ = sh.Process.Kill()
		t.Fatal("plugin pid not written")
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	time.Sleep(1200 * time.Millisecond) // a few watchdog rounds with the parent alive
	if !alive(pid) {
		t.Fatal("plugin exited while its parent was alive")
	}
	_ = sh.Process.Kill()
	_ = sh.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatal("plugin still running 5 s after its parent died")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

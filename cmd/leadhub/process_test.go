package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// leadhubBinary builds the real leadhub command once per test run.
func leadhubBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "leadhub-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "leadhub")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serverProcess is `leadhub serve` running as a child process.
type serverProcess struct {
	t    testing.TB
	cmd  *exec.Cmd
	URL  string
	logs *strings.Builder
	mu   *sync.Mutex
}

// startProcess runs `leadhub serve` with the given environment (LEADHUB_*
// variables) on a free loopback port and waits until /readyz answers.
func startProcess(t testing.TB, env ...string) *serverProcess {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(leadhubBinary(t), "serve")
	cmd.Env = append(os.Environ(), append([]string{"LEADHUB_ADDR=" + addr, "LEADHUB_LOG_FORMAT=json"}, env...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &serverProcess{t: t, cmd: cmd, URL: "http://" + addr, logs: &strings.Builder{}, mu: &sync.Mutex{}}
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(p.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("leadhub did not become ready; logs:\n%s", p.Logs())
	return nil
}

// Logs is what the process has written to stderr so far.
func (p *serverProcess) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// kill sends SIGKILL to the server (not to its children: plugins must notice
// on their own) and waits for it.
func (p *serverProcess) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = p.cmd.Process.Wait()
}

// client returns a testServer-like handle for the process, so the same
// request helpers work against it.
func (p *serverProcess) client() *testServer {
	return &testServer{t: p.t, URL: p.URL}
}

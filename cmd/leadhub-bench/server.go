package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a `leadhub serve` child process.
type server struct {
	bin, dir, addr, adminKey string
	env                      []string
	cmd                      *exec.Cmd
	log                      *os.File
	started                  time.Time
	ready                    time.Duration // from exec to the first 200 of /readyz

	mu      sync.Mutex
	peakRSS int64 // bytes, the highest VmHWM seen over every start
	stop    chan struct{}
	done    chan struct{}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func newServer(bin, dir, adminKey string, env ...string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return &server{bin: bin, dir: dir, addr: addr, adminKey: adminKey, env: env}, nil
}

func (s *server) dbPath() string { return s.dir + "/leadhub.db" }

// start runs the server and waits until /readyz answers 200.
func (s *server) start() error {
	log, err := os.OpenFile(s.dir+"/server.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = append(os.Environ(),
		"LEADHUB_ADDR="+s.addr,
		"LEADHUB_DATABASE_URL=sqlite:"+s.dbPath(),
		"LEADHUB_ADMIN_KEY="+s.adminKey,
		"LEADHUB_LOG_FORMAT=json",
	)
	cmd.Env = append(cmd.Env, s.env...)
	cmd.Stdout, cmd.Stderr = log, log
	// The server dies with the bench, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	s.started = time.Now()
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	s.cmd, s.log = cmd, log
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	c := &conn{addr: s.addr}
	defer c.close()
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("leadhub serve exited: %v (see %s/server.log)", err, s.dir)
		default:
		}
		if st, _, err := c.do("GET", "/readyz", "", nil); err == nil && st == 200 {
			s.ready = time.Since(s.started)
			break
		}
		if time.Since(s.started) > 60*time.Second {
			return fmt.Errorf("leadhub serve not ready after 60s (see %s/server.log)", s.dir)
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.watch(exited)
	return nil
}

// watch samples the peak resident set until the server stops.
func (s *server) watch(exited chan error) {
	defer close(s.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-t.C:
		case <-s.stop:
			s.sample()
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				s.cmd.Process.Kill()
				<-exited
			}
			return
		case <-exited:
			return
		}
	}
}

func (s *server) sample() {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status")
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			s.mu.Lock()
			s.peakRSS = max(s.peakRSS, kb<<10)
			s.mu.Unlock()
		}
	}
}

func (s *server) peak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakRSS
}

// shutdown stops the server with SIGTERM, as an operator would.
func (s *server) shutdown() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	<-s.done
	s.stop = nil
	s.log.Close()
}

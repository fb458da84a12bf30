package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/sdk"
)

// exitPoll is how often the supervisor checks that a plugin's process still
// runs. go-plugin notices the exit; this only reads its flag.
const exitPoll = 100 * time.Millisecond

// maxLastError caps the error text kept for operators.
const maxLastError = 500

// plugin supervises one configured plugin: its process, one at a time, and
// its record (state, description, counters).
type plugin struct {
	h    *Host
	spec Spec
	log  *slog.Logger
	api  *hostAPI
	cfg  []byte // spec.Config as JSON
	// cfgErr is set when spec.Config does not encode: the plugin is
	// disabled at once.
	cfgErr error
	sem    chan struct{} // calls in flight
	// enableCh carries an operator's re-enable to the supervisor.
	enableCh chan struct{}

	desc atomic.Pointer[sdk.Description] // the last description; nil before any
	inst atomic.Pointer[instance]        // the running process; nil when none
	// registered holds the kinds whose jobs this process works (JobKinds).
	registered atomic.Pointer[map[sdk.Kind]bool]
	warned     sync.Map // kinds warned about as not registered

	calls atomic.Int64
	errs  atomic.Int64

	mu       sync.Mutex
	state    string
	crashes  []time.Time
	restarts int
	lastErr  string
	retryAt  time.Time     // when crashed: the planned restart
	attempt  chan struct{} // closed when the next start attempt ends
}

// instance is one running process of a plugin.
type instance struct {
	client *goplugin.Client
	cmd    *exec.Cmd
	conn   *grpc.ClientConn
	c      *sdk.Client
	stderr *tailBuffer
	kick   chan struct{} // a call saw the plugin unavailable: check it now
}

func newPlugin(h *Host, s Spec) *plugin {
	p := &plugin{
		h:        h,
		spec:     s,
		log:      h.log.With("plugin", s.Name),
		sem:      make(chan struct{}, h.opts.Concurrency),
		enableCh: make(chan struct{}, 1),
		state:    core.PluginStarting,
		attempt:  make(chan struct{}),
	}
	p.api = &hostAPI{p: p, projects: map[string]int{}}
	if s.Config != nil {
		b, err := json.Marshal(s.Config)
		if err != nil {
			p.cfgErr = fmt.Errorf("%w: encode config: %v", errPermanent, err)
		}
		p.cfg = b
	}
	return p
}

// errPermanent marks start failures that no restart can fix (a checksum
// mismatch, a configuration that does not encode): the plugin is disabled
// at once.
var errPermanent = errors.New("refused")

// run is the plugin's supervisor: it starts the process, watches it, and
// restarts it after a crash, until the host stops. first is closed after the
// first start attempt.
func (p *plugin) run(first chan struct{}) {
	defer p.h.wg.Done()
	var once sync.Once
	firstDone := func() { once.Do(func() { close(first) }) }
	defer firstDone()

	restart, fromEnable := false, false
	for {
		if restart {
			p.mu.Lock()
			p.restarts++
			p.mu.Unlock()
			p.h.opts.Metrics.PluginRestarted(p.spec.Name)
		}
		p.setState(core.PluginStarting)
		inst, err := p.start()
		if err == nil {
			p.inst.Store(inst)
			p.setState(core.PluginRunning)
			p.h.opts.Metrics.PluginUp(p.spec.Name, true)
			p.log.Info("plugin running", "version", p.version(), "pid", pidOf(inst), "restarts", p.restartCount())
		}
		p.attemptDone()
		firstDone()
		if err == nil {
			// After an operator's enable, once a start succeeds (perhaps
			// after more crashes), what waited for the plugin is due.
			if fromEnable && p.h.opts.OnEnable != nil {
				go p.h.opts.OnEnable(p.spec.Name)
			}
			fromEnable = false
			err = p.watch(inst)
			p.inst.Store(nil)
			p.h.opts.Metrics.PluginUp(p.spec.Name, false)
			p.kill(inst)
			if err == nil { // the host is stopping
				p.setState(core.PluginStopped)
				return
			}
		}
		select {
		case <-p.h.stop:
			p.setState(core.PluginStopped)
			return
		default:
		}

		wait, disabled := p.crashed(err)
		if disabled {
			select {
			case <-p.h.stop:
				p.setState(core.PluginStopped)
				return
			case <-p.enableCh:
				fromEnable = true
			}
		} else {
			t := time.NewTimer(wait)
			select {
			case <-p.h.stop:
				t.Stop()
				p.setState(core.PluginStopped)
				return
			case <-t.C:
			}
		}
		restart = true
	}
}

// start runs a new process and makes it ready: handshake (protocol version
// negotiated, mTLS), Describe, Configure. On error nothing is left running.
func (p *plugin) start() (inst *instance, err error) {
	if p.cfgErr != nil {
		return nil, p.cfgErr
	}
	if err := verifyChecksum(p.spec.Path, p.spec.SHA256); err != nil {
		return nil, err
	}
	// Start-up calls end early when the host stops.
	ctx, cancel := context.WithTimeout(context.Background(), p.h.opts.StartTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.h.stop:
			cancel()
		case <-ctx.Done():
		}
	}()

	cmd := exec.Command(p.spec.Path)
	dieWithParent(cmd)
	inst = &instance{cmd: cmd, stderr: newTailBuffer(2048), kick: make(chan struct{}, 1)}
	started := inst // the named result is nil on the error paths
	inst.client = goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.ClientPlugins(p.api),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		AutoMTLS:         true,
		StartTimeout:     p.h.opts.StartTimeout,
		Stderr:           inst.stderr,
		Logger:           newHCLogger(p.log.Handler(), "plugin"),
	})
	defer func() {
		if err != nil {
			p.kill(started)
		}
	}()

	rpc, err := inst.client.Client()
	if err != nil {
		// go-plugin's error goes on with paragraphs of advice: the log has
		// them; the record keeps the first line and what the plugin said.
		p.log.Debug("plugin start failed", "err", err)
		p.kill(started) // and so wait until its stderr is read
		return nil, fmt.Errorf("start %s: %s%s", p.spec.Path, firstLine(err.Error()), inst.stderr.suffix())
	}
	if v := inst.client.NegotiatedVersion(); v != sdk.ProtocolVersion {
		return nil, fmt.Errorf("start: negotiated plugin protocol %d, want %d", v, sdk.ProtocolVersion)
	}
	gc, ok := rpc.(*goplugin.GRPCClient)
	if !ok {
		return nil, fmt.Errorf("start: plugin does not speak gRPC")
	}
	inst.conn = gc.Conn
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if inst.c, ok = raw.(*sdk.Client); !ok {
		return nil, fmt.Errorf("start: unexpected plugin client %T", raw)
	}

	var desc sdk.Description
	err = p.observe(ctx, "describe", func(ctx context.Context) error {
		var err error
		desc, err = inst.c.Describe(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := desc.Validate(); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if desc.ProtocolVersion != 0 && desc.ProtocolVersion != sdk.ProtocolVersion {
		return nil, fmt.Errorf("start: plugin speaks protocol %d, want %d", desc.ProtocolVersion, sdk.ProtocolVersion)
	}
	if desc.Name != p.spec.Name {
		p.log.Info("plugin describes itself under another name; the configured name is used", "described", desc.Name)
	}
	err = p.observe(ctx, "configure", func(ctx context.Context) error { return inst.c.Configure(ctx, p.cfg) })
	if err != nil {
		return nil, err
	}
	p.desc.Store(&desc)
	return inst, nil
}

// observe runs a start-up call under ctx, counting it in the metrics.
func (p *plugin) observe(ctx context.Context, method string, f func(context.Context) error) error {
	start := time.Now()
	err := f(ctx)
	out := classify(err)
	p.h.opts.Metrics.PluginCall(p.spec.Name, method, out, time.Since(start))
	if err != nil {
		return fmt.Errorf("%s: %s: %w", method, out, err)
	}
	return nil
}

// watch returns nil when the host stops, or why the process is to be
// replaced: it exited, or failed two health checks in a row.
func (p *plugin) watch(inst *instance) error {
	exit := time.NewTicker(exitPoll)
	defer exit.Stop()
	health := time.NewTicker(p.h.opts.HealthInterval)
	defer health.Stop()
	failed := 0
	for {
		select {
		case <-p.h.stop:
			return nil
		case <-exit.C:
		case <-inst.kick:
		case <-health.C:
			if err := p.ping(inst); err != nil {
				failed++
				p.log.Warn("plugin health check failed", "err", err, "in_a_row", failed)
				if failed >= 2 {
					return fmt.Errorf("health check failed twice: %w", err)
				}
			} else {
				failed = 0
			}
		}
		if inst.client.Exited() {
			return fmt.Errorf("plugin process exited%s", inst.stderr.suffix())
		}
	}
}

// ping checks the plugin's gRPC health service with the call timeout
// (go-plugin's own Ping has none).
func (p *plugin) ping(inst *instance) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.spec.Timeout)
	defer cancel()
	return p.observe(ctx, "ping", func(ctx context.Context) error {
		_, err := grpc_health_v1.NewHealthClient(inst.conn).Check(ctx,
			&grpc_health_v1.HealthCheckRequest{Service: goplugin.GRPCServiceName})
		return err
	})
}

// kill stops a process: gracefully through go-plugin, then by force after
// KillTimeout, since go-plugin's Kill can hang.
func (p *plugin) kill(inst *instance) {
	done := make(chan struct{})
	go func() {
		inst.client.Kill()
		close(done)
	}()
	t := time.NewTimer(p.h.opts.KillTimeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	p.log.Warn("plugin did not stop in time; killing it")
	if inst.cmd.Process != nil {
		_ = inst.cmd.Process.Kill()
	}
	t.Reset(p.h.opts.KillTimeout)
	select {
	case <-done:
	case <-t.C:
		p.log.Error("plugin process did not stop after SIGKILL")
	}
}

// crashed records a crash (or a failed start) and says how long to wait
// before the next start, or that the plugin is now disabled.
func (p *plugin) crashed(cause error) (time.Duration, bool) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr = truncate(cause.Error())
	if errors.Is(cause, errPermanent) {
		p.disableLocked("plugin refused", cause)
		return 0, true
	}
	kept := p.crashes[:0]
	for _, t := range p.crashes {
		if now.Sub(t) < p.h.opts.CrashWindow {
			kept = append(kept, t)
		}
	}
	p.crashes = append(kept, now)
	if len(p.crashes) >= p.h.opts.MaxCrashes {
		p.disableLocked("plugin disabled after crashing repeatedly", cause)
		return 0, true
	}
	wait := p.h.opts.RestartBackoff << (len(p.crashes) - 1)
	if wait > p.h.opts.MaxBackoff || wait <= 0 {
		wait = p.h.opts.MaxBackoff
	}
	p.state = core.PluginCrashed
	p.retryAt = now.Add(wait)
	p.log.Warn("plugin crashed; restarting", "err", cause, "in", wait, "crashes", len(p.crashes))
	return wait, false
}

func (p *plugin) disableLocked(msg string, cause error) {
	p.state = core.PluginDisabled
	p.retryAt = time.Time{}
	select { // a stale re-enable must not undo this
	case <-p.enableCh:
	default:
	}
	p.log.Error(msg+"; POST /v1/plugins/"+p.spec.Name+"/enable starts it again", "err", cause)
}

// enable asks the supervisor of a disabled plugin to start it again with a
// clean crash record, and waits for that attempt.
func (p *plugin) enable(ctx context.Context) error {
	p.mu.Lock()
	if p.state != core.PluginDisabled {
		p.mu.Unlock()
		return nil
	}
	p.crashes = nil
	attempt := p.attempt
	p.mu.Unlock()
	select {
	case p.enableCh <- struct{}{}:
	default: // already asked
	}
	p.log.Info("plugin enabled by an operator")
	t := time.NewTimer(p.h.opts.StartTimeout + p.h.opts.KillTimeout)
	defer t.Stop()
	select {
	case <-attempt:
	case <-ctx.Done():
	case <-p.h.stop:
	case <-t.C:
	}
	return nil
}

// attemptDone wakes those waiting for a start attempt to end.
func (p *plugin) attemptDone() {
	p.mu.Lock()
	close(p.attempt)
	p.attempt = make(chan struct{})
	p.mu.Unlock()
}

func (p *plugin) setState(s string) {
	p.mu.Lock()
	p.state = s
	if s != core.PluginCrashed {
		p.retryAt = time.Time{}
	}
	p.mu.Unlock()
}

// availability says whether the plugin can take calls now and, when it
// cannot, when to try again.
func (p *plugin) availability() (*instance, time.Time) {
	if inst := p.inst.Load(); inst != nil {
		return inst, time.Time{}
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.state {
	case core.PluginCrashed:
		if !p.retryAt.IsZero() {
			return nil, p.retryAt.Add(time.Second)
		}
	case core.PluginDisabled, core.PluginStopped:
		return nil, now.Add(p.h.opts.DisabledRetry)
	}
	return nil, now.Add(p.h.opts.RestartBackoff)
}

func (p *plugin) setLastError(method string, err error) {
	p.mu.Lock()
	p.lastErr = truncate(method + ": " + err.Error())
	p.mu.Unlock()
}

func (p *plugin) version() string {
	if d := p.desc.Load(); d != nil {
		return d.Version
	}
	return ""
}

func (p *plugin) restartCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

func (p *plugin) pid() int {
	return pidOf(p.inst.Load())
}

func pidOf(inst *instance) int {
	if inst == nil || inst.cmd.Process == nil {
		return 0
	}
	return inst.cmd.Process.Pid
}

// info is the plugin as operators see it.
func (p *plugin) info() core.PluginInfo {
	p.mu.Lock()
	i := core.PluginInfo{
		Name:       p.spec.Name,
		State:      p.state,
		Restarts:   p.restarts,
		LastError:  p.lastErr,
		Kinds:      []string{},
		EventTypes: []string{},
	}
	p.mu.Unlock()
	i.Calls, i.Errors = p.calls.Load(), p.errs.Load()
	if d := p.desc.Load(); d != nil {
		i.Version = d.Version
		for _, k := range d.Kinds {
			i.Kinds = append(i.Kinds, string(k))
		}
		i.EventTypes = append(i.EventTypes, d.EventTypes...)
	}
	return i
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

func truncate(s string) string {
	if len(s) <= maxLastError {
		return s
	}
	return s[:maxLastError] + "…"
}

// tailBuffer keeps the last bytes a plugin wrote to stderr, to say why it
// died.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, b...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(b), nil
}

// suffix is ": stderr: <last line>" or "".
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.b)
	// The last non-empty lines, at most 300 bytes.
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	if s == "" {
		return ""
	}
	if len(s) > 300 {
		s = s[len(s)-300:]
	}
	return ": stderr: " + s
}

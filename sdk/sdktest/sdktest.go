// Package sdktest runs a Leadhub plugin in-process for tests, without
// building a binary, through the same path a plugin process uses: go-plugin's
// gRPC server with the SDK's size cap and panic recovery, the host-side
// sdk.Client, and the host API served through go-plugin's broker.
//
//	func TestEnrich(t *testing.T) {
//		c := sdktest.Start(t, &myPlugin{}, sdktest.NewHost())
//		patch, err := c.Enrich(t.Context(), ev, lead)
//		...
//	}
package sdktest

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/leadhub/leadhub/sdk"
)

// Option changes what Start does.
type Option func(*options)

type options struct {
	config    []byte
	configure bool
}

// WithConfig sets the configuration Start hands to the plugin: a []byte,
// string or json.RawMessage is passed as is, anything else as its JSON.
func WithConfig(v any) Option {
	return func(o *options) {
		switch c := v.(type) {
		case []byte:
			o.config = c
		case json.RawMessage:
			o.config = c
		case string:
			o.config = []byte(c)
		default:
			b, err := json.Marshal(c)
			if err != nil {
				panic("sdktest: encode config: " + err.Error())
			}
			o.config = b
		}
	}
}

// Unconfigured makes Start skip Configure, to test Configure itself.
func Unconfigured() Option {
	return func(o *options) { o.configure = false }
}

// Start serves p in-process and returns the host's client for it, after
// Configure (with no configuration unless WithConfig says otherwise). host
// is served to the plugin; nil serves an empty NewHost. Everything stops when
// the test ends. Start fails the test when p is not a valid plugin or does
// not start or configure.
func Start(t testing.TB, p sdk.Plugin, host sdk.HostAPI, opts ...Option) *sdk.Client {
	t.Helper()
	o := options{configure: true}
	for _, opt := range opts {
		opt(&o)
	}
	if host == nil {
		host = NewHost()
	}

	cfg, err := sdk.ServeConfig(p)
	if err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	log := newTestLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	cfg.Logger = log.logger
	cfg.Test = &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed}
	go plugin.Serve(cfg)

	// stop waits for the server to end (after the client closed it, which
	// stops it from within) and only cancels it when it does not: go-plugin
	// races with itself when both stop the same server.
	stop := func(wait time.Duration) {
		select {
		case <-closed:
		case <-time.After(wait):
			cancel()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Errorf("sdktest: plugin server did not stop")
			}
		}
		cancel()
		log.stop()
	}

	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-closed:
		log.stop()
		t.Fatalf("sdktest: plugin stopped before serving")
	case <-time.After(10 * time.Second):
		stop(0)
		t.Fatalf("sdktest: plugin did not start serving")
	}

	sets := sdk.ClientPlugins(host)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sets[rc.ProtocolVersion],
		VersionedPlugins: sets,
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		Logger:           log.logger,
	})
	rpc, err := client.Client()
	if err != nil {
		stop(0)
		t.Fatalf("sdktest: connect: %v", err)
	}
	t.Cleanup(func() {
		_ = rpc.Close()
		client.Kill()
		stop(5 * time.Second)
	})
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("sdktest: dispense: %v", err)
	}
	c := raw.(*sdk.Client)
	if o.configure {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		if err := c.Configure(cctx, o.config); err != nil {
			t.Fatalf("sdktest: %v", err)
		}
	}
	return c
}

// testLogger sends go-plugin's warnings and errors to the test log until the
// test's cleanup stops it.
type testLogger struct {
	t      testing.TB
	mu     sync.Mutex
	done   bool
	logger hclog.Logger
}

func newTestLogger(t testing.TB) *testLogger {
	l := &testLogger{t: t}
	l.logger = hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: l})
	return l
}

var _ io.Writer = (*testLogger)(nil)

func (l *testLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("%s", p)
	}
	return len(p), nil
}

func (l *testLogger) stop() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}

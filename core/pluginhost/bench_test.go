package pluginhost

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/leadhub/leadhub/sdk"
)

// These benchmarks compare one Enrich call made through the host (slot,
// project scope, deadline, classification, metrics, counters) with the same
// call on a bare go-plugin client, against the same plugin binary in the
// same run:
//
//	go test -run '^$' -bench 'Call' -count 5 ./core/pluginhost/

var (
	benchBinOnce sync.Once
	benchBin     string
	benchBinErr  error
)

func benchPlugin(b *testing.B) string {
	b.Helper()
	benchBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pluginhost-bench-")
		if err != nil {
			benchBinErr = err
			return
		}
		benchBin = filepath.Join(dir, "faulty")
		if out, err := exec.Command("go", "build", "-o", benchBin, "./testdata/faulty").CombinedOutput(); err != nil {
			benchBinErr = err
			benchBin = string(out)
		}
	})
	if benchBinErr != nil {
		b.Fatalf("build: %v\n%s", benchBinErr, benchBin)
	}
	return benchBin
}

var (
	benchEvent = sdk.Event{ID: "e1", Type: sdk.EventLeadCreated, ProjectID: "p1", LeadID: "l1", Actor: "key:k",
		CreatedAt: time.Now(), Data: []byte(`{"lead":{"id":"l1","email":"ann@acme-corp.io"}}`)}
	benchLead = sdk.Lead{ID: "l1", ProjectID: "p1", UserIDs: []string{"u1"}, Fullname: "Ann Example",
		Email: "ann@acme-corp.io", Attributes: map[string]any{"plan": "pro"}, Tags: []string{"vip"}, Status: sdk.StatusActive,
		CreatedAt: time.Now(), UpdatedAt: time.Now()}
)

// bareClient starts the plugin the way go-plugin's documentation does, with
// the SDK's client set and the same transport options as the host.
func bareClient(b *testing.B) *sdk.Client {
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.ClientPlugins(nil),
		Cmd:              exec.Command(benchPlugin(b)),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		AutoMTLS:         true,
		Logger:           hclog.NewNullLogger(),
	})
	b.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		b.Fatal(err)
	}
	c := raw.(*sdk.Client)
	ctx := context.Background()
	if _, err := c.Describe(ctx); err != nil {
		b.Fatal(err)
	}
	if err := c.Configure(ctx, []byte(`{"mode":"noop"}`)); err != nil {
		b.Fatal(err)
	}
	return c
}

// hostPlugin starts the plugin through a Host and returns its record.
func hostPlugin(b *testing.B) *plugin {
	h, err := New(Options{
		Plugins: []Spec{{Name: "bench", Path: benchPlugin(b), Config: map[string]any{"mode": "noop"}}},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Stop(context.Background()) })
	p := h.byName["bench"]
	if p.inst.Load() == nil {
		b.Fatalf("plugin not running: %+v", p.info())
	}
	return p
}

func BenchmarkCallBareGRPC(b *testing.B) {
	c := bareClient(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if _, err := c.Enrich(cctx, benchEvent, benchLead); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}

func BenchmarkCallHost(b *testing.B) {
	p := hostPlugin(b)
	ctx := context.Background()
	projects := []string{benchEvent.ProjectID}
	b.ResetTimer()
	for b.Loop() {
		err := p.call(ctx, "enrich", projects, nil, func(ctx context.Context, c *sdk.Client) error {
			_, err := c.Enrich(ctx, benchEvent, benchLead)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCallBareGRPCParallel(b *testing.B) {
	c := bareClient(b)
	b.SetParallelism(DefaultConcurrency / 2) // on 2 cores: the host's default Concurrency
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if _, err := c.Enrich(cctx, benchEvent, benchLead); err != nil {
				b.Error(err)
			}
			cancel()
		}
	})
}

func BenchmarkCallHostParallel(b *testing.B) {
	p := hostPlugin(b)
	projects := []string{benchEvent.ProjectID}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			err := p.call(context.Background(), "enrich", projects, nil, func(ctx context.Context, c *sdk.Client) error {
				_, err := c.Enrich(ctx, benchEvent, benchLead)
				return err
			})
			if err != nil {
				b.Error(err)
			}
		}
	})
}

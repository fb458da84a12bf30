package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leadhub/leadhub/config"
	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/httpapi"
	"github.com/leadhub/leadhub/core/jobs"
	"github.com/leadhub/leadhub/core/metrics"
	"github.com/leadhub/leadhub/core/pluginhost"
	"github.com/leadhub/leadhub/core/store"
)

func newLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.Log.Format
	if format == "auto" {
		format = "json"
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

func openStore(ctx context.Context, cfg config.Config, m core.StoreMetrics, log *slog.Logger) (*store.Store, error) {
	return openStoreWithHook(ctx, cfg, m, nil, log)
}

func openStoreWithHook(ctx context.Context, cfg config.Config, m core.StoreMetrics, hook core.EventHook, log *slog.Logger, more ...func(*store.Options)) (*store.Store, error) {
	opts := store.Options{
		Hook:        hook,
		URL:         cfg.DatabaseURL,
		Synchronous: cfg.Database.Synchronous,
		MaxBatch:    cfg.Database.MaxBatch,
		MaxWait:     cfg.Database.MaxWait,
		ReadConns:   cfg.Database.ReadConns,
		MaxConns:    cfg.Database.MaxConns,
		Metrics:     m,
		Logger:      log,
	}
	for _, f := range more {
		f(&opts)
	}
	return store.Open(ctx, opts)
}

// server is a wired Leadhub: the store, the API and what runs beside them.
type server struct {
	cfg     config.Config
	log     *slog.Logger
	store   *store.Store
	queue   *jobs.Queue
	plugins *pluginhost.Host
	hub     *webhookHub
	api     *httpapi.API
	handler http.Handler
	// adminKey is set when this start generated the admin key.
	adminKey string
}

func newServer(ctx context.Context, cfg config.Config, log *slog.Logger) (*server, error) {
	m := metrics.New(prometheus.NewRegistry())
	disp := &dispatcher{}
	s, err := openStoreWithHook(ctx, cfg, m, disp, log)
	if err != nil {
		return nil, err
	}
	disp.dialect = jobs.SQLite
	if s.Dialect() == store.Postgres {
		disp.dialect = jobs.Postgres
	}
	queue := jobs.New(s.DB(), disp.dialect, jobs.Options{ReadDB: s.ReadDB(), Logger: log, Observer: jobsObserver{m}})
	disp.queue = queue
	hub, err := newWebhookHub(cfg, s, disp, queue, m, log)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	plugins, err := startPlugins(ctx, cfg, s, disp, queue, m, log)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("plugins: %w", err)
	}
	generated, err := s.EnsureAdminKey(ctx, cfg.AdminKey)
	if err != nil {
		stopPlugins(plugins, log)
		s.Close()
		return nil, fmt.Errorf("admin key: %w", err)
	}
	api := httpapi.New(httpapi.Config{
		Services: s,
		Ready: func(ctx context.Context) error {
			if err := s.Ping(ctx); err != nil {
				return err
			}
			if n, err := s.Pending(ctx); err != nil || n > 0 {
				return errors.Join(err, fmt.Errorf("%d migrations pending", n))
			}
			return nil
		},
		Metrics:    m.Handler(),
		Observer:   m,
		Logger:     log,
		MaxBody:    cfg.MaxBodyBytes,
		Duplicates: s,
		Merges:     s,
		Webhooks:   hub.service,
		Channels:   s,
		Inbound:    hub.inbound,
		Plugins:    plugins,
	})
	if err := queue.Start(ctx); err != nil {
		stopPlugins(plugins, log)
		s.Close()
		return nil, fmt.Errorf("job queue: %w", err)
	}
	return &server{cfg: cfg, log: log, store: s, queue: queue, plugins: plugins, hub: hub, api: api, handler: hub.wrap(api), adminKey: generated}, nil
}

// close stops the workers first (they finish their batches), then the store.
func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.queue.Stop(ctx); err != nil {
		s.log.Warn("job queue stop", "error", err)
	}
	stopPlugins(s.plugins, s.log)
	s.hub.close()
	s.store.Close()
}

// serve runs until SIGINT or SIGTERM, then drains in-flight requests.
func serve(ctx context.Context, cfg config.Config, out io.Writer) error {
	log := newLogger(cfg)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := newServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.close()
	if srv.adminKey != "" {
		fmt.Fprintf(out, "\nGenerated the server admin key. It is shown this once; keep it:\n\n    %s\n\n", srv.adminKey)
	}
	defer startPprof(cfg.PprofAddr, log)()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.Info("leadhub serving", "addr", ln.Addr().String(), "database", redactURL(cfg.DatabaseURL), "version", version)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return hs.Shutdown(shutCtx)
}

// redactURL hides a password in a database URL for logs.
func redactURL(u string) string {
	if at := strings.LastIndex(u, "@"); at > 0 {
		if scheme := strings.Index(u, "://"); scheme > 0 && scheme < at {
			return u[:scheme+3] + "***" + u[at:]
		}
	}
	return u
}

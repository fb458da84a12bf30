package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves Go's profiler on addr (config pprof_addr), apart from the
// API: `go tool pprof http://ADDR/debug/pprof/profile?seconds=10`. It is off
// unless configured, and has no authentication, so bind it to loopback.
func startPprof(addr string, log *slog.Logger) (stop func()) {
	if addr == "" {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("pprof listener", "addr", addr, "error", err)
		return func() {}
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	log.Warn("profiler serving (pprof_addr): unauthenticated, keep it on loopback", "addr", ln.Addr().String())
	return func() { hs.Close() }
}

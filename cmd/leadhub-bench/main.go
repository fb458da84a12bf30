// Command leadhub-bench measures Leadhub end to end: it starts the real
// `leadhub serve` binary on a fresh database, drives it over loopback from
// this process, and prints one table of figures, each beside a baseline
// measured in the same run (raw SQLite on the same schema, the server's own
// /healthz rate, the same queries without HTTP). `make bench` runs it; see
// docs/performance.md.
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite"
)

type options struct {
	bin         string
	leads       int
	conns       int
	duration    time.Duration
	runs        int
	known       int
	bulkConns   int
	lookupConns int
	lookupRate  float64
	lookups     int
	dir         string
	keep        bool
	out         string
	profile     string
	only        string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/leadhub", "the leadhub binary to start")
	flag.IntVar(&o.leads, "leads", 1_000_000, "leads to bulk-load before the lookups (BENCH_LEADS)")
	flag.IntVar(&o.conns, "conns", 64, "connections of the ingest and /healthz loads")
	flag.DurationVar(&o.duration, "duration", 6*time.Second, "length of one ingest run")
	flag.IntVar(&o.runs, "runs", 3, "runs of each throughput figure; the table shows the median")
	flag.IntVar(&o.known, "known", 10_000, "leads that exist before an ingest run starts")
	flag.IntVar(&o.bulkConns, "bulk-conns", 4, "connections of the bulk load")
	flag.IntVar(&o.lookupConns, "lookup-conns", 4, "connections of the lookup loads")
	flag.IntVar(&o.lookups, "lookups", 5_000, "lookups of each kind")
	flag.Float64Var(&o.lookupRate, "lookup-rate", 500, "lookups per second of the paced (open-loop) lookup runs")
	flag.StringVar(&o.dir, "dir", "", "work folder (default: a new temporary folder, removed at the end)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder")
	flag.StringVar(&o.out, "out", "", "also write the table (Markdown) to this file")
	flag.StringVar(&o.profile, "profile", "", "write CPU profiles of the server (ingest, search) to this folder; needs the server's pprof_addr")
	flag.StringVar(&o.only, "only", "", "run only these sections, comma-separated: core (ingest, bulk load, lookups, start-up) and "+sectionNames())
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "leadhub-bench:", err)
		os.Exit(1)
	}
}

// row is one line of the table.
type row struct {
	figure, value, baseline, ratio, target, verdict string
}

type report struct {
	rows []row
}

func (r *report) add(x row) {
	r.rows = append(r.rows, x)
	fmt.Fprintf(os.Stderr, "  %-52s %-22s %-34s %s\n", x.figure, x.value, x.baseline, x.ratio)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func median[T cmp.Ordered](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(o options) error {
	for _, name := range strings.Split(o.only, ",") {
		if o.only != "" && name != "core" && !slices.ContainsFunc(sections, func(s section) bool { return s.name == name }) {
			return fmt.Errorf("-only: no section %q (core, %s)", name, sectionNames())
		}
	}
	if (o.wants("core") && o.leads < 4000) || o.runs < 1 || o.conns < 1 {
		return fmt.Errorf("want -leads of at least 4000, -runs and -conns of at least 1")
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("%s: %w (run `make bench`, which builds it)", o.bin, err)
	}
	bin, _ := filepath.Abs(o.bin)
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "leadhub-bench-")
		if err != nil {
			return err
		}
		dir = d
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Interrupted: the servers die with this process (Pdeathsig); remove
	// the work folder, which holds gigabytes at a million leads.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		undoInterrupted()
		if !o.keep && o.dir == "" {
			time.Sleep(500 * time.Millisecond)
			os.RemoveAll(dir)
		}
		os.Exit(130)
	}()
	started := time.Now()
	rep := &report{}
	seed := uint64(time.Now().UnixNano())
	say("leadhub-bench: %d leads, %d connections, %d runs of %s, work folder %s", o.leads, o.conns, o.runs, o.duration, dir)
	env := &benchEnv{o: o, bin: bin, dir: dir, seed: seed, rep: rep}
	total := 0
	if o.wants("core") {
		n, err := runCore(env)
		if err != nil {
			return err
		}
		total = n
	}
	for _, s := range sections {
		if !o.wants(s.name) {
			continue
		}
		say("section %s", s.name)
		if err := s.run(env); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return rep.print(o, started, total)
}

// runCore is the core of the bench: raw ceilings, ingest, /healthz, bulk
// load, lookups, start-up and RSS. It returns the leads in its database.
func runCore(env *benchEnv) (int, error) {
	o, bin, dir, seed, rep := env.o, env.bin, env.dir, env.seed, env.rep

	// 1. Baselines without HTTP: raw SQLite on the same schema, and the
	// store's IngestRequest called in-process.
	say("raw SQLite ingest ceiling (same rows, batched transactions of 256, no HTTP)")
	var rawRates []float64
	for i := range o.runs {
		r, err := rawIngest(filepath.Join(dir, fmt.Sprintf("raw-ingest-%d.db", i)), "FULL", seed+uint64(i), o.known, o.duration, 256)
		if err != nil {
			return 0, fmt.Errorf("raw ingest: %w", err)
		}
		rawRates = append(rawRates, r)
		say("  run %d: %.0f ingests/s", i+1, r)
	}
	rawIngestRate := median(rawRates)

	say("store.IngestRequest in-process (%d goroutines, no HTTP)", o.conns)
	var storeRates []float64
	var storeP99 []time.Duration
	for i := range o.runs {
		r, err := storeIngest(filepath.Join(dir, fmt.Sprintf("store-ingest-%d.db", i)), seed+uint64(i), o.known, o.conns, o.duration)
		if err != nil {
			return 0, fmt.Errorf("store ingest: %w", err)
		}
		if r.failed > 0 {
			return 0, fmt.Errorf("store ingest: %d failed: %s", r.failed, r.firstErr)
		}
		storeRates = append(storeRates, r.rate())
		storeP99 = append(storeP99, r.pct(99))
		say("  run %d: %.0f ingests/s, p99 %s", i+1, r.rate(), ms(r.pct(99)))
	}

	// 2. The server with its defaults (synchronous=full): /healthz and ingest.
	admin := "lhadmin_bench_" + uuid.NewString()
	mainDir := filepath.Join(dir, "server")
	os.MkdirAll(mainDir, 0o755)
	var extraEnv []string
	if o.profile != "" {
		pa, _ := freeAddr()
		extraEnv = append(extraEnv, "LEADHUB_PPROF_ADDR="+pa)
	}
	srv, err := newServer(bin, mainDir, admin, extraEnv...)
	if err != nil {
		return 0, err
	}
	say("starting %s serve on %s (fresh database)", o.bin, srv.addr)
	if err := srv.start(); err != nil {
		return 0, err
	}
	defer srv.shutdown()
	say("  ready in %s", srv.ready.Round(time.Millisecond))
	key, err := newProject(srv)
	if err != nil {
		return 0, err
	}

	say("GET /healthz, %d connections", o.conns)
	var hzRates []float64
	for i := range o.runs {
		r := load(srv.addr, "", o.conns, 3*time.Second, 0, func(int) call { return call{method: "GET", path: "/healthz"} }, nil)
		if r.failed > 0 {
			return 0, fmt.Errorf("healthz: %d failed: %s", r.failed, r.firstErr)
		}
		hzRates = append(hzRates, r.rate())
		say("  run %d: %.0f/s", i+1, r.rate())
	}
	healthz := median(hzRates)

	ingestRuns := func(s *server, key string, label string, runs int) ([]loadResult, error) {
		path := "/v1/projects/" + key[:strings.IndexByte(key, '|')] + "/requests"
		k := key[strings.IndexByte(key, '|')+1:]
		if err := bulk(s, key, seed, 0, o.known, 1, nil); err != nil {
			return nil, err
		}
		st := newStream(seed, o.known)
		var out []loadResult
		for i := range runs {
			var prof *profiler
			if o.profile != "" && i == 0 {
				prof = startProfile(s, filepath.Join(o.profile, "ingest-"+label+".pprof"), o.duration-time.Second)
			}
			sum0, n0 := batchSizes(s)
			r := load(s.addr, k, o.conns, o.duration, 0, func(i int) call {
				return call{method: "POST", path: path, body: ingestBody(st.next(), i)}
			}, func(status int, _ []byte) bool { return status == 201 || status == 200 })
			prof.wait()
			if r.failed > 0 {
				return nil, fmt.Errorf("ingest: %d failed: %s", r.failed, r.firstErr)
			}
			sum1, n1 := batchSizes(s)
			r.batch = (sum1 - sum0) / max(1, n1-n0)
			out = append(out, r)
			say("  run %d: %.0f requests/s, p50 %s, p99 %s, %.1f writes per transaction", i+1, r.rate(), ms(r.pct(50)), ms(r.pct(99)), r.batch)
		}
		return out, nil
	}
	say("POST /requests (80%% known, 20%% new user ids), %d connections, synchronous=full (the default)", o.conns)
	full, err := ingestRuns(srv, key, "full", o.runs)
	if err != nil {
		return 0, err
	}

	// 3. The same with synchronous=normal, on a fresh database of its own.
	normalDir := filepath.Join(dir, "server-normal")
	os.MkdirAll(normalDir, 0o755)
	fsrv, err := newServer(bin, normalDir, admin, "LEADHUB_DATABASE__SYNCHRONOUS=normal")
	if err != nil {
		return 0, err
	}
	if err := fsrv.start(); err != nil {
		return 0, err
	}
	fkey, err := newProject(fsrv)
	if err != nil {
		fsrv.shutdown()
		return 0, err
	}
	// One run: the comparison of sync levels is a reference, and the
	// budget of make bench is 10 minutes.
	say("POST /requests, synchronous=normal (separate server, fresh database), one run")
	normal, err := ingestRuns(fsrv, fkey, "normal", 1)
	fsrv.shutdown()
	if err != nil {
		return 0, err
	}

	rates := func(rs []loadResult) (float64, time.Duration, time.Duration) {
		var r []float64
		var p50, p99 []time.Duration
		for _, x := range rs {
			r = append(r, x.rate())
			p50 = append(p50, x.pct(50))
			p99 = append(p99, x.pct(99))
		}
		return median(r), median(p50), median(p99)
	}
	nr, n50, n99 := rates(normal)
	fr, f50, f99 := rates(full)
	rep.add(row{"ingest `POST /requests`, 64 conns (synchronous=full, the default): requests/s", fmt.Sprintf("%.0f", fr),
		fmt.Sprintf("raw SQLite, same rows: %.0f/s", rawIngestRate), fmt.Sprintf("%.0f%%", 100*fr/rawIngestRate),
		"≥ 6,000/s and ≥ 60% of raw", verdict(fr >= 6000 && fr >= 0.6*rawIngestRate)})
	rep.add(row{"ingest latency p50 / p99", ms(f50) + " / " + ms(f99), "", "", "p99 < 50 ms", verdict(f99 < 50*time.Millisecond)})
	rep.add(row{"ingest in-process (store, no HTTP), 64 goroutines", fmt.Sprintf("%.0f/s", median(storeRates)),
		fmt.Sprintf("raw SQLite: %.0f/s", rawIngestRate), fmt.Sprintf("%.0f%%", 100*median(storeRates)/rawIngestRate), "", ""})
	rep.add(row{"`GET /healthz`, 64 conns", fmt.Sprintf("%.0f/s", healthz), "", fmt.Sprintf("ingest = %.0f%% of it", 100*fr/healthz), "", ""})
	rep.add(row{"ingest with synchronous=normal: requests/s, p50 / p99", fmt.Sprintf("%.0f, %s / %s", nr, ms(n50), ms(n99)),
		fmt.Sprintf("synchronous=full: %.0f/s", fr), fmt.Sprintf("full = %.0f%% of normal", 100*fr/nr), "", ""})

	// 4. Bulk load of o.leads leads: the first ones through the batched
	// API of the running server, the rest through `leadhub import` with
	// the server stopped, which is how an operator loads a million
	// contacts. The raw baseline writes the same first leads.
	bulkSeed := seed ^ 0xb01c
	first := min(o.leads/2, 50_000)
	first -= first % 1000
	var sample []string
	var batchRate float64
	if first > 0 {
		say("bulk load, first %d leads through POST /leads/batch (1000 a call, %d connections)", first, o.bulkConns)
		t0 := time.Now()
		if err := bulk(srv, key, bulkSeed, 0, first, o.bulkConns, &sample); err != nil {
			return 0, err
		}
		batchRate = float64(first) / time.Since(t0).Seconds()
		say("  %.0f leads/s", batchRate)
	}
	srv.shutdown()
	pid, k := key[:strings.IndexByte(key, '|')], key[strings.IndexByte(key, '|')+1:]
	say("bulk load, %d more through `leadhub import` (server stopped): writing the file", o.leads-first)
	file := filepath.Join(dir, "bulk.ndjson")
	size, err := writeLeadsFile(file, bulkSeed, first, o.leads)
	if err != nil {
		return 0, err
	}
	var impProf *profiler
	imp, err := runImport(bin, srv.dbPath(), pid, file, filepath.Join(mainDir, "import.log"), srv.env, func() {
		if o.profile != "" {
			// The import's own profiler (pprof_addr serves admin commands
			// too), a third of the way in.
			impProf = startProfileAfter(srv, filepath.Join(o.profile, "import.pprof"), 20*time.Second, 20*time.Second)
		}
	})
	impProf.wait()
	os.Remove(file)
	if err != nil {
		return 0, err
	}
	importRate := float64(o.leads-first) / imp.took.Seconds()
	say("  %d MB of NDJSON in %s: %.0f leads/s, peak RSS %d MiB", size>>20, imp.took.Round(time.Millisecond), importRate, imp.peak>>20)
	ids, err := sampleLeadIDs(srv.dbPath(), 20_000)
	if err != nil {
		return 0, err
	}
	sample = append(sample, ids...)
	var rawBulkRate float64
	if first > 0 {
		say("raw SQLite bulk insert of the first %d leads (same rows, transactions of 1000, no HTTP)", first)
		rawBulkRate, err = rawBulk(filepath.Join(dir, "raw-bulk.db"), bulkSeed, first)
		if err != nil {
			return 0, fmt.Errorf("raw bulk: %w", err)
		}
		os.Remove(filepath.Join(dir, "raw-bulk.db"))
		say("  %.0f leads/s", rawBulkRate)
	}
	rep.add(row{fmt.Sprintf("bulk load: %s leads through `leadhub import` (NDJSON file, one transaction, server stopped)", thousands(o.leads-first)),
		fmt.Sprintf("%.0f leads/s", importRate),
		fmt.Sprintf("raw SQLite, first %s of the same rows, transactions of 1000: %.0f/s", thousands(first), rawBulkRate),
		ratio(importRate, rawBulkRate), "≥ 20,000/s", verdict(importRate >= 20000)})
	rep.add(row{fmt.Sprintf("bulk load: first %s leads through `POST /leads/batch` (1000 a call, %d conns)", thousands(first), o.bulkConns),
		fmt.Sprintf("%.0f leads/s", batchRate), "raw SQLite, same rows: " + fmt.Sprintf("%.0f/s", rawBulkRate), ratio(batchRate, rawBulkRate), "", ""})
	rep.add(row{"import peak RSS (the `leadhub import` process)", fmt.Sprintf("%d MiB", imp.peak>>20), "", "", "", ""})
	if err := srv.start(); err != nil {
		return 0, err
	}
	say("  server ready again in %s", srv.ready.Round(time.Millisecond))

	// 5. Lookups on the loaded database.
	total, err := countLeads(srv.dbPath())
	if err != nil {
		return 0, err
	}
	say("lookups at %d leads, %d connections, %d each", total, o.lookupConns, o.lookups)
	pick := func(i int) person { return personN(int(mix(i, 7)%uint64(o.leads)), bulkSeed) }
	base := "/v1/projects/" + pid + "/leads"
	type lookup struct {
		name, target string
		limit        time.Duration
		http         func(i int) call
		dq           string
		dargs        func(i int) []any
		// paced: measured again at o.lookupRate, open loop, where its
		// target is judged (a latency target is about a server that
		// keeps up, not one saturated by closed-loop clients).
		paced bool
	}
	one := func(i int) string { a, _ := prefixes(pick(i)); return a }
	two := func(i int) string { a, b := prefixes(pick(i)); return a + " " + b }
	fts := func(s string) string {
		var parts []string
		for _, w := range strings.Fields(s) {
			parts = append(parts, `"`+w+`"*`)
		}
		return strings.Join(parts, " ")
	}
	lookups := []lookup{
		{"by email (`?email=`)", "p99 < 2 ms", 2 * time.Millisecond,
			func(i int) call { return call{method: "GET", path: base + "?email=" + url.QueryEscape(pick(i).email)} },
			directQueries["email"], func(i int) []any { return []any{pid, pick(i).email} }, true},
		{"by user id (`?user_id=`)", "p99 < 2 ms", 2 * time.Millisecond,
			func(i int) call { return call{method: "GET", path: base + "?user_id=" + pick(i).userID} },
			directQueries["user_id"], func(i int) []any { return []any{pid, pid, pick(i).userID} }, true},
		{"by id (`/leads/{id}`)", "", 0,
			func(i int) call { return call{method: "GET", path: base + "/" + sample[i%len(sample)]} },
			directQueries["id"], func(i int) []any { return []any{sample[i%len(sample)], pid} }, true},
		{"search `?q=` one prefix (3 letters), limit 20", "p99 < 25 ms", 25 * time.Millisecond,
			func(i int) call { return call{method: "GET", path: base + "?limit=20&q=" + url.QueryEscape(one(i))} },
			directQueries["q"], func(i int) []any { return []any{pid, fts(one(i))} }, false},
		{"search `?q=` two prefixes, limit 20", "p99 < 25 ms", 25 * time.Millisecond,
			func(i int) call { return call{method: "GET", path: base + "?limit=20&q=" + url.QueryEscape(two(i))} },
			directQueries["q"], func(i int) []any { return []any{pid, fts(two(i))} }, false},
	}
	// The floor of a lookup over HTTP on this machine at this concurrency:
	// the server's cheapest answer, right before the lookups.
	hz := load(srv.addr, "", o.lookupConns, time.Minute, o.lookups, func(int) call { return call{method: "GET", path: "/healthz"} }, nil)
	if hz.failed > 0 {
		return 0, fmt.Errorf("healthz: %d failed: %s", hz.failed, hz.firstErr)
	}
	say("  GET /healthz, %d connections: p50 %s, p99 %s", o.lookupConns, ms(hz.pct(50)), ms(hz.pct(99)))
	rep.add(row{fmt.Sprintf("`GET /healthz` at the lookups' concurrency (%d conns): p50 / p99", o.lookupConns), ms(hz.pct(50)) + " / " + ms(hz.pct(99)),
		"", fmt.Sprintf("%.0f/s", hz.rate()), "", ""})
	for _, lk := range lookups {
		var prof *profiler
		if o.profile != "" && strings.Contains(lk.name, "two prefixes") {
			prof = startProfile(srv, filepath.Join(o.profile, "search.pprof"), 3*time.Second)
		}
		r := load(srv.addr, k, o.lookupConns, time.Minute, o.lookups, lk.http, func(status int, body []byte) bool {
			return status == 200 && (bytes.Contains(body, []byte(`"id"`)))
		})
		prof.wait()
		if r.failed > 0 {
			return 0, fmt.Errorf("lookup %s: %d failed: %s", lk.name, r.failed, r.firstErr)
		}
		d, err := direct(srv.dbPath(), lk.dq, o.lookupConns, o.lookups, lk.dargs)
		if err != nil {
			return 0, fmt.Errorf("direct %s: %w", lk.name, err)
		}
		say("  %s: %.0f/s, p50 %s, p99 %s; direct SQL p50 %s, p99 %s", lk.name, r.rate(), ms(r.pct(50)), ms(r.pct(99)), ms(d.pct(50)), ms(d.pct(99)))
		target, v := lk.target, ""
		if lk.paced {
			target = ""
		} else if lk.limit > 0 {
			v = verdict(r.pct(99) < lk.limit)
		}
		rep.add(row{fmt.Sprintf("lookup at %s leads %s, %d conns closed loop: p50 / p99", thousands(total), lk.name, o.lookupConns), ms(r.pct(50)) + " / " + ms(r.pct(99)),
			fmt.Sprintf("same SQL, no HTTP: %s / %s", ms(d.pct(50)), ms(d.pct(99))), fmt.Sprintf("%.0f/s", r.rate()), target, v})
	}

	// The point lookups again at a steady rate the server keeps up with.
	pacedN := max(1, int(o.lookupRate*10)) // 10 seconds each
	say("lookups at %.0f/s, open loop, %d each", o.lookupRate, pacedN)
	phz := paced(srv.addr, "", 2, o.lookupRate, pacedN, func(int) call { return call{method: "GET", path: "/healthz"} }, nil)
	if phz.failed > 0 {
		return 0, fmt.Errorf("paced healthz: %d failed: %s", phz.failed, phz.firstErr)
	}
	say("  GET /healthz: p50 %s, p99 %s", ms(phz.pct(50)), ms(phz.pct(99)))
	for _, lk := range lookups {
		if !lk.paced {
			continue
		}
		r := paced(srv.addr, k, 2, o.lookupRate, pacedN, lk.http, func(status int, body []byte) bool {
			return status == 200 && (bytes.Contains(body, []byte(`"id"`)))
		})
		if r.failed > 0 {
			return 0, fmt.Errorf("paced lookup %s: %d failed: %s", lk.name, r.failed, r.firstErr)
		}
		say("  %s: p50 %s, p99 %s", lk.name, ms(r.pct(50)), ms(r.pct(99)))
		v := ""
		if lk.limit > 0 {
			v = verdict(r.pct(99) < lk.limit)
		}
		rep.add(row{fmt.Sprintf("lookup at %s leads %s, %.0f/s open loop: p50 / p99", thousands(total), lk.name, o.lookupRate), ms(r.pct(50)) + " / " + ms(r.pct(99)),
			fmt.Sprintf("`GET /healthz` at the same rate: %s / %s", ms(phz.pct(50)), ms(phz.pct(99))), "", lk.target, v})
	}

	// 6. Ingest once more, now on the big database.
	say("POST /requests at %d leads, one run", total)
	st := newStream(seed, o.known)
	big := load(srv.addr, k, o.conns, o.duration, 0, func(i int) call {
		return call{method: "POST", path: "/v1/projects/" + pid + "/requests", body: ingestBody(st.next(), i)}
	}, func(status int, _ []byte) bool { return status == 201 || status == 200 })
	if big.failed > 0 {
		return 0, fmt.Errorf("ingest at scale: %d failed: %s", big.failed, big.firstErr)
	}
	say("  %.0f requests/s, p50 %s, p99 %s", big.rate(), ms(big.pct(50)), ms(big.pct(99)))
	rep.add(row{fmt.Sprintf("ingest at %s leads (one run): requests/s, p50 / p99", thousands(total)),
		fmt.Sprintf("%.0f, %s / %s", big.rate(), ms(big.pct(50)), ms(big.pct(99))), fmt.Sprintf("fresh database: %.0f/s", fr), fmt.Sprintf("%.0f%%", 100*big.rate()/fr), "", ""})

	// 7. Start-up on the big database.
	say("restarts on the %d-lead database", total)
	var starts []time.Duration
	for i := range o.runs {
		srv.shutdown()
		if err := srv.start(); err != nil {
			return 0, err
		}
		starts = append(starts, srv.ready)
		say("  run %d: ready in %s", i+1, srv.ready.Round(time.Millisecond))
	}
	up := median(starts)
	rep.add(row{fmt.Sprintf("start-up at %s leads (exec to `/readyz` 200)", thousands(total)), up.Round(time.Millisecond).String(), "", "", "< 1 s", verdict(up < time.Second)})
	srv.shutdown()
	peak := max(srv.peak(), fsrv.peak())
	rep.add(row{"server peak RSS (VmHWM) over the whole run", fmt.Sprintf("%d MiB", peak>>20), "", "", "< 250 MB", verdict(peak < 250_000_000)})

	return total, nil
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// newProject creates a project with the admin key and returns "id|key".
func newProject(s *server) (string, error) {
	c := &conn{addr: s.addr}
	defer c.close()
	st, body, err := c.do("POST", "/v1/projects", s.adminKey, []byte(`{"name":"bench"}`))
	if err != nil || st != 201 {
		return "", fmt.Errorf("create project: %d %s %v", st, body, err)
	}
	var p struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", err
	}
	return p.ID + "|" + p.APIKey, nil
}

// bulk creates persons [from, to) through POST /leads/batch, 1000 a call, and
// keeps every 97th lead id in sample when it is not nil.
func bulk(s *server, key string, seed uint64, from, to, conns int, sample *[]string) error {
	pid, k := key[:strings.IndexByte(key, '|')], key[strings.IndexByte(key, '|')+1:]
	calls := (to - from + 999) / 1000
	bodies := make(chan []byte, conns*2)
	go func() {
		for c := 0; c < calls; c++ {
			var leads []leadJSON
			for n := from + c*1000; n < min(from+(c+1)*1000, to); n++ {
				leads = append(leads, personN(n, seed).lead(true))
			}
			b, _ := json.Marshal(map[string]any{"leads": leads})
			bodies <- b
		}
		close(bodies)
	}()
	var ids []string
	var mu sync.Mutex
	r := load(s.addr, k, conns, time.Hour, calls, func(int) call {
		return call{method: "POST", path: "/v1/projects/" + pid + "/leads/batch", body: <-bodies}
	}, func(status int, body []byte) bool {
		if status != 200 {
			return false
		}
		if sample == nil {
			return bytes.Contains(body, []byte(`"failed":0}`))
		}
		var a batchAnswer
		if err := json.Unmarshal(body, &a); err != nil || a.Failed > 0 {
			return false
		}
		mu.Lock()
		for i := 0; i < len(a.Items); i += 97 {
			ids = append(ids, a.Items[i].Lead.ID)
		}
		mu.Unlock()
		return true
	})
	if r.failed > 0 {
		return fmt.Errorf("bulk load: %d calls failed: %s", r.failed, r.firstErr)
	}
	if sample != nil {
		*sample = ids
	}
	return nil
}

// batchSizes reads the group-commit histogram from /metrics: the sum of
// writes and the number of transactions so far.
func batchSizes(s *server) (float64, float64) {
	c := &conn{addr: s.addr}
	defer c.close()
	st, body, err := c.do("GET", "/metrics", "", nil)
	if err != nil || st != 200 {
		return 0, 0
	}
	var sum, n float64
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, "leadhub_store_tx_batch_size_sum "); ok {
			fmt.Sscan(v, &sum)
		}
		if v, ok := strings.CutPrefix(l, "leadhub_store_tx_batch_size_count "); ok {
			fmt.Sscan(v, &n)
		}
	}
	return sum, n
}

func countLeads(path string) (int, error) {
	out, err := exec.Command("sqlite3", path, "SELECT count(*) FROM leads").Output()
	if err == nil {
		var n int
		fmt.Sscan(string(out), &n)
		return n, nil
	}
	return countLeadsGo(path)
}

func (r *report) print(o options, started time.Time, total int) error {
	var b strings.Builder
	host, _ := os.Hostname()
	cpu := cpuModel()
	load, _ := os.ReadFile("/proc/loadavg")
	rev, _ := exec.Command("git", "describe", "--always", "--dirty").Output()
	fmt.Fprintf(&b, "\nLeadhub %s, %s, %s/%s, %d CPUs (%s), host %s, load average at the end %s",
		strings.TrimSpace(string(rev)), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, host, strings.Join(strings.Fields(string(load))[:3], " "))
	only := ""
	if o.only != "" {
		only = " -only " + o.only
	}
	fmt.Fprintf(&b, "\n%s, `leadhub-bench -leads %d -conns %d -runs %d -duration %s%s`, took %s; throughput figures are medians of %d runs\n\n",
		started.UTC().Format("2006-01-02 15:04 UTC"), o.leads, o.conns, o.runs, o.duration, only, time.Since(started).Round(time.Second), o.runs)
	b.WriteString("| figure | Leadhub | baseline, same run | ratio | target | |\n|---|---|---|---|---|---|\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", x.figure, x.value, x.baseline, x.ratio, x.target, x.verdict)
	}
	fmt.Print(b.String())
	if o.out != "" {
		return os.WriteFile(o.out, []byte(b.String()), 0o644)
	}
	return nil
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

// profiler fetches a CPU profile from the server's pprof listener.
type profiler struct{ done chan struct{} }

func startProfile(s *server, path string, d time.Duration) *profiler {
	return startProfileAfter(s, path, 0, d)
}

// startProfileAfter is startProfile after a wait: for a process that starts
// later on the server's profiler port (an import, with the server stopped).
func startProfileAfter(s *server, path string, after, d time.Duration) *profiler {
	addr := ""
	for _, e := range s.env {
		if v, ok := strings.CutPrefix(e, "LEADHUB_PPROF_ADDR="); ok {
			addr = v
		}
	}
	if addr == "" {
		return nil
	}
	p := &profiler{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		time.Sleep(after)
		os.MkdirAll(filepath.Dir(path), 0o755)
		c := &conn{addr: addr}
		defer c.close()
		st, body, err := c.do("GET", fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(1, int(d.Seconds()))), "", nil)
		if err != nil || st != 200 {
			say("profile: %d %v", st, err)
			return
		}
		os.WriteFile(path, body, 0o644)
		say("  CPU profile in %s", path)
	}()
	return p
}

func (p *profiler) wait() {
	if p != nil {
		<-p.done
	}
}

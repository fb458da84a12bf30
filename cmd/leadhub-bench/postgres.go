package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver, as the store uses it
)

// The postgres section: ingest on PostgreSQL with one replica and with two
// on the same database, beside SQLite in the same run, with the CPU each
// process spends per ingested request.

func init() {
	register(section{name: "postgres", rank: 40, run: runPostgres})
}

var pgURL = flag.String("pg-url", pgDefaultURL(), "postgres section: a PostgreSQL database the bench connects to, to create (and drop) a database of its own per run; LEADHUB_BENCH_PG_URL sets the default")

func pgDefaultURL() string {
	if u := os.Getenv("LEADHUB_BENCH_PG_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// pgWindow is one ingest window of one configuration.
type pgWindow struct {
	r       loadResult
	leadhub []float64 // CPU ms per ingested request, each leadhub process
	pg      float64   // CPU ms per ingested request, PostgreSQL
	bench   float64   // CPU ms per ingested request, this process (the load)
}

func (w pgWindow) perReq(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000 / float64(max(1, w.r.n))
}

func runPostgres(env *benchEnv) error {
	o := env.o
	u, err := url.Parse(*pgURL)
	if err != nil {
		return fmt.Errorf("-pg-url: %w", err)
	}
	shown := u.Redacted()
	admin, err := sql.Open("pgx", *pgURL)
	if err != nil {
		return fmt.Errorf("-pg-url: %w", err)
	}
	defer admin.Close()
	admin.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = admin.PingContext(ctx)
	cancel()
	if err != nil {
		say("postgres: skipped: %s: %v", shown, err)
		env.rep.add(row{"ingest on PostgreSQL, one and two replicas", "skipped", fmt.Sprintf("PostgreSQL unreachable at %s: %v", shown, err), "", "", ""})
		return nil
	}
	var version string
	admin.QueryRow("SHOW server_version").Scan(&version)
	// An interrupted bench leaves its databases behind: say so, but leave
	// them, as another bench may be using them.
	if rows, err := admin.Query("SELECT datname FROM pg_database WHERE datname LIKE 'leadhub\\_bench\\_%'"); err == nil {
		var left []string
		for rows.Next() {
			var n string
			if rows.Scan(&n) == nil {
				left = append(left, n)
			}
		}
		rows.Close()
		if len(left) > 0 {
			say("postgres: databases of earlier (interrupted?) benches are still there: %s (DROP DATABASE … WITH (FORCE) when no bench runs)", strings.Join(left, ", "))
		}
	}
	cpuNote := pgProcsVisible()
	if cpuNote != "" {
		say("postgres: %s", cpuNote)
	}
	adminKey := "lhadmin_bench_" + uuid.NewString()
	seed := env.seed ^ 0x7067
	say("postgres: ingest (80%% known, 20%% new user ids), %d connections, on SQLite, on PostgreSQL %s (%s) with one replica and with two; each run on fresh copies of one seeded database", o.conns, version, shown)

	// One seeded database of each kind: the schema, a project and the
	// known leads. Every run starts from a copy of it: the SQLite file
	// copied, the PostgreSQL database made from it as a template.
	// Both at once: they are not measured.
	sq := &pgSeed{env: env, adminKey: adminKey, seed: seed}
	sqDone := make(chan error, 1)
	go func() { sqDone <- sq.sqlite() }()
	var rnd [4]byte
	rand.Read(rnd[:])
	pg := &pgSeed{env: env, adminKey: adminKey, seed: seed, admin: admin, base: u, db: "leadhub_bench_" + hex.EncodeToString(rnd[:])}
	defer func() {
		if err := pg.drop(pg.db); err != nil {
			say("postgres: %v", err)
		}
	}()
	err = pg.postgres()
	if e := <-sqDone; e != nil {
		return e
	}
	if err != nil {
		return err
	}

	var sqs, one, two []pgWindow
	var toSQLite, toOne []float64
	for run := range o.runs {
		// Odd runs go in the reverse order, so that a drift of the
		// machine's load over the run favours no configuration.
		var s, p1, p2 pgWindow
		if run%2 == 0 {
			if s, err = sq.sqliteWindow(run); err != nil {
				return err
			}
		}
		if p1, p2, err = pg.replicaWindows(run, run%2 == 0); err != nil {
			return err
		}
		if run%2 == 1 {
			if s, err = sq.sqliteWindow(run); err != nil {
				return err
			}
		}
		sqs, one, two = append(sqs, s), append(one, p1), append(two, p2)
		toSQLite, toOne = append(toSQLite, p1.r.rate()/s.r.rate()), append(toOne, p2.r.rate()/p1.r.rate())
	}

	// Medians of the runs.
	med := func(ws []pgWindow, f func(pgWindow) float64) float64 {
		var v []float64
		for _, w := range ws {
			v = append(v, f(w))
		}
		return median(v)
	}
	rate := func(w pgWindow) float64 { return w.r.rate() }
	lat := func(ws []pgWindow) string {
		var p50, p99 []time.Duration
		for _, w := range ws {
			p50, p99 = append(p50, w.r.pct(50)), append(p99, w.r.pct(99))
		}
		return ms(median(p50)) + " / " + ms(median(p99))
	}
	proc := func(i int) func(pgWindow) float64 { return func(w pgWindow) float64 { return w.leadhub[i] } }
	pgms := func(w pgWindow) float64 { return w.pg }
	benchms := func(w pgWindow) float64 { return w.bench }
	sRate, oneRate, twoRate := med(sqs, rate), med(one, rate), med(two, rate)
	rToS, rToOne := median(toSQLite), median(toOne)
	env.rep.add(row{fmt.Sprintf("ingest on SQLite (the baseline: a server of its own on a fresh copy each run), %d conns: requests/s, p50 / p99", o.conns),
		fmt.Sprintf("%.0f, %s", sRate, lat(sqs)), "", "", "", ""})
	env.rep.add(row{fmt.Sprintf("ingest on PostgreSQL, one replica, %d conns: requests/s, p50 / p99", o.conns),
		fmt.Sprintf("%.0f, %s", oneRate, lat(one)), fmt.Sprintf("SQLite: %.0f/s", sRate), fmt.Sprintf("%.2f× (median of each run's ratio)", rToS),
		"≥ 0.5× SQLite", verdict(rToS >= 0.5)})
	env.rep.add(row{fmt.Sprintf("ingest on PostgreSQL, two replicas on one database, %d + %d conns: requests/s, p50 / p99", o.conns-o.conns/2, o.conns/2),
		fmt.Sprintf("%.0f, %s", twoRate, lat(two)), fmt.Sprintf("one replica: %.0f/s", oneRate), fmt.Sprintf("%.2f× (median of each run's ratio)", rToOne),
		"≥ 0.9× one replica", verdict(rToOne >= 0.9)})
	pgText := func(ws []pgWindow) string {
		if cpuNote != "" {
			return "not measured: " + cpuNote
		}
		return fmt.Sprintf("%.2f ms", med(ws, pgms))
	}
	env.rep.add(row{"CPU per ingested request on SQLite: leadhub", fmt.Sprintf("%.2f ms", med(sqs, proc(0))),
		fmt.Sprintf("load generator: %.2f ms", med(sqs, benchms)), "", "", ""})
	env.rep.add(row{"CPU per ingested request on PostgreSQL, one replica: leadhub / PostgreSQL", fmt.Sprintf("%.2f ms / %s", med(one, proc(0)), pgText(one)),
		fmt.Sprintf("load generator: %.2f ms", med(one, benchms)), "", "", ""})
	env.rep.add(row{"CPU per ingested request on PostgreSQL, two replicas: leadhub (each) / PostgreSQL", fmt.Sprintf("%.2f + %.2f ms / %s", med(two, proc(0)), med(two, proc(1)), pgText(two)),
		fmt.Sprintf("load generator: %.2f ms", med(two, benchms)), "", "", ""})
	if cpuNote == "" {
		// On separate machines each process has cores of its own: a core
		// carries 1000 / (CPU ms per request) ingests a second.
		lh := med(two, func(w pgWindow) float64 { return w.leadhub[0] + w.leadhub[1] })
		db := med(two, pgms)
		env.rep.add(row{"what the CPU figures predict with replicas on machines of their own: ingests/s one core carries",
			fmt.Sprintf("replica: %.0f; PostgreSQL: %.0f", 1000/lh, 1000/db),
			fmt.Sprintf("SQLite, one process: %.0f", 1000/med(sqs, proc(0))), "", "", ""})
	}
	return nil
}

// pgSeed is the seeded database of one kind, and what a run needs to copy
// it and start servers on the copy.
type pgSeed struct {
	env      *benchEnv
	adminKey string
	seed     uint64
	key      string // the project's "id|key"
	file     string // SQLite: the seeded file

	admin *sql.DB  // PostgreSQL: a connection to create and drop databases
	base  *url.URL // PostgreSQL: -pg-url
	db    string   // PostgreSQL: the seeded database
}

// load starts a server in dir with env, creates the project, loads the
// known leads through conns connections and stops the server.
func (p *pgSeed) load(dir string, conns int, env ...string) error {
	s, err := newServer(p.env.bin, dir, p.adminKey, env...)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := s.start(); err != nil {
		return err
	}
	defer s.shutdown()
	if p.key, err = newProject(s); err != nil {
		return err
	}
	t1 := time.Now()
	if err := bulk(s, p.key, p.seed, 0, p.env.o.known, conns, nil); err != nil {
		return err
	}
	say("  seeded %s: start-up and migrations %s, %s leads through POST /leads/batch %s", dir, t1.Sub(t0).Round(time.Millisecond), thousands(p.env.o.known), time.Since(t1).Round(time.Millisecond))
	return nil
}

func (p *pgSeed) sqlite() error {
	dir := filepath.Join(p.env.dir, "pg-sqlite-seed")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p.file = filepath.Join(dir, "leadhub.db")
	return p.load(dir, 1) // the server's clean stop leaves the whole database in the file
}

func (p *pgSeed) postgres() error {
	if _, err := p.admin.Exec("CREATE DATABASE " + p.db); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	p.dropLater(p.db)
	dir := filepath.Join(p.env.dir, "pg-seed")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return p.load(dir, 2, "LEADHUB_DATABASE_URL="+p.url(p.db)) // two: PostgreSQL runs them side by side
}

func (p *pgSeed) url(db string) string {
	u := *p.base
	u.Path = "/" + db
	return u.String()
}

func (p *pgSeed) drop(db string) error {
	if _, err := p.admin.Exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", db, err)
	}
	undone("postgres " + db)
	return nil
}

// dropLater has an interrupted bench drop database db on its way out.
func (p *pgSeed) dropLater(db string) {
	onInterrupt("postgres "+db, func() { p.admin.Exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)") })
}

// copyDB makes database db from the seeded one. The seeding server's
// backends may take a moment to end after it stopped: until then the
// template is in use and PostgreSQL refuses the copy.
func (p *pgSeed) copyDB(db string) error {
	var err error
	for range 50 {
		if _, err = p.admin.Exec("CREATE DATABASE " + db + " TEMPLATE " + p.db); err == nil || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("create database %s from %s: %w", db, p.db, err)
	}
	p.dropLater(db)
	return nil
}

// sqliteWindow is the baseline: a server on a copy of the seeded SQLite
// file, one ingest window.
func (p *pgSeed) sqliteWindow(run int) (pgWindow, error) {
	dir := filepath.Join(p.env.dir, fmt.Sprintf("pg-sqlite-%d", run))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return pgWindow{}, err
	}
	defer os.RemoveAll(dir)
	b, err := os.ReadFile(p.file)
	if err != nil {
		return pgWindow{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "leadhub.db"), b, 0o644); err != nil {
		return pgWindow{}, err
	}
	s, err := newServer(p.env.bin, dir, p.adminKey)
	if err != nil {
		return pgWindow{}, err
	}
	if err := s.start(); err != nil {
		return pgWindow{}, err
	}
	defer s.shutdown()
	w, err := pgMeasure(p.env, []*server{s}, p.key, newStream(p.seed, p.env.o.known), nil, "")
	if err != nil {
		return w, err
	}
	say("  run %d, SQLite: %.0f requests/s, p50 %s, p99 %s; CPU per request: leadhub %.2f ms, load generator %.2f ms",
		run+1, w.r.rate(), ms(w.r.pct(50)), ms(w.r.pct(99)), w.leadhub[0], w.bench)
	return w, nil
}

// replicaWindows makes a database from the seeded one, starts one replica
// on it and measures one window with one replica and one with two (a
// second replica on the same database, the load split evenly), in that
// order or the reverse. The database is dropped at the end.
func (p *pgSeed) replicaWindows(run int, oneFirst bool) (one, two pgWindow, err error) {
	name := fmt.Sprintf("%s_%d", p.db, run+1)
	if err := p.copyDB(name); err != nil {
		return one, two, err
	}
	defer func() {
		if e := p.drop(name); e != nil && err == nil {
			err = e
		}
	}()
	var srv [2]*server
	for i := range srv {
		dir := filepath.Join(p.env.dir, fmt.Sprintf("pg-%d-replica-%d", run+1, i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return one, two, err
		}
		defer os.RemoveAll(dir)
		if srv[i], err = newServer(p.env.bin, dir, p.adminKey, "LEADHUB_DATABASE_URL="+p.url(name)); err != nil {
			return one, two, err
		}
	}
	if err := srv[0].start(); err != nil {
		return one, two, err
	}
	defer srv[0].shutdown()
	st := newStream(p.seed, p.env.o.known)
	measureOne := func() error {
		w, err := pgMeasure(p.env, srv[:1], p.key, st, p.admin, name)
		if err != nil {
			return err
		}
		one = w
		say("  run %d, PostgreSQL, one replica: %.0f requests/s, p50 %s, p99 %s; CPU per request: leadhub %.2f ms, PostgreSQL %.2f ms, load generator %.2f ms",
			run+1, w.r.rate(), ms(w.r.pct(50)), ms(w.r.pct(99)), w.leadhub[0], w.pg, w.bench)
		return nil
	}
	measureTwo := func() error {
		if err := srv[1].start(); err != nil {
			return err
		}
		defer srv[1].shutdown()
		w, err := pgMeasure(p.env, srv[:], p.key, st, p.admin, name)
		if err != nil {
			return err
		}
		two = w
		say("  run %d, PostgreSQL, two replicas: %.0f requests/s, p50 %s, p99 %s; CPU per request: leadhub %.2f + %.2f ms, PostgreSQL %.2f ms, load generator %.2f ms",
			run+1, w.r.rate(), ms(w.r.pct(50)), ms(w.r.pct(99)), w.leadhub[0], w.leadhub[1], w.pg, w.bench)
		return nil
	}
	if oneFirst {
		if err := measureOne(); err != nil {
			return one, two, err
		}
		err = measureTwo()
	} else {
		if err := measureTwo(); err != nil {
			return one, two, err
		}
		err = measureOne()
	}
	return one, two, err
}

// pgMeasure runs one ingest window across servers and reads the CPU that
// each server, PostgreSQL (when db is set: the processes serving database
// db and the cluster's own) and this process spent in it.
func pgMeasure(env *benchEnv, servers []*server, key string, st *stream, admin *sql.DB, db string) (pgWindow, error) {
	var addrs []string
	cpu0 := make([]time.Duration, len(servers))
	for i, s := range servers {
		addrs = append(addrs, s.addr)
		c, err := procCPU(s.cmd.Process.Pid)
		if err != nil {
			return pgWindow{}, err
		}
		cpu0[i] = c
	}
	self0, err := procCPU(os.Getpid())
	if err != nil {
		return pgWindow{}, err
	}
	var pgs *pgSampler
	var sessions0, sessions1 int64
	if db != "" {
		if err := admin.QueryRow("SELECT sessions FROM pg_stat_database WHERE datname = $1", db).Scan(&sessions0); err != nil {
			return pgWindow{}, err
		}
		pgs = startPGSampler(db)
	}
	r := ingestWindow(addrs, key, env.o.conns, *window, st)
	var pg pgCPU
	if pgs != nil {
		pg = pgs.stop()
		if err := admin.QueryRow("SELECT sessions FROM pg_stat_database WHERE datname = $1", db).Scan(&sessions1); err != nil {
			return pgWindow{}, err
		}
	}
	w := pgWindow{r: r}
	if r.failed > 0 {
		return w, fmt.Errorf("ingest: %d failed: %s", r.failed, r.firstErr)
	}
	for i, s := range servers {
		c, err := procCPU(s.cmd.Process.Pid)
		if err != nil {
			return w, err
		}
		w.leadhub = append(w.leadhub, w.perReq(c-cpu0[i]))
	}
	self1, err := procCPU(os.Getpid())
	if err != nil {
		return w, err
	}
	w.bench = w.perReq(self1 - self0)
	if pgs != nil {
		// Counted: all of the cluster but what was seen in other
		// databases' backends. What no look saw is counted too: it is
		// mostly the bench's own backends, which the pools of the servers
		// open and close during the load.
		w.pg = w.perReq(pg.seen + pg.unseen)
		say("    PostgreSQL CPU in the window: %s seen in the bench database's backends and the cluster's own processes, %s unseen (both counted), %s in other databases' backends (not counted); %d sessions opened on the bench database (pg_stat_database)",
			pg.seen.Round(time.Millisecond), pg.unseen.Round(time.Millisecond), pg.others.Round(time.Millisecond), sessions1-sessions0)
	}
	return w, nil
}

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100
// on every Linux architecture Go runs on).
const clockTick = 10 * time.Millisecond

// procStat reads /proc/<pid>/stat: the command name, the parent, the CPU the
// process spent (user + system) and the CPU of its children that it waited
// for.
func procStat(pid int) (comm string, ppid int, cpu, children time.Duration, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, 0, 0, err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, 0, 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, s)
	}
	f := strings.Fields(s[end+1:]) // from the third field, the state, on
	if len(f) < 15 {
		return "", 0, 0, 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, s)
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	return s[open+1 : end], int(n(1)), time.Duration(n(11)+n(12)) * clockTick, time.Duration(n(13)+n(14)) * clockTick, nil
}

func procCPU(pid int) (time.Duration, error) {
	_, _, cpu, _, err := procStat(pid)
	return cpu, err
}

// pgProcsVisible says why the CPU of PostgreSQL cannot be read here, or "".
func pgProcsVisible() string {
	w := newPGWatch()
	snap, err := w.look()
	if err != nil {
		return err.Error()
	}
	if len(snap) == 0 {
		return "no postgres process visible in /proc (PostgreSQL on another machine or in another PID namespace?)"
	}
	return ""
}

// pgProc is a postgres process as one look at /proc saw it.
type pgProc struct {
	ppid          int
	cpu, children time.Duration
	db            string // the database of a backend or autovacuum worker; "" for the cluster's own processes
}

// pgWatch looks at the postgres processes in /proc. It remembers which
// processes are not postgres ones and the database of those that are, so
// that a look reads little more than the postgres processes' stat files.
type pgWatch struct {
	known map[int]*string // nil: not postgres; else its database
}

func newPGWatch() *pgWatch { return &pgWatch{known: map[int]*string{}} }

func (w *pgWatch) look() (map[int]pgProc, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	out := map[int]pgProc{}
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		db, seen := w.known[pid]
		if seen && db == nil {
			continue
		}
		comm, ppid, cpu, children, err := procStat(pid)
		if err != nil {
			if os.IsPermission(err) {
				return nil, fmt.Errorf("cannot read /proc/%d/stat: %v", pid, err)
			}
			continue // gone meanwhile
		}
		if !seen {
			if comm != "postgres" {
				w.known[pid] = nil
				continue
			}
			name := pgDatabase(pid)
			db = &name
			w.known[pid] = db
		}
		out[pid] = pgProc{ppid: ppid, cpu: cpu, children: children, db: *db}
	}
	return out, nil
}

// pgDatabase reads the database from a postgres process's title:
// "postgres: [cluster: ]user database host(port) state" for a backend,
// "postgres: [cluster: ]autovacuum worker database" for that worker.
func pgDatabase(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	t, ok := strings.CutPrefix(strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")), "postgres: ")
	if !ok {
		return "" // the postmaster
	}
	f := strings.Fields(t)
	if len(f) > 0 && strings.HasSuffix(f[0], ":") { // a cluster_name
		f = f[1:]
	}
	switch {
	case len(f) >= 3 && f[0] == "autovacuum" && f[1] == "worker":
		return f[2]
	case len(f) >= 3 && (strings.Contains(f[2], "(") || f[2] == "[local]"):
		return f[1]
	}
	return ""
}

// pgCPU is what PostgreSQL spent in a window. seen is the CPU that looks at
// the backends of the bench's database and at the cluster's own processes
// (postmaster, checkpointer, WAL writer, …) saw; others what they saw in
// backends of other databases; unseen the rest of the cluster's total,
// which the postmaster's ended children account for exactly: the last
// moments of backends that ended, and processes that lived between two
// looks.
type pgCPU struct{ seen, others, unseen time.Duration }

// pgSampler looks at every postgres process every 500 ms over a window: often
// enough to see other databases' backends that live longer than that, and
// seldom enough to cost the machine little (a look reads every postgres
// process's stat file).
type pgSampler struct {
	db          string
	w           *pgWatch
	quit, done  chan struct{}
	first, last map[int]pgProc
	total0      time.Duration
	res         pgCPU
}

// pgTotal is the CPU of every postgres process so far, ended backends
// included (in their postmaster's children's time).
func pgTotal(snap map[int]pgProc) time.Duration {
	var t time.Duration
	for _, p := range snap {
		t += p.cpu
		if _, child := snap[p.ppid]; !child { // a postmaster
			t += p.children
		}
	}
	return t
}

func startPGSampler(db string) *pgSampler {
	s := &pgSampler{db: db, w: newPGWatch(), quit: make(chan struct{}), done: make(chan struct{}),
		first: map[int]pgProc{}, last: map[int]pgProc{}}
	snap, _ := s.w.look()
	s.total0 = pgTotal(snap)
	for pid, p := range snap {
		s.first[pid], s.last[pid] = p, p
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-s.quit:
				snap, _ := s.w.look()
				s.see(snap)
				s.finish(pgTotal(snap))
				return
			}
			snap, _ := s.w.look()
			s.see(snap)
		}
	}()
	return s
}

func (s *pgSampler) see(snap map[int]pgProc) {
	for pid, p := range snap {
		if _, ok := s.first[pid]; !ok {
			s.first[pid] = pgProc{ppid: p.ppid, db: p.db} // born in the window: from zero
		}
		s.last[pid] = p
	}
}

func (s *pgSampler) finish(total1 time.Duration) {
	for pid, l := range s.last {
		d := l.cpu - s.first[pid].cpu
		if l.db == "" || l.db == s.db {
			s.res.seen += d
		} else {
			s.res.others += d
		}
	}
	s.res.unseen = max(0, total1-s.total0-s.res.seen-s.res.others)
}

func (s *pgSampler) stop() pgCPU {
	close(s.quit)
	<-s.done
	return s.res
}

package main

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
)

// The merge section: how long merging a lead with 10,000 requests takes
// over HTTP, beside the same rows moved by a plain SQL UPDATE on a copy of
// the file, and what a stream of merges costs a concurrent ingest.

func init() {
	register(section{name: "merge", rank: 30, run: runMerge})
}

const (
	mergeBigRequests  = 10_000 // requests of the lead merged in the timed merges
	mergePairRequests = 2      // requests of each lead of the pairs merged during ingest
	mergeSaltBig      = 0x6d6572676562
	mergeSaltPairs    = 0x6d6572676570
)

type mergeAnswer struct {
	Lead struct {
		ID            string `json:"id"`
		RequestsCount int64  `json:"requests_count"`
	} `json:"lead"`
	MergeID string `json:"merge_id"`
}

func runMerge(env *benchEnv) error {
	o := env.o
	dir := filepath.Join(env.dir, "merge")
	srv, stop, err := env.startServer(dir, "lhadmin_bench_"+uuid.NewString(), false)
	if err != nil {
		return err
	}
	defer stop()
	key, err := newProject(srv)
	if err != nil {
		return err
	}
	api := newProjectConn(srv, key)
	defer api.close()
	seed := env.seed ^ 0x6d657267

	// 1. A lead with 10,000 requests merged into another. Ingesting the
	// 10,000 takes seconds, so one lead holds them for every run: each run
	// merges it into a survivor of its own, then undoes the merge, which
	// gives the requests back to it (as the store's Go benchmark does).
	say("merge: a lead with %s requests into another (fresh server, synchronous=full), %d runs, a survivor each", thousands(mergeBigRequests), o.runs)
	var ps []person
	for n := range o.runs + 1 {
		ps = append(ps, personN(n, seed^mergeSaltBig))
	}
	ids, err := api.createLeads(ps)
	if err != nil {
		return err
	}
	big, bigP := ids[o.runs], ps[o.runs]
	fill := load(srv.addr, api.key, o.conns, 5*time.Minute, mergeBigRequests, func(i int) call {
		return call{method: "POST", path: "/v1/projects/" + api.pid + "/requests", body: ingestBody(bigP, i)}
	}, ingestOK)
	if fill.failed > 0 || fill.n != mergeBigRequests {
		return fmt.Errorf("ingest of %d requests: %d done, %d failed: %s", mergeBigRequests, fill.n, fill.failed, fill.firstErr)
	}
	say("  %s requests to one user id, %d connections: %s (%.0f/s)", thousands(mergeBigRequests), o.conns, fill.elapsed.Round(time.Millisecond), fill.rate())
	var merges, undos, raws []time.Duration
	for run := range o.runs {
		into := ids[run]
		if _, err := api.post("/requests", ingestBody(ps[run], 0), 201, nil); err != nil {
			return err
		}
		raw, err := rawMergeMove(srv.dbPath(), filepath.Join(dir, "copy.db"), api.pid, into, big, mergeBigRequests)
		if err != nil {
			return fmt.Errorf("raw baseline: %w", err)
		}
		var m mergeAnswer
		took, err := api.post("/leads/"+into+"/merge", map[string]any{"from": []string{big}}, 200, &m)
		if err != nil {
			return err
		}
		if m.Lead.ID != into || m.Lead.RequestsCount != mergeBigRequests+1 || m.MergeID == "" {
			return fmt.Errorf("merge answered lead %s with %d requests, merge id %q; want %s with %d", m.Lead.ID, m.Lead.RequestsCount, m.MergeID, into, mergeBigRequests+1)
		}
		undo, err := api.post("/merges/"+m.MergeID+"/undo", nil, 200, nil)
		if err != nil {
			return err
		}
		merges, undos, raws = append(merges, took), append(undos, undo), append(raws, raw)
		say("  run %d: merge %s, its undo %s; raw UPDATE of the same rows %s", run+1, ms(took), ms(undo), ms(raw))
	}
	mt, rt, ft := median(merges), median(raws), fill.elapsed
	env.rep.add(row{fmt.Sprintf("merge a lead with %s requests into another (`POST /leads/{id}/merge`)", thousands(mergeBigRequests)), ms(mt),
		fmt.Sprintf("raw SQLite UPDATE of the same request rows and user id, on a copy of the file: %s; ingesting the %s requests: %s", ms(rt), thousands(mergeBigRequests), ft.Round(10*time.Millisecond)),
		fmt.Sprintf("%.1f× raw", float64(mt)/float64(max(rt, time.Microsecond))), "< 1 s", verdict(mt < time.Second)})
	env.rep.add(row{"undo of that merge (`POST /merges/{id}/undo`)", ms(median(undos)), "", "", "", ""})

	// 2. Ingest alone, and while another connection merges pairs of leads.
	if err := bulk(srv, key, seed, 0, o.known, 1, nil); err != nil {
		return err
	}
	mg := &merger{srv: srv, key: key, seed: seed ^ mergeSaltPairs, conns: o.conns}
	say("merge: POST /requests (80%% known, 20%% new user ids), %d connections, alone and while one more connection merges", o.conns)
	st := newStream(seed, o.known)
	var alone, during, ratios, rates []float64
	var mlat []time.Duration
	for run := range o.runs {
		for _, merging := range []bool{run%2 == 1, run%2 == 0} {
			if merging {
				// Enough pairs for twice the most merges a window did so
				// far, prepared outside the windows.
				if err := mg.prepare(max(400, 2*mg.most)); err != nil {
					return err
				}
				mg.start()
			}
			r := ingestWindow([]string{srv.addr}, key, o.conns, *window, st)
			var n int
			var lat []time.Duration
			if merging {
				if n, lat, err = mg.stop(); err != nil {
					return err
				}
			}
			if r.failed > 0 {
				return fmt.Errorf("ingest: %d failed: %s", r.failed, r.firstErr)
			}
			if !merging {
				alone = append(alone, r.rate())
				say("  run %d, alone: %.0f requests/s, p50 %s, p99 %s", run+1, r.rate(), ms(r.pct(50)), ms(r.pct(99)))
				continue
			}
			if mg.next >= len(mg.ids)/2 {
				return fmt.Errorf("the prepared pairs ran out during run %d", run+1)
			}
			during = append(during, r.rate())
			rates = append(rates, float64(n)/r.elapsed.Seconds())
			mlat = append(mlat, lat...)
			say("  run %d, merging: %.0f requests/s, p50 %s, p99 %s; %d merges (%.0f/s)", run+1, r.rate(), ms(r.pct(50)), ms(r.pct(99)), n, float64(n)/r.elapsed.Seconds())
		}
		// The two windows of a run are seconds apart: their ratio is
		// less moved by the machine's other work than the medians are.
		ratios = append(ratios, during[run]/alone[run])
	}
	ma, md, mr := median(alone), median(during), median(ratios)
	env.rep.add(row{fmt.Sprintf("ingest while one more connection merges pairs of leads, %d conns: requests/s", o.conns), fmt.Sprintf("%.0f", md),
		fmt.Sprintf("ingest alone, same server: %.0f/s", ma), fmt.Sprintf("%.0f%% (median of each run's ratio)", 100*mr), "≥ 80% of alone", verdict(mr >= 0.8)})
	ml := loadResult{lat: mlat}
	sortDurations(ml.lat)
	env.rep.add(row{fmt.Sprintf("merges done during that ingest (pairs of leads with %d requests each): merges/s, p50 / p99", mergePairRequests),
		fmt.Sprintf("%.0f, %s / %s", median(rates), ms(ml.pct(50)), ms(ml.pct(99))), "", "", "", ""})
	return nil
}

// merger merges prepared pairs of leads (ids[2i+1] into ids[2i]) one after
// another on a connection of its own, between start and stop.
type merger struct {
	srv   *server
	key   string
	seed  uint64
	conns int
	ids   []string
	next  int // the next pair
	most  int // the most merges of one window so far

	quit chan struct{}
	done chan struct{}
	n    int
	lat  []time.Duration
	err  error
}

func (m *merger) start() {
	m.quit, m.done, m.n, m.lat, m.err = make(chan struct{}), make(chan struct{}), 0, nil, nil
	go func() {
		defer close(m.done)
		api := newProjectConn(m.srv, m.key)
		defer api.close()
		for ; m.next < len(m.ids)/2; m.next++ {
			select {
			case <-m.quit:
				return
			default:
			}
			into, from := m.ids[2*m.next], m.ids[2*m.next+1]
			var a mergeAnswer
			took, err := api.post("/leads/"+into+"/merge", map[string]any{"from": []string{from}}, 200, &a)
			if err == nil && a.Lead.RequestsCount != 2*mergePairRequests {
				err = fmt.Errorf("merge answered %d requests on the survivor, want %d", a.Lead.RequestsCount, 2*mergePairRequests)
			}
			if err != nil {
				m.err = err
				return
			}
			m.n++
			m.lat = append(m.lat, took)
		}
	}()
}

// stop ends the merges and returns how many were done and their latencies.
func (m *merger) stop() (int, []time.Duration, error) {
	close(m.quit)
	<-m.done
	m.most = max(m.most, m.n)
	return m.n, m.lat, m.err
}

// prepare makes sure that at least n pairs are left to merge: it creates the
// missing leads in batches and gives each its requests.
func (m *merger) prepare(n int) error {
	left := len(m.ids)/2 - m.next
	if left >= n {
		return nil
	}
	t0 := time.Now()
	var ps []person
	for i := len(m.ids); i < len(m.ids)+2*(n-left); i++ {
		ps = append(ps, personN(i, m.seed))
	}
	api := newProjectConn(m.srv, m.key)
	defer api.close()
	ids, err := api.createLeads(ps)
	if err != nil {
		return err
	}
	r := load(m.srv.addr, api.key, m.conns, 5*time.Minute, len(ps)*mergePairRequests, func(i int) call {
		return call{method: "POST", path: "/v1/projects/" + api.pid + "/requests", body: ingestBody(ps[i%len(ps)], i)}
	}, ingestOK)
	if r.failed > 0 {
		return fmt.Errorf("preparing pairs: %d failed: %s", r.failed, r.firstErr)
	}
	m.ids = append(m.ids, ids...)
	say("  %d more pairs of leads with %d requests each, for the merges: %s", n-left, mergePairRequests, time.Since(t0).Round(time.Millisecond))
	return nil
}

// rawMergeMove copies the database at src (VACUUM INTO, a consistent copy
// while the server runs) and times, on the copy, one transaction that moves
// lead from's user ids and requests to lead into with plain UPDATEs: the
// rows a merge has to rewrite, with the server's pragmas and nothing else.
func rawMergeMove(src, dst, pid, into, from string, want int64) (time.Duration, error) {
	os.Remove(dst)
	defer func() {
		for _, s := range []string{"", "-wal", "-shm"} {
			os.Remove(dst + s)
		}
	}()
	sdb, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	_, err = sdb.Exec("VACUUM INTO ?", dst)
	sdb.Close()
	if err != nil {
		return 0, fmt.Errorf("copy: %w", err)
	}
	db, err := sql.Open("sqlite", sqliteDSN(dst, "FULL"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// Warm the page cache with the rows to move, as the server's is.
	var n int64
	if err := db.QueryRow("SELECT count(*), sum(length(first_text)) FROM requests WHERE project_id = ? AND lead_id = ?", pid, from).Scan(&n, new(sql.NullInt64)); err != nil {
		return 0, err
	}
	if n != want {
		return 0, fmt.Errorf("the copy holds %d requests of lead %s, want %d", n, from, want)
	}
	t0 := time.Now()
	tx, err := db.Begin()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.Exec("UPDATE lead_user_ids SET lead_id = ? WHERE project_id = ? AND lead_id = ?", into, pid, from); err != nil {
		return 0, err
	}
	res, err := tx.Exec("UPDATE requests SET lead_id = ? WHERE project_id = ? AND lead_id = ?", into, pid, from)
	if err != nil {
		return 0, err
	}
	if moved, _ := res.RowsAffected(); moved != want {
		return 0, errors.New("the raw UPDATE moved the wrong number of requests")
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

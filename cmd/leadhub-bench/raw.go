package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
)

// The raw baselines write the same rows as Leadhub with plain database/sql on
// the same schema (the store's own migrations) and the same pragmas: prepared
// statements, batched transactions, one goroutine, no HTTP, no Bun. They are
// what SQLite and the driver can do on this machine in this run.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func sqliteDSN(path, sync string) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(" + sync + ")&_pragma=cache_size(-32768)&_txlock=immediate"
}

// newSchema makes a fresh database with the store's migrations and one
// project, and returns the project id.
func newSchema(path string) (string, error) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: "sqlite:" + path, Logger: quiet})
	if err != nil {
		return "", err
	}
	defer s.Close()
	p, _, err := s.CreateProject(ctx, "bench")
	if err != nil {
		return "", err
	}
	return p.ID, nil
}

const leadCols = "seq, id, project_id, user_ids, fullname, lastname, email, email_lc, email_canon, phone, phone_norm, company, attributes, tags, status, merged_into, requests_count, created_at, updated_at, last_seen_at"

type rawWriter struct {
	db, cp                                                   *sql.DB
	stop, done                                               chan struct{}
	pid                                                      string
	byUser, project, insLead, insUID, updLead, insReq, insEv *sql.Stmt
}

func openRaw(path, sync, pid string) (*rawWriter, error) {
	// As the store does: the writer never checkpoints; a connection beside
	// it does, every 50 ms.
	db, err := sql.Open("sqlite", sqliteDSN(path, sync)+"&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	cp, err := sql.Open("sqlite", sqliteDSN(path, sync))
	if err != nil {
		return nil, err
	}
	cp.SetMaxOpenConns(1)
	w := &rawWriter{db: db, pid: pid, cp: cp, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(50 * time.Millisecond):
				cp.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			}
		}
	}()
	prep := func(dst **sql.Stmt, q string) {
		if err == nil {
			*dst, err = db.Prepare(q)
		}
	}
	prep(&w.byUser, "SELECT "+leadCols+" FROM leads WHERE id = (SELECT lead_id FROM lead_user_ids WHERE project_id = ? AND user_id = ?) AND project_id = ?")
	prep(&w.project, "SELECT 1 FROM projects WHERE id = ?")
	prep(&w.insLead, "INSERT INTO leads (id, project_id, user_ids, fullname, lastname, email, email_lc, email_canon, phone, phone_norm, company, attributes, tags, status, requests_count, created_at, updated_at, last_seen_at) VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, '[]', 'active', ?, ?, ?, ?)")
	prep(&w.insUID, "INSERT INTO lead_user_ids (project_id, user_id, lead_id, created_at) VALUES (?, ?, ?, ?)")
	prep(&w.updLead, "UPDATE leads SET updated_at = ?, requests_count = ?, last_seen_at = ? WHERE seq = ?")
	prep(&w.insReq, "INSERT INTO requests (id, project_id, lead_id, user_id, channel, status, first_text, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)")
	prep(&w.insEv, "INSERT INTO lead_events (id, project_id, lead_id, request_id, type, actor, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *rawWriter) close() {
	close(w.stop)
	<-w.done
	w.cp.Close()
	w.db.Close()
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// createLead inserts person p as a new lead with its user id and its
// lead.created event, as the store does.
func (w *rawWriter) createLead(tx *sql.Tx, p person, reqs int64, now time.Time) (*core.Lead, error) {
	l := &core.Lead{ID: newID(), ProjectID: w.pid, UserIDs: []string{p.userID}, Fullname: p.fullname, Email: p.email,
		Phone: p.phone, Company: p.company, Attributes: p.lead(false).Attributes, Tags: []string{}, Status: core.LeadActive,
		RequestsCount: reqs, CreatedAt: now, UpdatedAt: now, LastSeenAt: now}
	uids, _ := json.Marshal(l.UserIDs)
	attrs, _ := json.Marshal(l.Attributes)
	t := ts(now)
	if _, err := tx.Stmt(w.insLead).Exec(l.ID, w.pid, string(uids), l.Fullname, l.Email, core.NormalizeEmail(l.Email), core.CanonicalEmail(l.Email),
		l.Phone, core.NormalizePhone(l.Phone), l.Company, string(attrs), reqs, t, t, t); err != nil {
		return nil, fmt.Errorf("insert lead: %w", err)
	}
	if _, err := tx.Stmt(w.insUID).Exec(w.pid, p.userID, l.ID, t); err != nil {
		return nil, fmt.Errorf("insert user id: %w", err)
	}
	return l, w.event(tx, l, nil, core.EventLeadCreated, now)
}

func (w *rawWriter) event(tx *sql.Tx, l *core.Lead, r *core.Request, typ string, now time.Time) error {
	data, _ := json.Marshal(core.EventData{Lead: l, Request: r})
	rid := ""
	if r != nil {
		rid = r.ID
	}
	if _, err := tx.Stmt(w.insEv).Exec(newID(), w.pid, l.ID, rid, typ, "key:bench", string(data), ts(now)); err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}

// ingest is one POST /requests worth of rows: find the lead of the user id,
// update its counters or create it, insert the request and its events.
func (w *rawWriter) ingest(tx *sql.Tx, p person, i int) error {
	now := time.Now()
	var l core.Lead
	var (
		seq                                                       int64
		uids, attrs, tags, emailLC, emailCanon, phoneNorm, ln, st string
		merged                                                    sql.NullString
		created, updated, seen                                    string
	)
	err := tx.Stmt(w.byUser).QueryRow(w.pid, p.userID, w.pid).Scan(&seq, &l.ID, &l.ProjectID, &uids, &l.Fullname, &ln, &l.Email, &emailLC,
		&emailCanon, &l.Phone, &phoneNorm, &l.Company, &attrs, &tags, &st, &merged, &l.RequestsCount, &created, &updated, &seen)
	switch {
	case err == sql.ErrNoRows:
		var one int
		if err := tx.Stmt(w.project).QueryRow(w.pid).Scan(&one); err != nil {
			return err
		}
		lp, err := w.createLead(tx, p, 1, now)
		if err != nil {
			return err
		}
		l = *lp
	case err != nil:
		return fmt.Errorf("select lead: %w", err)
	default:
		json.Unmarshal([]byte(uids), &l.UserIDs)
		json.Unmarshal([]byte(attrs), &l.Attributes)
		json.Unmarshal([]byte(tags), &l.Tags)
		l.Status = st
		l.RequestsCount++
		l.LastSeenAt = now
		if _, err := tx.Stmt(w.updLead).Exec(updated, l.RequestsCount, ts(now), seq); err != nil {
			return fmt.Errorf("update lead: %w", err)
		}
	}
	r := &core.Request{ID: newID(), ProjectID: w.pid, LeadID: l.ID, UserID: p.userID, Channel: "web", Status: core.RequestOpen,
		FirstText: fmt.Sprintf("Hello, I have a question about my order %d", i), Attributes: map[string]any{"page": "/pricing", "utm_source": "newsletter"},
		CreatedAt: now, UpdatedAt: now}
	ra, _ := json.Marshal(r.Attributes)
	if _, err := tx.Stmt(w.insReq).Exec(r.ID, w.pid, l.ID, p.userID, r.Channel, r.FirstText, string(ra), ts(now), ts(now)); err != nil {
		return fmt.Errorf("insert request: %w", err)
	}
	return w.event(tx, &l, r, core.EventRequestCreated, now)
}

// stream picks the person of each ingest: 80% a known one (a user id that
// already has a lead), 20% a new one.
type stream struct {
	mu      sync.Mutex
	rng     *rand.Rand
	created int
	seed    uint64
}

func newStream(seed uint64, known int) *stream {
	return &stream{rng: rand.New(rand.NewPCG(seed, 1)), created: known, seed: seed}
}

func (s *stream) next() person {
	s.mu.Lock()
	var n int
	if s.rng.IntN(100) < 80 {
		n = s.rng.IntN(s.created)
	} else {
		n = s.created
		s.created++
	}
	s.mu.Unlock()
	return personN(n, s.seed)
}

// rawIngest writes the ingest stream for d in transactions of batch ingests
// and returns the ingests per second.
func rawIngest(path, sync string, seed uint64, known int, d time.Duration, batch int) (float64, error) {
	pid, err := newSchema(path)
	if err != nil {
		return 0, err
	}
	w, err := openRaw(path, sync, pid)
	if err != nil {
		return 0, err
	}
	defer w.close()
	if err := w.seed(seed, 0, known); err != nil {
		return 0, err
	}
	st := newStream(seed, known)
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		tx, err := w.db.Begin()
		if err != nil {
			return 0, err
		}
		for k := 0; k < batch; k++ {
			if err := w.ingest(tx, st.next(), n); err != nil {
				tx.Rollback()
				return 0, err
			}
			n++
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// seed creates persons [from, to) as leads in transactions of 1000.
func (w *rawWriter) seed(seed uint64, from, to int) error {
	for start := from; start < to; start += 1000 {
		tx, err := w.db.Begin()
		if err != nil {
			return err
		}
		now := time.Now()
		for n := start; n < min(start+1000, to); n++ {
			if _, err := w.createLead(tx, personN(n, seed), 0, now); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// rawBulk inserts n leads (with user ids and lead.created events) into a
// fresh database and returns leads per second.
func rawBulk(path string, seed uint64, n int) (float64, error) {
	pid, err := newSchema(path)
	if err != nil {
		return 0, err
	}
	w, err := openRaw(path, "FULL", pid)
	if err != nil {
		return 0, err
	}
	defer w.close()
	start := time.Now()
	if err := w.seed(seed, 0, n); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// storeIngest drives store.IngestRequest from conns goroutines in this
// process: the store's own ceiling, without HTTP.
func storeIngest(path string, seed uint64, known, conns int, d time.Duration) (loadResult, error) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: "sqlite:" + path, Logger: quiet})
	if err != nil {
		return loadResult{}, err
	}
	defer s.Close()
	p, _, err := s.CreateProject(ctx, "bench")
	if err != nil {
		return loadResult{}, err
	}
	for start := 0; start < known; start += core.MaxBatchLeads {
		var in []core.NewLead
		for n := start; n < min(start+core.MaxBatchLeads, known); n++ {
			pp := personN(n, seed)
			in = append(in, core.NewLead{UserID: pp.userID, Fields: core.LeadFields{Fullname: &pp.fullname, Email: &pp.email, Phone: &pp.phone, Company: &pp.company}})
		}
		if _, err := s.CreateLeads(ctx, p.ID, in, "key:bench"); err != nil {
			return loadResult{}, err
		}
	}
	st := newStream(seed, known)
	return drive(conns, d, 0, func() (func(int) error, func()) {
		return func(i int) error {
			pp := st.next()
			_, err := s.IngestRequest(ctx, p.ID, core.Ingest{UserID: pp.userID, Channel: "web",
				FirstText: fmt.Sprintf("Hello, I have a question about my order %d", i), Attributes: map[string]any{"page": "/pricing", "utm_source": "newsletter"},
				Lead: core.LeadFields{Fullname: &pp.fullname, Email: &pp.email}, LeadAttributes: map[string]any{"plan": []string{"free", "pro", "team"}[pp.n%3]},
				Actor: "key:bench"})
			return err
		}, nil
	}), nil
}

package main

import (
	"database/sql"
	"slices"
	"time"
)

func sortDurations(d []time.Duration) { slices.Sort(d) }

// directQueries are the statements the store runs for each lookup, prepared,
// on a read-only connection of the bench's own: the floor under the HTTP
// figures.
var directQueries = map[string]string{
	"email":   "SELECT " + leadCols + " FROM leads AS l WHERE l.project_id = ? AND l.status = 'active' AND l.email_lc = ? AND l.email_lc <> '' ORDER BY l.seq DESC LIMIT 21",
	"user_id": "SELECT " + leadCols + " FROM leads AS l WHERE l.project_id = ? AND l.status = 'active' AND l.id = (SELECT lead_id FROM lead_user_ids WHERE project_id = ? AND user_id = ?) ORDER BY l.seq DESC LIMIT 21",
	"id":      "SELECT " + leadCols + " FROM leads AS l WHERE l.id = ? AND l.project_id = ?",
	"q":       "SELECT l.seq, l.id, l.project_id, l.user_ids, l.fullname, l.lastname, l.email, l.email_lc, l.email_canon, l.phone, l.phone_norm, l.company, l.attributes, l.tags, l.status, l.merged_into, l.requests_count, l.created_at, l.updated_at, l.last_seen_at FROM leads AS l JOIN leads_fts AS f ON f.rowid = l.seq WHERE l.project_id = ? AND l.status = 'active' AND leads_fts MATCH ? ORDER BY f.rowid DESC LIMIT 21",
}

// direct runs n lookups of one kind from conns goroutines; args gives the
// arguments of lookup i.
func direct(path, query string, conns, n int, args func(i int) []any) (loadResult, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)&_pragma=cache_size(-8192)")
	if err != nil {
		return loadResult{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(conns)
	stmt, err := db.Prepare(query)
	if err != nil {
		return loadResult{}, err
	}
	defer stmt.Close()
	return drive(conns, time.Hour, n, func() (func(int) error, func()) {
		vals := make([]sql.RawBytes, 20)
		ptrs := make([]any, 20)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		return func(i int) error {
			rows, err := stmt.Query(args(i)...)
			if err != nil {
				return err
			}
			for rows.Next() {
				rows.Scan(ptrs...)
			}
			err = rows.Err()
			rows.Close()
			return err
		}, nil
	}), nil
}

func countLeadsGo(path string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow("SELECT count(*) FROM leads").Scan(&n)
	return n, err
}

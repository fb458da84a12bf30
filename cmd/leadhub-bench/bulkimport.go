package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// writeLeadsFile writes persons [from, to) as an NDJSON import file and
// returns its size.
func writeLeadsFile(path string, seed uint64, from, to int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	for n := from; n < to; n++ {
		if err := enc.Encode(personN(n, seed).lead(true)); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}

// importRun is one `leadhub import`: exec to exit, and its peak RSS.
type importRun struct {
	took time.Duration
	peak int64
}

// runImport runs `leadhub import project file` on the database at dbPath,
// with env added to its environment and its output appended to logPath;
// started, when set, is called once it runs.
func runImport(bin, dbPath, project, file, logPath string, env []string, started func()) (importRun, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return importRun{}, err
	}
	defer log.Close()
	cmd := exec.Command(bin, "import", project, file)
	cmd.Env = append(append(os.Environ(), env...), "LEADHUB_DATABASE_URL=sqlite:"+dbPath, "LEADHUB_LOG_FORMAT=json")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return importRun{}, err
	}
	if started != nil {
		started()
	}
	if err := cmd.Wait(); err != nil {
		return importRun{}, fmt.Errorf("leadhub import: %w (see %s)", err, logPath)
	}
	r := importRun{took: time.Since(t0)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.peak = ru.Maxrss << 10 // KiB on Linux
	}
	return r, nil
}

// sampleLeadIDs returns up to n lead ids spread over the database, for the
// lookups by id.
func sampleLeadIDs(path string, n int) ([]string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var total int
	if err := db.QueryRow("SELECT COALESCE(MAX(seq), 0) FROM leads").Scan(&total); err != nil {
		return nil, err
	}
	rows, err := db.Query("SELECT id FROM leads WHERE seq % ? = 0 LIMIT ?", max(1, total/n), n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// ratio is a/b as a percentage, or nothing without a baseline.
func ratio(a, b float64) string {
	if b <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f%%", 100*a/b)
}

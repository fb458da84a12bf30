package jobs

import (
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect selects the SQL spoken to the database. The queue uses plain
// database/sql, so the few differences (placeholders, time columns, row
// locking) are kept here rather than behind an ORM.
type Dialect int

const (
	// SQLite stores times as unix microseconds and relies on the single
	// writer connection for mutual exclusion between claims.
	SQLite Dialect = iota
	// Postgres stores times as TIMESTAMPTZ and claims with
	// FOR UPDATE SKIP LOCKED so replicas never take the same job.
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

func (d Dialect) valid() bool { return d == SQLite || d == Postgres }

// rebind turns the '?' placeholders the queries are written with into
// PostgreSQL's $n. Queries in this package never contain a literal '?'.
func (d Dialect) rebind(q string) string {
	if d != Postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// timeArg converts t to the value stored in a time column.
func (d Dialect) timeArg(t time.Time) any {
	if d == SQLite {
		return t.UnixMicro()
	}
	// Truncated so a value read back compares equal to what was written.
	return t.UTC().Truncate(time.Microsecond)
}

// timeScan reads a time column of either dialect; NULL gives the zero time.
type timeScan struct{ t *time.Time }

func (s timeScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		*s.t = time.UnixMicro(v).UTC()
	case time.Time:
		*s.t = v.UTC()
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	default:
		return fmt.Errorf("jobs: cannot scan %T into a time", src)
	}
	return nil
}

func (s timeScan) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("jobs: parse time %q: %w", v, err)
	}
	*s.t = t.UTC()
	return nil
}

// nullString stores "" as NULL: an empty payload or error takes no space.
func nullString(s string) driver.Value {
	if s == "" {
		return nil
	}
	return s
}

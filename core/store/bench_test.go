package store_test

// Benchmarks of the store's hot paths, small enough for CI:
//
//	go test -run '^$' -bench . -benchtime=100x ./core/store/
//
// make bench measures the whole server at a million leads; these guard the
// store's share of it against regressions.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
)

var benchNames = []string{"Andrea", "Marco", "Giulia", "Sofia", "Luca", "Emma", "Liam", "Olivia", "Noah", "Hiroshi", "Priya", "Mateo"}
var benchLast = []string{"Rossi", "Bianchi", "Smith", "Garcia", "Muller", "Tanaka", "Patel", "Silva", "Dubois", "Nguyen"}

func benchLead(n int) core.NewLead {
	first, last := benchNames[n%len(benchNames)], benchLast[(n/len(benchNames))%len(benchLast)]
	full := first + " " + last
	email := fmt.Sprintf("%s.%s%d@example.com", first, last, n)
	phone := fmt.Sprintf("+39 333 %07d", n)
	return core.NewLead{UserID: fmt.Sprintf("user-%d", n), Fields: core.LeadFields{Fullname: &full, Email: &email, Phone: &phone},
		Attributes: map[string]any{"plan": "pro"}}
}

// seededStore is a store with one project holding n leads, user-0 … user-(n-1).
func seededStore(b *testing.B, n int) (*store.Store, string) {
	b.Helper()
	s, err := store.Open(context.Background(), store.Options{URL: testURL(b), Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, seed(b, s, n)
}

// quietLog keeps the migrations' lines out of benchmark output.
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func seed(b *testing.B, s *store.Store, n int) string {
	b.Helper()
	pid := newProject(b, s)
	ctx := context.Background()
	for start := 0; start < n; start += core.MaxBatchLeads {
		var in []core.NewLead
		for i := start; i < min(start+core.MaxBatchLeads, n); i++ {
			in = append(in, benchLead(i))
		}
		res, err := s.CreateLeads(ctx, pid, in, "bench")
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	return pid
}

// BenchmarkIngest is POST /requests without HTTP: 80% known user ids, 20%
// new, from concurrent callers, so that group commit forms batches.
func BenchmarkIngest(b *testing.B) {
	const known = 5000
	m := &batchCounter{}
	s, err := store.Open(context.Background(), store.Options{URL: testURL(b), Metrics: m, Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	pid := seed(b, s, known)
	m.seedTxs, m.seedWrites = m.txs.Load(), m.writes.Load()
	ctx := context.Background()
	var fresh atomic.Int64
	fresh.Store(known)
	b.SetParallelism(16) // with GOMAXPROCS, the callers of a busy server
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			n := rng.IntN(known)
			if rng.IntN(5) == 0 {
				n = int(fresh.Add(1))
			}
			l := benchLead(n)
			_, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: l.UserID, Channel: "web", FirstText: "Hello, a question about my order",
				Attributes: map[string]any{"page": "/pricing"}, Lead: core.LeadFields{Fullname: l.Fields.Fullname, Email: l.Fields.Email},
				LeadAttributes: map[string]any{"plan": "pro"}, Actor: "bench"})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if n := m.txs.Load() - m.seedTxs; n > 0 {
		b.ReportMetric(float64(m.writes.Load()-m.seedWrites)/float64(n), "writes/tx")
	}
}

// batchCounter counts write transactions and the writes they carried.
type batchCounter struct {
	core.NopStoreMetrics
	txs, writes         atomic.Int64
	seedTxs, seedWrites int64
}

func (c *batchCounter) TxDone(batch int, _ time.Duration, _ error) {
	c.txs.Add(1)
	c.writes.Add(int64(batch))
}

// BenchmarkCreateLeads is the bulk path: one op is one batch of 1000 leads.
func BenchmarkCreateLeads(b *testing.B) {
	s, err := store.Open(context.Background(), store.Options{URL: testURL(b), Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	pid := newProject(b, s)
	ctx := context.Background()
	var next atomic.Int64
	b.ResetTimer()
	// Two callers, as a bulk load over more than one connection: their
	// batches meet in the writer.
	b.SetParallelism(max(1, 2/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := int(next.Add(1)-1) * core.MaxBatchLeads
			in := make([]core.NewLead, core.MaxBatchLeads)
			for i := range in {
				in[i] = benchLead(n + i)
			}
			if _, err := s.CreateLeads(ctx, pid, in, "bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*core.MaxBatchLeads)/b.Elapsed().Seconds(), "leads/s")
}

// BenchmarkImportLeads is the offline import: one op is one lead, all of
// them in one import into a fresh database, indexes dropped and rebuilt.
func BenchmarkImportLeads(b *testing.B) {
	s, err := store.Open(context.Background(), store.Options{URL: testURL(b), Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	pid := newProject(b, s)
	n := 0
	// User ids in no order, as the random ids of anonymous visitors.
	rng := rand.New(rand.NewPCG(1, 2))
	next := func() (core.ImportItem, error) {
		if n == b.N {
			return core.ImportItem{}, io.EOF
		}
		n++
		l := benchLead(n)
		l.UserID = fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
		return core.ImportItem{Line: n, Lead: l}, nil
	}
	b.ResetTimer()
	rep, err := s.ImportLeads(context.Background(), pid, next, store.ImportOptions{})
	if err != nil || rep.Imported != b.N {
		b.Fatalf("imported %d of %d: %v", rep.Imported, b.N, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "leads/s")
}

func benchLookup(b *testing.B, filter func(n int) core.LeadFilter) {
	const leads = 5000
	s, pid := seededStore(b, leads)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			page, err := s.Leads(ctx, pid, filter(rng.IntN(leads)))
			if err != nil {
				b.Error(err)
				return
			}
			if len(page.Items) == 0 {
				b.Error("no lead found")
				return
			}
		}
	})
}

func BenchmarkLookupEmail(b *testing.B) {
	benchLookup(b, func(n int) core.LeadFilter { return core.LeadFilter{Email: *benchLead(n).Fields.Email} })
}

func BenchmarkLookupUserID(b *testing.B) {
	benchLookup(b, func(n int) core.LeadFilter { return core.LeadFilter{UserID: benchLead(n).UserID} })
}

func BenchmarkSearchOnePrefix(b *testing.B) {
	benchLookup(b, func(n int) core.LeadFilter { return core.LeadFilter{Q: benchNames[n%len(benchNames)][:3], Limit: 20} })
}

func BenchmarkSearchTwoPrefixes(b *testing.B) {
	benchLookup(b, func(n int) core.LeadFilter {
		return core.LeadFilter{Q: benchNames[n%len(benchNames)][:3] + " " + benchLast[(n/len(benchNames))%len(benchLast)][:3], Limit: 20}
	})
}

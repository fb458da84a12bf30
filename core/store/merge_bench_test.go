package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
)

// BenchmarkIngestDuringMerges measures ingest alone and ingest while another
// caller merges leads (each with requests) one pair after another, on the
// same store, so that the cost merges put on the shared writer is visible:
//
//	go test -run '^$' -bench IngestDuringMerges -benchtime 20000x -count 3 ./core/store/
//
// Compare the ingests/s of the two sub-benchmarks of one run.
func BenchmarkIngestDuringMerges(b *testing.B) {
	for _, merging := range []bool{false, true} {
		name := "alone"
		if merging {
			name = "with-merges"
		}
		b.Run(name, func(b *testing.B) {
			const known, pairs, requestsPerLead = 5000, 400, 5
			s, pid := seededStore(b, known)
			ctx := context.Background()
			// Pairs of leads to merge, each lead with a few requests.
			type pair struct{ into, from string }
			ps := make([]pair, pairs)
			for i := range ps {
				var ids [2]string
				for j := range ids {
					for r := 0; r < requestsPerLead; r++ {
						res, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: fmt.Sprintf("pair-%d-%d", i, j), Actor: "bench"})
						if err != nil {
							b.Fatal(err)
						}
						ids[j] = res.Lead.ID
					}
				}
				ps[i] = pair{ids[0], ids[1]}
			}
			var merges atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			b.SetParallelism(16)
			b.ResetTimer()
			start := time.Now()
			if merging {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, p := range ps {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := s.MergeLeads(ctx, pid, p.into, []string{p.from}, "bench"); err != nil {
							b.Error(err)
							return
						}
						merges.Add(1)
					}
				}()
			}
			var fresh atomic.Int64
			fresh.Store(known)
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
				for pb.Next() {
					n := rng.IntN(known)
					if rng.IntN(5) == 0 {
						n = int(fresh.Add(1))
					}
					if _, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: fmt.Sprintf("user-%d", n), Channel: "web", Actor: "bench"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ingests/s")
			if merging {
				b.ReportMetric(float64(merges.Load())/elapsed.Seconds(), "merges/s")
			}
		})
	}
}

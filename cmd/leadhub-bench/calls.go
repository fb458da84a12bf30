package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Helpers of the merge and postgres sections: project API calls on one
// keep-alive connection, and ingest windows of the core section's stream
// spread over one or more servers.

// projectConn is one connection to a server, with a project's id and key.
type projectConn struct {
	c        *conn
	pid, key string
}

func newProjectConn(s *server, key string) *projectConn {
	i := strings.IndexByte(key, '|')
	return &projectConn{c: &conn{addr: s.addr}, pid: key[:i], key: key[i+1:]}
}

func (p *projectConn) close() { p.c.close() }

// post sends body (none when nil, as is when bytes, else marshalled) to
// path under /v1/projects/{pid}, wants the status want and decodes the
// answer into out when it is not nil. It returns how long the call took.
func (p *projectConn) post(path string, body any, want int, out any) (time.Duration, error) {
	var b []byte
	switch x := body.(type) {
	case nil:
	case []byte:
		b = x
	default:
		var err error
		if b, err = json.Marshal(body); err != nil {
			return 0, err
		}
	}
	full := "/v1/projects/" + p.pid + path
	if p.c.c == nil { // connect first: the time is the call's alone
		nc, err := dial(p.c.addr)
		if err != nil {
			return 0, err
		}
		*p.c = *nc
	}
	t0 := time.Now()
	st, ans, err := p.c.do("POST", full, p.key, b)
	took := time.Since(t0)
	if err != nil {
		return took, fmt.Errorf("POST %s: %w", full, err)
	}
	if st != want {
		return took, fmt.Errorf("POST %s: %d %.300s", full, st, ans)
	}
	if out != nil {
		if err := json.Unmarshal(ans, out); err != nil {
			return took, fmt.Errorf("POST %s: %w", full, err)
		}
	}
	return took, nil
}

// createLeads creates persons ps through POST /leads/batch (1000 a call) and
// returns their lead ids, in order.
func (p *projectConn) createLeads(ps []person) ([]string, error) {
	var ids []string
	for from := 0; from < len(ps); from += 1000 {
		var leads []leadJSON
		for _, x := range ps[from:min(from+1000, len(ps))] {
			leads = append(leads, x.lead(true))
		}
		var a batchAnswer
		if _, err := p.post("/leads/batch", map[string]any{"leads": leads}, 200, &a); err != nil {
			return nil, err
		}
		if a.Failed > 0 || len(a.Items) != len(leads) {
			return nil, fmt.Errorf("create leads: %d of %d failed", a.Failed, len(leads))
		}
		for _, it := range a.Items {
			ids = append(ids, it.Lead.ID)
		}
	}
	return ids, nil
}

func ingestOK(status int, _ []byte) bool { return status == 201 || status == 200 }

// ingestWindow sends the ingest stream st to the servers at addrs for d,
// conns connections in all split evenly across them, each server's share
// at once, and returns the results added up (elapsed: the longest).
func ingestWindow(addrs []string, key string, conns int, d time.Duration, st *stream) loadResult {
	i := strings.IndexByte(key, '|')
	path, k := "/v1/projects/"+key[:i]+"/requests", key[i+1:]
	parts := make([]loadResult, len(addrs))
	var wg sync.WaitGroup
	for j, addr := range addrs {
		c := conns / len(addrs)
		if j < conns%len(addrs) {
			c++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[j] = load(addr, k, c, d, 0, func(i int) call {
				return call{method: "POST", path: path, body: ingestBody(st.next(), i)}
			}, ingestOK)
		}()
	}
	wg.Wait()
	return addResults(parts)
}

// addResults adds up load results taken at the same time.
func addResults(parts []loadResult) loadResult {
	var r loadResult
	for _, p := range parts {
		r.n += p.n
		r.failed += p.failed
		r.lat = append(r.lat, p.lat...)
		r.elapsed = max(r.elapsed, p.elapsed)
		if r.firstErr == "" {
			r.firstErr = p.firstErr
		}
	}
	slices.Sort(r.lat)
	return r
}

// batchAnswer is what POST /leads/batch answers, as far as the bench reads it.
type batchAnswer struct {
	Items []struct {
		Lead *struct {
			ID string `json:"id"`
		} `json:"lead"`
	} `json:"items"`
	Failed int `json:"failed"`
}

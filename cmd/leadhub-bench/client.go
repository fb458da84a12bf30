package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// conn is a minimal HTTP/1.1 keep-alive client on one TCP connection. The
// load generator shares the machine with the server, so it spends as little
// CPU per request as it can: no per-request allocations beyond the body, no
// goroutines, no connection pool.
type conn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	body []byte
}

func dial(addr string) (*conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{addr: addr, c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}, nil
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
	}
}

// do sends one request and reads the whole answer. The body it returns is
// valid until the next call.
func (c *conn) do(method, path, key string, body []byte, header ...string) (int, []byte, error) {
	if c.c == nil {
		nc, err := dial(c.addr)
		if err != nil {
			return 0, nil, err
		}
		*c = *nc
	}
	status, b, err := c.roundTrip(method, path, key, body, header)
	if err != nil {
		c.c.Close()
		c.c = nil
	}
	return status, b, err
}

func (c *conn) roundTrip(method, path, key string, body []byte, header []string) (int, []byte, error) {
	w := c.w
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(path)
	w.WriteString(" HTTP/1.1\r\nHost: bench\r\n")
	if key != "" {
		w.WriteString("Authorization: Bearer ")
		w.WriteString(key)
		w.WriteString("\r\n")
	}
	for i := 0; i+1 < len(header); i += 2 {
		w.WriteString(header[i])
		w.WriteString(": ")
		w.WriteString(header[i+1])
		w.WriteString("\r\n")
	}
	if body != nil {
		w.WriteString("Content-Type: application/json\r\nContent-Length: ")
		w.WriteString(strconv.Itoa(len(body)))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		return 0, nil, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, val, _ := bytes.Cut(h, []byte(":"))
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(val)); err != nil {
				return 0, nil, fmt.Errorf("bad content length %q", val)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(val, []byte("chunked"))
		}
	}
	c.body = c.body[:0]
	switch {
	case chunked:
		for {
			h, err := c.r.ReadSlice('\n')
			if err != nil {
				return 0, nil, err
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(h)), 16, 64)
			if err != nil {
				return 0, nil, fmt.Errorf("bad chunk size %q", h)
			}
			if n == 0 {
				if _, err := c.r.ReadSlice('\n'); err != nil {
					return 0, nil, err
				}
				break
			}
			c.body = slices.Grow(c.body, int(n))
			start := len(c.body)
			c.body = c.body[:start+int(n)]
			if _, err := io.ReadFull(c.r, c.body[start:]); err != nil {
				return 0, nil, err
			}
			if _, err := c.r.ReadSlice('\n'); err != nil {
				return 0, nil, err
			}
		}
	case length >= 0:
		c.body = slices.Grow(c.body, length)[:length]
		if _, err := io.ReadFull(c.r, c.body); err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, errors.New("answer without a length")
	}
	return status, c.body, nil
}

// call is one request of a load run.
type call struct {
	method, path string
	body         []byte
	header       []string // more header lines: name, value, name, value…
}

// loadResult is what a load run measured.
type loadResult struct {
	n, failed int
	elapsed   time.Duration
	lat       []time.Duration // sorted
	firstErr  string
	batch     float64 // writes per transaction on the server, when known
}

func (r loadResult) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r loadResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.5) - 1
	return r.lat[max(0, min(i, len(r.lat)-1))]
}

// collector gathers what the workers of a load run measured.
type collector struct {
	mu  sync.Mutex
	res loadResult
}

// add is one worker's latencies, failures and first error.
func (c *collector) add(lat []time.Duration, failed int, firstErr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.lat = append(c.res.lat, lat...)
	c.res.failed += failed
	if c.res.firstErr == "" {
		c.res.firstErr = firstErr
	}
}

// result is the run's figures, once every worker has added its own.
func (c *collector) result(start time.Time) loadResult {
	res := c.res
	res.elapsed = time.Since(start)
	res.n = len(res.lat)
	slices.Sort(res.lat)
	return res
}

// drive runs workers closed-loop goroutines until d has passed or limit
// calls have been made (0: no limit), and gathers the latency of every call
// that succeeded. Each worker gets its call function from newWorker (its own
// connection, scan buffers…) and closes it with the func returned beside.
func drive(workers int, d time.Duration, limit int, newWorker func() (work func(i int) error, done func())) loadResult {
	var issued atomic.Int64
	var all collector
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work, done := newWorker()
			if done != nil {
				defer done()
			}
			lat := make([]time.Duration, 0, 4096)
			failed := 0
			firstErr := ""
			for {
				i := int(issued.Add(1) - 1)
				if (limit > 0 && i >= limit) || time.Now().After(deadline) {
					break
				}
				t0 := time.Now()
				if err := work(i); err != nil {
					failed++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			all.add(lat, failed, firstErr)
		}()
	}
	wg.Wait()
	return all.result(start)
}

// load runs conns closed-loop clients until d has passed or limit calls have
// been made (0: no limit). next builds call i; check, when set, sees each
// answer (from the client's goroutine) and says whether it succeeded.
func load(addr, key string, conns int, d time.Duration, limit int, next func(i int) call, check func(status int, body []byte) bool) loadResult {
	return drive(conns, d, limit, func() (func(int) error, func()) {
		c := &conn{addr: addr}
		return func(i int) error {
			cl := next(i)
			status, body, err := c.do(cl.method, cl.path, key, cl.body, cl.header...)
			if err != nil {
				return err
			}
			ok := status < 400
			if check != nil {
				ok = check(status, body)
			}
			if !ok {
				return fmt.Errorf("%s %s: %d %.200s", cl.method, cl.path, status, body)
			}
			return nil
		}, c.close
	})
}

// paced makes n calls at rate per second in all, spread over conns
// connections, each call at its planned time (open loop), and measures each
// latency from that planned time: a call that had to wait for the one before
// it counts the wait, as a user would. Closed-loop runs measure a saturated
// server, whose latency is mostly queueing; this measures the latency of a
// server that keeps up, which is what a latency target is about.
func paced(addr, key string, conns int, rate float64, n int, next func(i int) call, check func(status int, body []byte) bool) loadResult {
	interval := time.Duration(float64(time.Second) * float64(conns) / rate)
	start := time.Now()
	var all collector
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &conn{addr: addr}
			defer c.close()
			var lat []time.Duration
			failed, firstErr := 0, ""
			// Worker w makes calls w, w+conns, …, offset within the interval
			// so that the connections do not fire together.
			for k, i := 0, w; i < n; k, i = k+1, i+conns {
				planned := start.Add(time.Duration(k)*interval + interval*time.Duration(w)/time.Duration(conns))
				// On time: the latency starts when the call is sent (the
				// sleep's own overshoot is the client's, not the server's).
				// Late, because the call before ran past this one's time:
				// it starts at the planned time.
				t0 := planned
				if d := time.Until(planned); d > 0 {
					time.Sleep(d)
					t0 = time.Now()
				}
				cl := next(i)
				status, body, err := c.do(cl.method, cl.path, key, cl.body, cl.header...)
				ok := err == nil && status < 400
				if err == nil && check != nil {
					ok = check(status, body)
				}
				if !ok {
					failed++
					if firstErr == "" {
						firstErr = fmt.Sprintf("%s %s: %d %v %.200s", cl.method, cl.path, status, err, body)
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			all.add(lat, failed, firstErr)
		}()
	}
	wg.Wait()
	return all.result(start)
}

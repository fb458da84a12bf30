package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// The webhooks section: outbound deliveries from the real server to a
// receiver in this process, beside a bare net/http client posting the same
// bodies to it; and signed inbound deliveries (the generic format and
// Chatwoot) beside the REST API's POST /requests with the same content.

var (
	webhookEvents   = flag.Int("webhook-events", 5_000, "webhooks section: events delivered in each outbound run")
	inboundDuration = flag.Duration("inbound-duration", 3*time.Second, "webhooks section: length of each inbound run")
	inboundConns    = flag.Int("inbound-conns", 64, "webhooks section: connections of the inbound runs")
)

func init() {
	register(section{name: "webhooks", rank: 20, run: runWebhooks})
}

// deliverKind is the job kind of scheduled webhook deliveries.
const deliverKind = "webhook.deliver"

func runWebhooks(env *benchEnv) error {
	if *webhookEvents < 1000 || *inboundConns < 1 || *inboundDuration < time.Second {
		return errors.New("want -webhook-events of at least 1000, -inbound-conns of at least 1 and -inbound-duration of at least 1s")
	}
	if err := outbound(env); err != nil {
		return fmt.Errorf("outbound: %w", err)
	}
	if err := inboundRuns(env); err != nil {
		return fmt.Errorf("inbound: %w", err)
	}
	return nil
}

// outbound: in each run, a fresh server with one webhook subscribed to
// lead.created, pointing at the receiver; n leads created in bulk while the
// receiver holds its answers, so that their deliveries queue up; then the
// receiver answers, and the clock runs until every delivery's attempt is
// logged and its job completed. Then a bare client posts the same bodies
// with the same headers to the same receiver.
func outbound(env *benchEnv) error {
	o, n := env.o, *webhookEvents
	rcv, err := startReceiver()
	if err != nil {
		return err
	}
	defer rcv.close()
	admin := "lhadmin_bench_" + uuid.NewString()
	var rates, bares, ratios, cpus []float64
	for i := range o.runs {
		say("webhooks run %d: %d lead.created deliveries to a receiver in the bench (fresh database)", i+1, n)
		r, err := outboundRun(env, rcv, admin, i, n)
		if err != nil {
			return err
		}
		say("  %.0f deliveries/s once the receiver answered (%d events created first in %s); server CPU %s a delivery",
			r.rate, n, r.created.Round(time.Millisecond), usec(r.cpu))
		bare, err := rcv.bare(16)
		if err != nil {
			return fmt.Errorf("bare client: %w", err)
		}
		say("  bare net/http client, 16 workers, the same %d bodies and headers: %.0f posts/s", n, bare)
		rates, bares, ratios, cpus = append(rates, r.rate), append(bares, bare), append(ratios, r.rate/bare), append(cpus, float64(r.cpu))
	}
	rate, bare := median(rates), median(bares)
	env.rep.add(row{fmt.Sprintf("outbound webhooks, %s lead.created deliveries queued, then a loopback receiver answering 204 (signed POST, attempt logged, job completed): deliveries/s", thousands(n)),
		fmt.Sprintf("%.0f (server CPU %s a delivery)", rate, usec(time.Duration(median(cpus)))),
		fmt.Sprintf("bare net/http client, 16 workers, same bodies and headers, same receiver: %.0f/s", bare),
		fmt.Sprintf("%.0f%%", 100*median(ratios)), "≥ 3,000/s", verdict(rate >= 3000)})
	return nil
}

type outboundResult struct {
	rate    float64
	created time.Duration
	cpu     time.Duration // the server's, a delivery
}

func outboundRun(env *benchEnv, rcv *receiver, admin string, i, n int) (outboundResult, error) {
	var res outboundResult
	// The receiver is on loopback. The deliveries held while the events
	// are created must not time out meanwhile (15 s by default).
	srv, stop, err := env.startServer(filepath.Join(env.dir, fmt.Sprintf("webhooks-out-%d", i)), admin, i == 0,
		"LEADHUB_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true", "LEADHUB_WEBHOOKS__TIMEOUT=120s")
	if err != nil {
		return res, err
	}
	defer stop()
	key, err := newProject(srv)
	if err != nil {
		return res, err
	}
	pid, secret := splitKey(key)
	body, _ := json.Marshal(map[string]any{"url": rcv.url + "/hook", "events": []string{"lead.created"}, "description": "bench receiver"})
	b, err := apiCall(srv, "POST", "/v1/projects/"+pid+"/webhooks", secret, body, 201)
	if err != nil {
		return res, err
	}
	var hook struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &hook); err != nil {
		return res, err
	}
	sk, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hook.Secret, "whsec_"))
	if err != nil || len(sk) == 0 {
		return res, fmt.Errorf("webhook secret %q: %v", hook.Secret, err)
	}
	m0, err := scrape(srv)
	if err != nil {
		return res, err
	}

	rcv.reset(sk, true)
	t0 := time.Now()
	if err := bulk(srv, key, env.seed^0x40b0+uint64(i), 0, n, env.o.bulkConns, nil); err != nil {
		rcv.release()
		return res, err
	}
	res.created = time.Since(t0)
	spid := srv.cmd.Process.Pid
	cpu0, start := cpuTime(spid), time.Now()
	rcv.release()
	// With -profile, the first run's deliveries.
	prof := startProfile(srv, filepath.Join(env.o.profile, "outbound.pprof"), 2*time.Second)
	jobs := func(m metricsText, result string) float64 {
		return m.sum("leadhub_jobs_worked_total", "kind", deliverKind, "result", result) -
			m0.sum("leadhub_jobs_worked_total", "kind", deliverKind, "result", result)
	}
	end, err := waitMetric(srv, 30*time.Second+time.Duration(n)*2*time.Millisecond, 20*time.Millisecond, func(m metricsText) (bool, string, error) {
		done, retried, discarded := jobs(m, "completed"), jobs(m, "retried"), jobs(m, "discarded")
		ok := m.sum("leadhub_webhook_deliveries_total", "outcome", "succeeded") - m0.sum("leadhub_webhook_deliveries_total", "outcome", "succeeded")
		failed := m.sum("leadhub_webhook_deliveries_total") - m0.sum("leadhub_webhook_deliveries_total") - ok
		state := fmt.Sprintf("%.0f of %d delivery jobs completed, %.0f retried, %.0f discarded; %.0f attempts failed; %d received",
			done, n, retried, discarded, failed, rcv.unique())
		if retried+discarded+failed > 0 {
			return false, state, errors.New(state)
		}
		return done >= float64(n) && rcv.unique() >= n, state, nil
	})
	prof.wait()
	if err != nil {
		return res, err
	}
	res.rate = float64(n) / end.Sub(start).Seconds()
	res.cpu = (cpuTime(spid) - cpu0) / time.Duration(n)
	if bad := rcv.bad.Load(); bad > 0 {
		return res, fmt.Errorf("%d deliveries with a bad signature or no id", bad)
	}
	if u, all := rcv.unique(), rcv.n.Load(); u != n || all != int64(n) {
		return res, fmt.Errorf("received %d deliveries of %d events, want each once", all, u)
	}
	db, err := readOnly(srv.dbPath())
	if err != nil {
		return res, err
	}
	defer db.Close()
	var logged, succeeded int
	if err := db.QueryRow(`SELECT count(*), count(CASE WHEN status = 'succeeded' THEN 1 END) FROM webhook_deliveries WHERE webhook_id = ?`, hook.ID).Scan(&logged, &succeeded); err != nil {
		return res, fmt.Errorf("count logged deliveries: %w", err)
	}
	if logged != n || succeeded != n {
		return res, fmt.Errorf("%d attempts logged, %d of them succeeded, want %d", logged, succeeded, n)
	}
	return res, nil
}

// receiver is the outbound webhooks' endpoint: it checks each delivery's
// signature, counts it, and answers 204. While held it keeps the requests
// waiting; while recording it keeps the bodies and headers for the bare
// client to post again.
type receiver struct {
	srv *http.Server
	url string

	mu     sync.Mutex
	key    []byte
	hold   chan struct{} // closed when the receiver answers
	record bool
	ids    map[string]bool
	bodies [][]byte
	heads  []http.Header

	n   atomic.Int64
	bad atomic.Int64
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String()}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *receiver) close() { r.srv.Close() }

// reset readies the receiver for a run of the server: signed with key,
// holding its answers or not, recording.
func (r *receiver) reset(key []byte, hold bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.key, r.record, r.ids, r.bodies, r.heads = key, true, map[string]bool{}, nil, nil
	r.hold = make(chan struct{})
	if !hold {
		close(r.hold)
	}
	r.n.Store(0)
	r.bad.Store(0)
}

func (r *receiver) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.hold:
	default:
		close(r.hold)
	}
}

func (r *receiver) unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "unreadable", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	hold, key := r.hold, r.key
	r.mu.Unlock()
	<-hold
	id := req.Header.Get("webhook-id")
	if id == "" || !verifyStandard(key, id, req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature"), body) {
		r.bad.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.n.Add(1)
	r.mu.Lock()
	if r.record {
		r.ids[id] = true
		r.bodies = append(r.bodies, body)
		r.heads = append(r.heads, req.Header.Clone())
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// verifyStandard checks a Standard Webhooks signature header: "v1," and the
// base64 HMAC-SHA256 of "{id}.{timestamp}.{body}", one or more of them.
func verifyStandard(key []byte, id, ts, sigs string, body []byte) bool {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, b64, _ := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if v == "v1" && err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// signStandard is the webhook-signature header of a message.
func signStandard(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// bare posts the bodies the server delivered in the last run, with their
// headers, from a plain net/http client with workers goroutines, and
// returns posts/s. The receiver checks and counts them as it did the
// server's.
func (r *receiver) bare(workers int) (float64, error) {
	r.mu.Lock()
	bodies, heads := r.bodies, r.heads
	r.record = false
	r.mu.Unlock()
	r.n.Store(0)
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := next.Add(1) - 1; k < int64(len(bodies)); k = next.Add(1) - 1 {
				req, _ := http.NewRequest("POST", r.url+"/hook", bytes.NewReader(bodies[k]))
				req.Header = heads[k].Clone()
				res, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode/100 != 2 {
						err = fmt.Errorf("answered %d", res.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if f := failed.Load(); f > 0 {
		return 0, fmt.Errorf("%d of %d posts failed: %v", f, len(bodies), firstErr.Load())
	}
	if got := r.n.Load(); got != int64(len(bodies)) {
		return 0, fmt.Errorf("the receiver counted %d posts of %d", got, len(bodies))
	}
	return float64(len(bodies)) / took.Seconds(), nil
}

// inboundKind is one kind of inbound load.
type inboundKind struct {
	name   string
	key    string                 // the bearer key, for REST
	next   func(run, i int) call  // call i of run
	check  func(int, []byte) bool // the answer of an accepted call
	metric string                 // the channel kind in leadhub_inbound_deliveries_total
}

// inboundRuns: signed deliveries to a generic and a Chatwoot channel, and
// the REST API's POST /requests with the same content, each with 64
// connections for -inbound-duration a run, in turn, o.runs times, on one
// server. Every call creates a new lead and a new request.
func inboundRuns(env *benchEnv) error {
	o := env.o
	srv, stop, err := env.startServer(filepath.Join(env.dir, "webhooks-in"), "lhadmin_bench_"+uuid.NewString(), true)
	if err != nil {
		return err
	}
	defer stop()
	key, err := newProject(srv)
	if err != nil {
		return err
	}
	pid, secret := splitKey(key)
	genericID, genericSecret, err := createChannel(srv, pid, secret, "generic", "")
	if err != nil {
		return err
	}
	gkey, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(genericSecret, "whsec_"))
	if err != nil {
		return fmt.Errorf("generic channel secret: %w", err)
	}
	cwSecret := strings.ReplaceAll(uuid.NewString(), "-", "")
	chatwootID, _, err := createChannel(srv, pid, secret, "chatwoot", cwSecret)
	if err != nil {
		return err
	}

	seed := env.seed ^ 0x1b0d
	accepted := func(status int, body []byte) bool {
		return status == 200 && bytes.Contains(body, []byte(`"accepted":true`))
	}
	kinds := []inboundKind{
		{name: "REST `POST /requests`", key: secret, metric: "",
			next: func(run, i int) call {
				return call{method: "POST", path: "/v1/projects/" + pid + "/requests", body: requestData(seed, "r", run, i)}
			},
			check: func(status int, _ []byte) bool { return status == 201 }},
		{name: "generic `request.created`", metric: "generic",
			next: func(run, i int) call {
				body := append(append([]byte(`{"type":"request.created","data":`), requestData(seed, "g", run, i)...), '}')
				id := fmt.Sprintf("msg_%x_%d_%d", seed, run, i)
				ts := time.Now().Unix()
				return call{method: "POST", body: body, path: "/v1/inbound/" + genericID, header: []string{
					"webhook-id", id, "webhook-timestamp", strconv.FormatInt(ts, 10), "webhook-signature", signStandard(gkey, id, ts, body)}}
			},
			check: accepted},
		{name: "Chatwoot `conversation_created`", metric: "chatwoot",
			next: func(run, i int) call {
				body := chatwootConversation(seed, run, i)
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				m := hmac.New(sha256.New, []byte(cwSecret))
				m.Write([]byte(ts + "."))
				m.Write(body)
				return call{method: "POST", body: body, path: "/v1/inbound/" + chatwootID, header: []string{
					"X-Chatwoot-Delivery", fmt.Sprintf("%x-%d-%d", seed, run, i), "X-Chatwoot-Timestamp", ts,
					"X-Chatwoot-Signature", "sha256=" + hex.EncodeToString(m.Sum(nil))}}
			},
			check: accepted},
	}
	if !json.Valid(chatwootConversation(seed, 0, 0)) || !json.Valid(requestData(seed, "r", 0, 0)) {
		return errors.New("a generated body is not JSON")
	}

	// Each run is cut in slices of about a second, and every slice runs
	// each kind in turn, a different one first: on a shared machine the
	// kinds see the same weather, which their ratios need.
	nSlices := max(1, int((*inboundDuration+time.Second/2)/time.Second))
	slice := *inboundDuration / time.Duration(nSlices)
	results := make([][]loadResult, len(kinds))
	for run := range o.runs {
		merged := make([]loadResult, len(kinds))
		for sl := range nSlices {
			for j := range kinds {
				idx := (j + run + sl) % len(kinds)
				k := &kinds[idx]
				m0, err := scrape(srv)
				if err != nil {
					return err
				}
				// With -profile, the first slice of each kind.
				var prof *profiler
				if run == 0 && sl == 0 {
					prof = startProfile(srv, filepath.Join(o.profile, "inbound-"+strings.Fields(k.name)[0]+".pprof"), slice-time.Second/2)
				}
				r := load(srv.addr, k.key, *inboundConns, slice, 0, func(i int) call { return k.next(run, sl*callsPerSlice+i) }, k.check)
				prof.wait()
				if r.failed > 0 {
					return fmt.Errorf("%s: %d failed: %s", k.name, r.failed, r.firstErr)
				}
				if k.metric != "" {
					m1, err := scrape(srv)
					if err != nil {
						return err
					}
					ok := m1.sum("leadhub_inbound_deliveries_total", "kind", k.metric, "result", "ok") - m0.sum("leadhub_inbound_deliveries_total", "kind", k.metric, "result", "ok")
					if int(ok) != r.n {
						return fmt.Errorf("%s: %d accepted, the server counted %.0f applied", k.name, r.n, ok)
					}
				}
				merged[idx] = mergeLoads(merged[idx], r)
			}
		}
		for j, k := range kinds {
			r := merged[j]
			say("inbound run %d, %s, %d connections: %.0f/s, p50 %s, p99 %s", run+1, k.name, *inboundConns, r.rate(), ms(r.pct(50)), ms(r.pct(99)))
			results[j] = append(results[j], r)
		}
	}
	sum := func(rs []loadResult) (float64, time.Duration, time.Duration) {
		var rate []float64
		var p50, p99 []time.Duration
		for _, r := range rs {
			rate, p50, p99 = append(rate, r.rate()), append(p50, r.pct(50)), append(p99, r.pct(99))
		}
		return median(rate), median(p50), median(p99)
	}
	rr, r50, r99 := sum(results[0])
	for j, k := range kinds[1:] {
		rate, p50, p99 := sum(results[j+1])
		// The ratio of each run's rates, then their median.
		var ratios []float64
		for run, r := range results[j+1] {
			ratios = append(ratios, r.rate()/results[0][run].rate())
		}
		env.rep.add(row{fmt.Sprintf("inbound %s, signed, new lead and request each, %d conns: accepted/s, p50 / p99", k.name, *inboundConns),
			fmt.Sprintf("%.0f, %s / %s", rate, ms(p50), ms(p99)),
			fmt.Sprintf("%s, same lead and request: %.0f/s, %s / %s", kinds[0].name, rr, ms(r50), ms(r99)),
			fmt.Sprintf("%.0f%%", 100*median(ratios)), "≥ 3,000/s", verdict(rate >= 3000)})
	}
	return nil
}

// callsPerSlice spaces the call numbers of an inbound run's slices: no
// slice makes this many calls.
const callsPerSlice = 10_000_000

// mergeLoads adds the load b to a: calls, time and latencies.
func mergeLoads(a, b loadResult) loadResult {
	a.n += b.n
	a.failed += b.failed
	a.elapsed += b.elapsed
	a.lat = append(a.lat, b.lat...)
	sortDurations(a.lat)
	if a.firstErr == "" {
		a.firstErr = b.firstErr
	}
	return a
}

// createChannel creates an inbound channel and returns its id and secret.
func createChannel(s *server, project, key, kind, secret string) (string, string, error) {
	in := map[string]any{"kind": kind, "name": "bench " + kind}
	if secret != "" {
		in["secret"] = secret
	}
	body, _ := json.Marshal(in)
	b, err := apiCall(s, "POST", "/v1/projects/"+project+"/channels", key, body, 201)
	if err != nil {
		return "", "", err
	}
	var ch struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &ch); err != nil {
		return "", "", err
	}
	return ch.ID, ch.Secret, nil
}

// requestData is the request of call i of a run, as POST /requests takes it
// and as the generic format's request.created carries it: a new visitor,
// with the lead's fields as a chat widget sends them.
func requestData(seed uint64, prefix string, run, i int) []byte {
	p := personN(i, seed+uint64(run)<<8+uint64(prefix[0]))
	b, _ := json.Marshal(map[string]any{
		"id":         fmt.Sprintf("%s%d-%d-%x", prefix, run, i, seed),
		"user_id":    p.userID,
		"channel":    "web",
		"first_text": "Hi! Is the Trekker 2 tent available in green? I need it before the end of May.",
		"attributes": map[string]any{"page": "/tents/trekker-2", "utm_source": "newsletter"},
		"lead":       map[string]any{"fullname": p.fullname, "email": p.email, "attributes": map[string]any{"plan": []string{"free", "pro", "team"}[p.n%3]}},
	})
	return b
}

// chatwootConversation is a Chatwoot conversation_created webhook as
// Chatwoot sends it (the structure of the account webhook, with its first
// message), for a new contact and conversation: call i of a run.
func chatwootConversation(seed uint64, run, i int) []byte {
	p := personN(i, seed+uint64(run)<<8+'c')
	conv := (run+1)*1_000_000_000 + i // call numbers stay far below 10⁹
	contact := conv
	ts := time.Now().Unix()
	return fmt.Appendf(nil, chatwootTemplate, conv, contact, p.userID, p.email, p.fullname, conv*10, ts)
}

// chatwootTemplate: conversation id, contact id, source id, email, name,
// message id, unix time.
const chatwootTemplate = `{"additional_attributes":{"browser":{"device_name":"Unknown","browser_name":"Chrome","platform_name":"macOS","browser_version":"124.0.6367.207","platform_version":"10.15.7"},"referer":"https://shop.acme-outdoor.example/tents/trekker-2","initiated_at":{"timestamp":"Tue May 12 2026 11:14:03 GMT+0200 (Central European Summer Time)"},"browser_language":"it"},"can_reply":true,"channel":"Channel::WebWidget","contact_inbox":{"id":51877,"contact_id":%[2]d,"inbox_id":12,"source_id":"%[3]s","created_at":"2026-05-12T09:12:41.487Z","updated_at":"2026-05-12T09:12:41.487Z","hmac_verified":false,"pubsub_token":"h6GvRk2nYw9pTq4ZcL8sXm3B"},"id":%[1]d,"inbox_id":12,"messages":[{"id":%[6]d,"content":"Hi! Is the Trekker 2 tent available in green? I need it before the end of May.","account_id":7,"inbox_id":12,"conversation_id":%[1]d,"message_type":0,"created_at":%[7]d,"updated_at":"2026-05-12T09:14:05.318Z","private":false,"status":"sent","source_id":null,"content_type":"text","content_attributes":{"in_reply_to":null},"sender_type":"Contact","sender_id":%[2]d,"external_source_ids":{},"additional_attributes":{},"processed_message_content":"Hi! Is the Trekker 2 tent available in green? I need it before the end of May.","sentiment":{},"conversation":{"assignee_id":null,"unread_count":1,"last_activity_at":%[7]d,"contact_inbox":{"source_id":"%[3]s"}},"sender":{"additional_attributes":{"created_at_ip":"203.0.113.24"},"custom_attributes":{},"email":"%[4]s","id":%[2]d,"identifier":null,"name":"%[5]s","phone_number":null,"thumbnail":"","blocked":false,"type":"contact"}}],"labels":[],"meta":{"sender":{"additional_attributes":{"created_at_ip":"203.0.113.24"},"custom_attributes":{},"email":"%[4]s","id":%[2]d,"identifier":null,"name":"%[5]s","phone_number":null,"thumbnail":"","blocked":false,"type":"contact"},"assignee":null,"assignee_type":null,"team":null,"hmac_verified":false},"status":"open","custom_attributes":{},"snoozed_until":null,"unread_count":1,"first_reply_created_at":null,"priority":null,"waiting_since":%[7]d,"agent_last_seen_at":0,"contact_last_seen_at":0,"last_activity_at":%[7]d,"timestamp":%[7]d,"created_at":%[7]d,"updated_at":%[7]d,"account":{"id":7,"name":"Acme Outdoor Gear"},"event":"conversation_created"}`

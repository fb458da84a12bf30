package pluginhost

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/sdk"
)

// Job kinds: one per plugin and kind, "plugin.enrich:<plugin>" and so on,
// with the plugin's name as the job's target too.
const (
	KindEnrich = "plugin.enrich"
	KindDetect = "plugin.detect"
	KindSink   = "plugin.sink"
)

var kindNames = map[sdk.Kind]string{
	sdk.KindEnricher:          KindEnrich,
	sdk.KindDuplicateDetector: KindDetect,
	sdk.KindEventSink:         KindSink,
}

// JobKind names the job kind of a plugin's kind.
func JobKind(k sdk.Kind, plugin string) string { return kindNames[k] + ":" + plugin }

// Batching of the job kinds.
const (
	// SinkMaxBatch events or SinkLinger, whichever comes first, make one
	// Deliver call.
	SinkMaxBatch = 100
	SinkLinger   = 250 * time.Millisecond
	// callMaxBatch jobs make one batch of enricher or detector calls, run
	// Concurrency at a time; callLinger lets a burst gather.
	callMaxBatch = 128
	callLinger   = 5 * time.Millisecond
	// maxCandidates caps the candidates taken from one Detect answer.
	maxCandidates = 20
	// maxDeliverBytes keeps a Deliver batch well under sdk.MaxMessageSize.
	maxDeliverBytes = sdk.MaxMessageSize * 3 / 4
)

// Job is how the queue should work one plugin kind's jobs: the fields of
// the queue's kind configuration, and the handler, written against core
// types so that the host need not know the queue.
type Job struct {
	Name          string // the job kind
	Plugin        string
	MaxBatch      int
	Linger        time.Duration
	Workers       int
	Timeout       time.Duration
	GroupByTarget bool
	Handler       func(ctx context.Context, batch []core.Job) []core.JobResult
}

// JobKinds returns the job kinds to register with the queue before it
// starts: for every plugin, those of the kinds it declared, or of every kind
// when it has not described itself yet (it failed to start). Call it once,
// after Start.
func (h *Host) JobKinds() []Job {
	var out []Job
	for _, p := range h.plugins {
		kinds := []sdk.Kind{sdk.KindEnricher, sdk.KindDuplicateDetector, sdk.KindEventSink}
		if d := p.desc.Load(); d != nil {
			kinds = d.Kinds
		}
		reg := map[sdk.Kind]bool{}
		for _, k := range kinds {
			if _, ok := kindNames[k]; !ok || reg[k] {
				continue
			}
			reg[k] = true
			out = append(out, h.jobKind(p, k))
		}
		p.registered.Store(&reg)
	}
	return out
}

func (h *Host) jobKind(p *plugin, k sdk.Kind) Job {
	// A batch gets the time of a few rounds of calls: a plugin slower than
	// that has the rest of its batch cancelled and tried again, and the
	// lease on a batch (which outlasts this) stays short, so that the jobs of
	// a Leadhub that died are soon taken over.
	j := Job{Name: JobKind(k, p.spec.Name), Plugin: p.spec.Name, Timeout: 4*p.spec.Timeout + 30*time.Second}
	switch k {
	case sdk.KindEventSink:
		j.MaxBatch, j.Linger, j.Workers, j.GroupByTarget = SinkMaxBatch, SinkLinger, 1, true
		j.Handler = func(ctx context.Context, batch []core.Job) []core.JobResult { return h.deliver(ctx, p, batch) }
	case sdk.KindEnricher:
		j.MaxBatch, j.Linger, j.Workers = callMaxBatch, callLinger, 2
		j.Handler = func(ctx context.Context, batch []core.Job) []core.JobResult { return h.enrich(ctx, p, batch) }
	case sdk.KindDuplicateDetector:
		j.MaxBatch, j.Linger, j.Workers = callMaxBatch, callLinger, 2
		j.Handler = func(ctx context.Context, batch []core.Job) []core.JobResult { return h.detect(ctx, p, batch) }
	}
	return j
}

// JobsFor implements core.Fanout: one job per plugin kind that wants the
// event, by the plugin's last description (so events keep being queued for
// a plugin that is down, and are worked when it is back). A plugin never
// gets the events it caused itself. It runs in the event's transaction and
// touches neither the database nor a lock.
func (h *Host) JobsFor(_ context.Context, _ *sql.Tx, ev core.Event) ([]core.Job, error) {
	var out []core.Job
	for _, p := range h.plugins {
		d := p.desc.Load()
		if d == nil || !d.Wants(ev.Type) || ev.Actor == core.PluginActor(p.spec.Name) {
			continue
		}
		for _, k := range d.Kinds {
			if _, ok := kindNames[k]; !ok {
				continue
			}
			if reg := p.registered.Load(); reg != nil && !(*reg)[k] {
				// Declared after this process registered its kinds: the
				// jobs wait for a process that works them (a restart).
				if _, seen := p.warned.LoadOrStore(k, true); !seen {
					p.log.Warn("plugin declares a kind this process does not work until restarted; its jobs wait", "kind", k)
				}
			}
			out = append(out, core.Job{Kind: JobKind(k, p.spec.Name), ProjectID: ev.ProjectID, Target: p.spec.Name, EventID: ev.ID})
		}
	}
	return out, nil
}

// Permanent failures of a job: retrying cannot help.
var (
	errEventGone = errors.New("event not found")
)

// failAll gives every job the same result.
func failAll(n int, r core.JobResult) []core.JobResult {
	out := make([]core.JobResult, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// unavailable is the result of jobs whose plugin has no process: tried
// again when it should be back, without a call.
func unavailable(p *plugin, n int, retry time.Time) []core.JobResult {
	return failAll(n, core.JobResult{Err: fmt.Errorf("plugin %s is not running", p.spec.Name), RetryAt: retry})
}

// loadEvents loads the batch's events by id.
func (h *Host) loadEvents(ctx context.Context, batch []core.Job) (map[string]*core.Event, error) {
	ids := make([]string, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, j := range batch {
		if !seen[j.EventID] {
			seen[j.EventID] = true
			ids = append(ids, j.EventID)
		}
	}
	evs, err := h.opts.Store.EventsByID(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	out := make(map[string]*core.Event, len(evs))
	for i := range evs {
		out[evs[i].ID] = &evs[i]
	}
	return out, nil
}

// loadLeads loads the current state of the leads the events are about.
func (h *Host) loadLeads(ctx context.Context, evs map[string]*core.Event) (map[string]*core.Lead, error) {
	byProject := map[string][]string{}
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.LeadID == "" || seen[ev.LeadID] {
			continue
		}
		seen[ev.LeadID] = true
		byProject[ev.ProjectID] = append(byProject[ev.ProjectID], ev.LeadID)
	}
	out := make(map[string]*core.Lead, len(seen))
	for project, ids := range byProject {
		for len(ids) > 0 {
			n := min(len(ids), 100)
			ls, err := h.opts.Store.LeadsByID(ctx, project, ids[:n])
			if err != nil {
				return nil, fmt.Errorf("load leads: %w", err)
			}
			for i := range ls {
				out[ls[i].ID] = &ls[i]
			}
			ids = ids[n:]
		}
	}
	return out, nil
}

// callResult turns a failed call into a job result: timeouts, crashes,
// panics and plugin errors are tried again with backoff; answers that can
// never be used are discarded.
func callResult(j core.Job, err error) core.JobResult {
	var nr *notRunning
	if errors.As(err, &nr) {
		return core.JobResult{Err: err, RetryAt: nr.retry}
	}
	if errors.Is(err, errSkipped) {
		return core.JobResult{Err: err}
	}
	switch classify(err) {
	case OutcomeInvalid, OutcomeTooLarge:
		return core.JobResult{Err: err, Discard: true}
	case OutcomePanic:
		// Likely the same again: a few tries, not a day of them.
		return core.JobResult{Err: err, Discard: j.Attempt >= 5}
	}
	return core.JobResult{Err: err}
}

// step is what came of one plugin call: a result, or what to write to
// complete the job: an enricher's patch, or any other write (apply).
type step struct {
	res   core.JobResult
	patch *leadPatch
	apply func(context.Context) core.JobResult
}

// leadPatch is an enricher's patch of a lead, checked and ready to write.
type leadPatch struct {
	projectID, leadID string
	patch             core.LeadPatch
}

// perLead runs call for every job of the batch whose event and lead exist,
// Concurrency at a time. Once a call of the batch times out, the calls not
// yet made are put off instead of waiting on a plugin that hangs.
//
// The writes the answers call for start as soon as the answers are in, while
// the other calls of the batch go on, so that no write waits for the
// slowest call of its batch. Enricher patches go to one writer per batch,
// which applies whatever patches have arrived while it wrote the previous
// ones in one store operation (PatchApplier): the first patch is written at
// once, and later ones in groups that grow as fast as the plugin answers.
func (h *Host) perLead(ctx context.Context, p *plugin, batch []core.Job,
	call func(ctx context.Context, j core.Job, ev *core.Event, lead *core.Lead, g *gate) step) []core.JobResult {
	if inst, retry := p.availability(); inst == nil {
		return unavailable(p, len(batch), retry)
	}
	evs, err := h.loadEvents(ctx, batch)
	if err != nil {
		return failAll(len(batch), core.JobResult{Err: err})
	}
	leads, err := h.loadLeads(ctx, evs)
	if err != nil {
		return failAll(len(batch), core.JobResult{Err: err})
	}
	res := make([]core.JobResult, len(batch))
	patches := make([]*leadPatch, len(batch))
	ready := make(chan int, len(batch)) // indexes of patches to write
	written := make(chan struct{})
	go func() {
		defer close(written)
		h.writePatches(ctx, p, batch, ready, patches, res)
	}()
	var wg sync.WaitGroup
	g := newGate()
	for i, j := range batch {
		ev := evs[j.EventID]
		if ev == nil {
			res[i] = core.JobResult{Err: errEventGone, Discard: true}
			continue
		}
		lead := leads[ev.LeadID]
		if lead == nil {
			continue // the lead is gone: nothing to do
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := call(ctx, j, ev, lead, g)
			switch {
			case st.patch != nil:
				patches[i] = st.patch
				ready <- i
			case st.apply != nil:
				res[i] = st.apply(ctx)
			default:
				res[i] = st.res
				if errors.Is(res[i].Err, errSkipped) {
					res[i].RetryAt = time.Now().Add(h.opts.RestartBackoff)
				}
			}
		}()
	}
	wg.Wait()
	close(ready)
	<-written
	return res
}

// writePatches writes the patches whose indexes come on ready until it is
// closed: each time, all those that have arrived, in one store operation.
func (h *Host) writePatches(ctx context.Context, p *plugin, batch []core.Job, ready <-chan int, patches []*leadPatch, res []core.JobResult) {
	group := make([]int, 0, callMaxBatch)
	for i := range ready {
		group = append(group[:0], i)
	gather:
		for {
			select {
			case i, ok := <-ready:
				if !ok {
					break gather
				}
				group = append(group, i)
			default:
				break gather
			}
		}
		h.writeGroup(ctx, p, batch, group, patches, res)
	}
}

// writeGroup writes the patches of group in one operation when the store
// can, and one by one otherwise, or when that operation failed as a whole
// (so that one patch the database refuses cannot fail the others). In one
// operation, the jobs of the patches are completed in its transaction too
// (Options.CompleteJobs): a patch then commits with its job's completion.
func (h *Host) writeGroup(ctx context.Context, p *plugin, batch []core.Job, group []int, patches []*leadPatch, res []core.JobResult) {
	actor := core.PluginActor(p.spec.Name)
	if pa, ok := h.opts.Store.(PatchApplier); ok {
		// A patch that does not validate is refused here, so that every
		// job of the operation is done once it commits.
		keep := group[:0:0]
		for _, i := range group {
			if err := core.ValidateLeadPatch(&patches[i].patch); err != nil {
				res[i] = h.patchResult(p, err)
				continue
			}
			keep = append(keep, i)
		}
		if len(keep) == 0 {
			return
		}
		projects, ids, lps := make([]string, len(keep)), make([]string, len(keep)), make([]core.LeadPatch, len(keep))
		jobIDs := make([]int64, len(keep))
		for k, i := range keep {
			projects[k], ids[k], lps[k], jobIDs[k] = patches[i].projectID, patches[i].leadID, patches[i].patch, batch[i].ID
		}
		var within func(ctx context.Context, tx *sql.Tx) error
		if h.opts.CompleteJobs != nil && h.opts.JobsCommitted != nil {
			within = func(ctx context.Context, tx *sql.Tx) error { return h.opts.CompleteJobs(ctx, tx, jobIDs) }
		}
		errs, err := pa.ApplyLeadPatches(ctx, projects, ids, lps, actor, within)
		if err == nil {
			for k, i := range keep {
				res[i] = h.patchResult(p, errs[k])
			}
			if within != nil {
				h.opts.JobsCommitted(ctx, jobIDs)
			}
			return
		}
		if len(keep) > 1 {
			p.log.Warn("writing patches together failed; writing them one by one", "patches", len(keep), "err", err)
		}
		group = keep
	}
	for _, i := range group {
		lp := patches[i]
		_, err := h.opts.Store.UpdateLead(ctx, lp.projectID, lp.leadID, lp.patch, actor)
		res[i] = h.patchResult(p, err)
	}
}

// patchResult is the result of an enricher job from the error of writing its
// patch.
func (h *Host) patchResult(p *plugin, err error) core.JobResult {
	switch core.ErrorCode(err) {
	case "":
		return core.JobResult{}
	case core.EINVALID:
		return core.JobResult{Err: p.refuse("enrich", fmt.Errorf("patch refused: %w", err)), Discard: true}
	case core.ENOTFOUND, core.ECONFLICT:
		return core.JobResult{} // deleted for good or merged away meanwhile
	default:
		return core.JobResult{Err: fmt.Errorf("apply patch of %s: %w", p.spec.Name, err)}
	}
}

// enrich works a batch of enricher jobs: each lead's current state goes to
// the plugin, and its patch is applied as lead.updated by the plugin (a
// patch that changes nothing writes nothing).
func (h *Host) enrich(ctx context.Context, p *plugin, batch []core.Job) []core.JobResult {
	return h.perLead(ctx, p, batch, func(ctx context.Context, j core.Job, ev *core.Event, lead *core.Lead, g *gate) step {
		sev, err := toSDKEvent(ev)
		if err != nil {
			return step{res: core.JobResult{Err: err, Discard: true}}
		}
		var patch sdk.Patch
		err = p.call(ctx, "enrich", []string{ev.ProjectID}, g, func(ctx context.Context, c *sdk.Client) error {
			var err error
			patch, err = c.Enrich(ctx, sev, toSDKLead(lead))
			return err
		})
		if err != nil {
			return step{res: callResult(j, err)}
		}
		lp, changes, err := toLeadPatch(patch, lead)
		if err != nil {
			return step{res: core.JobResult{Err: p.refuse("enrich", err), Discard: true}}
		}
		if !changes {
			return step{}
		}
		return step{patch: &leadPatch{projectID: ev.ProjectID, leadID: lead.ID, patch: lp}}
	})
}

// detect works a batch of detector jobs: each candidate becomes a duplicate
// suggestion (once per pair: the store keeps that promise), and so a
// duplicate.detected event.
func (h *Host) detect(ctx context.Context, p *plugin, batch []core.Job) []core.JobResult {
	if h.opts.Duplicates == nil {
		return failAll(len(batch), core.JobResult{Err: errors.New("no duplicate service"), RetryAt: time.Now().Add(h.opts.DisabledRetry)})
	}
	return h.perLead(ctx, p, batch, func(ctx context.Context, j core.Job, ev *core.Event, lead *core.Lead, g *gate) step {
		sev, err := toSDKEvent(ev)
		if err != nil {
			return step{res: core.JobResult{Err: err, Discard: true}}
		}
		var cands []sdk.Candidate
		err = p.call(ctx, "detect", []string{ev.ProjectID}, g, func(ctx context.Context, c *sdk.Client) error {
			var err error
			cands, err = c.Detect(ctx, sev, toSDKLead(lead))
			return err
		})
		if err != nil {
			return step{res: callResult(j, err)}
		}
		if len(cands) == 0 {
			return step{}
		}
		if len(cands) > maxCandidates {
			_ = p.refuse("detect", fmt.Errorf("%d candidates; the first %d are kept", len(cands), maxCandidates))
			cands = cands[:maxCandidates]
		}
		return step{apply: func(ctx context.Context) core.JobResult { return h.suggest(ctx, p, ev, lead, cands) }}
	})
}

// suggest records a detector's candidates for lead.
func (h *Host) suggest(ctx context.Context, p *plugin, ev *core.Event, lead *core.Lead, cands []sdk.Candidate) core.JobResult {
	for _, c := range cands {
		_, _, err := h.opts.Duplicates.SuggestDuplicate(ctx, ev.ProjectID, core.Suggestion{
			LeadID: lead.ID, CandidateID: c.LeadID, Score: c.Score, Reason: c.Reason, Detector: p.spec.Name,
		})
		switch core.ErrorCode(err) {
		case "":
		case core.EINVALID, core.ENOTFOUND:
			_ = p.refuse("detect", fmt.Errorf("candidate %q refused: %w", c.LeadID, err))
		default:
			return core.JobResult{Err: fmt.Errorf("record suggestion of %s: %w", p.spec.Name, err)}
		}
	}
	return core.JobResult{}
}

// deliver works a batch of sink jobs (one plugin's, up to SinkMaxBatch): the
// events go in as few Deliver calls as fit under the message cap, in event
// order; a failed call fails its jobs, which deliver again later.
func (h *Host) deliver(ctx context.Context, p *plugin, batch []core.Job) []core.JobResult {
	if inst, retry := p.availability(); inst == nil {
		return unavailable(p, len(batch), retry)
	}
	evs, err := h.loadEvents(ctx, batch)
	if err != nil {
		return failAll(len(batch), core.JobResult{Err: err})
	}
	res := make([]core.JobResult, len(batch))
	var (
		idx    []int
		events []sdk.Event
	)
	for i, j := range batch {
		ev := evs[j.EventID]
		if ev == nil {
			res[i] = core.JobResult{Err: errEventGone, Discard: true}
			continue
		}
		sev, err := toSDKEvent(ev)
		if err != nil {
			res[i] = core.JobResult{Err: err, Discard: true}
			continue
		}
		idx = append(idx, i)
		events = append(events, sev)
	}
	h.deliverChunks(ctx, p, batch, idx, events, res)
	return res
}

// deliverChunks delivers events (of batch[idx[k]]) in chunks under
// maxDeliverBytes; a chunk refused as too large is halved, and a single event
// too large to deliver is discarded.
func (h *Host) deliverChunks(ctx context.Context, p *plugin, batch []core.Job, idx []int, events []sdk.Event, res []core.JobResult) {
	for start := 0; start < len(events); {
		end, size := start, 0
		for end < len(events) && (end == start || size+eventSize(&events[end]) <= maxDeliverBytes) {
			size += eventSize(&events[end])
			end++
		}
		h.deliverChunk(ctx, p, batch, idx[start:end], events[start:end], res)
		start = end
	}
}

func (h *Host) deliverChunk(ctx context.Context, p *plugin, batch []core.Job, idx []int, events []sdk.Event, res []core.JobResult) {
	projects := make([]string, 0, 1)
	seen := map[string]bool{}
	for _, ev := range events {
		if !seen[ev.ProjectID] {
			seen[ev.ProjectID] = true
			projects = append(projects, ev.ProjectID)
		}
	}
	err := p.call(ctx, "deliver", projects, nil, func(ctx context.Context, c *sdk.Client) error {
		return c.Deliver(ctx, events)
	})
	if err != nil && classify(err) == OutcomeTooLarge && len(events) > 1 {
		half := len(events) / 2
		h.deliverChunk(ctx, p, batch, idx[:half], events[:half], res)
		h.deliverChunk(ctx, p, batch, idx[half:], events[half:], res)
		return
	}
	for _, i := range idx {
		if err == nil {
			res[i] = core.JobResult{}
		} else {
			res[i] = callResult(batch[i], err)
		}
	}
}

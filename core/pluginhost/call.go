package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/leadhub/leadhub/sdk"
)

// Outcomes of a plugin call, as counted in metrics.
const (
	OutcomeOK          = "ok"
	OutcomeError       = "error"       // the plugin returned an error
	OutcomeTimeout     = "timeout"     // the call ran out of its time
	OutcomePanic       = "panic"       // the plugin panicked (INTERNAL)
	OutcomeTooLarge    = "too_large"   // a message exceeded the size cap
	OutcomeInvalid     = "invalid"     // the plugin's answer made no sense
	OutcomeUnavailable = "unavailable" // the process is gone or unreachable
	OutcomeCanceled    = "canceled"    // the host gave up (shutting down)
)

// classify names the outcome of a call from its error. The SDK's client
// returns gRPC status errors (wrapped) for everything that happened on the
// wire; an error without a status is the SDK failing to decode the plugin's
// answer.
func classify(err error) string {
	if err == nil {
		return OutcomeOK
	}
	var ce *callError
	if errors.As(err, &ce) {
		return ce.outcome
	}
	st, ok := status.FromError(err)
	if !ok {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return OutcomeTimeout
		case errors.Is(err, context.Canceled):
			return OutcomeCanceled
		}
		return OutcomeInvalid
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return OutcomeTimeout
	case codes.Canceled:
		return OutcomeCanceled
	case codes.Internal:
		return OutcomePanic
	case codes.ResourceExhausted:
		return OutcomeTooLarge
	case codes.Unavailable:
		return OutcomeUnavailable
	default:
		return OutcomeError
	}
}

// callError is a failed call with its outcome.
type callError struct {
	outcome string
	err     error
}

func (e *callError) Error() string { return e.outcome + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// errSkipped is the error of a call not made because another call of its
// batch timed out.
var errSkipped = errors.New("not called: another call of the batch timed out")

// gate is closed when a call of a batch times out.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

// closed is nil (never ready) for a nil gate.
func (g *gate) closed() <-chan struct{} {
	if g == nil {
		return nil
	}
	return g.ch
}

func (g *gate) close() {
	if g != nil {
		g.once.Do(func() { close(g.ch) })
	}
}

// notRunning is the error of a call to a plugin that has no process now.
type notRunning struct {
	name  string
	retry time.Time
}

func (e *notRunning) Error() string { return "plugin " + e.name + " is not running" }

// call runs f against the plugin's current process: at most Concurrency
// calls at once, each under the plugin's timeout, counted in the metrics and
// the plugin's record. projects are the projects of the events the call is
// about: the host API answers only about them while the call runs.
//
// Calls sharing a gate give up together: once one of them times out, those
// still waiting for their turn are not made (errSkipped). g may be nil.
func (p *plugin) call(ctx context.Context, method string, projects []string, g *gate, f func(context.Context, *sdk.Client) error) error {
	inst, retry := p.availability()
	if inst == nil {
		return &notRunning{name: p.spec.Name, retry: retry}
	}
	select {
	case p.sem <- struct{}{}:
	case <-g.closed():
		return errSkipped
	case <-ctx.Done():
		return &callError{outcome: OutcomeCanceled, err: ctx.Err()}
	}
	defer func() { <-p.sem }()
	leave := p.api.enter(projects)
	defer leave()

	cctx, cancel := context.WithTimeout(ctx, p.spec.Timeout)
	defer cancel()
	start := time.Now()
	err := f(cctx, inst.c)
	d := time.Since(start)
	out := classify(err)
	if out == OutcomeCanceled && ctx.Err() == nil && cctx.Err() == context.DeadlineExceeded {
		out = OutcomeTimeout
	}
	p.h.opts.Metrics.PluginCall(p.spec.Name, method, out, d)
	p.calls.Add(1)
	if err == nil {
		return nil
	}
	p.errs.Add(1)
	if out == OutcomeTimeout {
		g.close() // before the slot is given back
		err = fmt.Errorf("no answer within %s: %w", p.spec.Timeout, err)
	}
	p.setLastError(method, err)
	if out == OutcomeUnavailable {
		select { // let the supervisor look at the process now
		case inst.kick <- struct{}{}:
		default:
		}
	}
	return &callError{outcome: out, err: err}
}

// refuse records an answer of the plugin that the host could not use (a
// patch that does not validate, a candidate that is no lead): an error of
// the plugin, though the call itself succeeded (and counts in the metrics
// as such).
func (p *plugin) refuse(method string, err error) error {
	p.errs.Add(1)
	p.setLastError(method, err)
	return &callError{outcome: OutcomeInvalid, err: err}
}

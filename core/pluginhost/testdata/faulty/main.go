// Command faulty is a test plugin, an enricher and duplicate detector whose
// behaviour its configuration chooses: {"mode": "..."}.
//
//	ok           enrich sets attributes.faulty_seen; detect finds nothing
//	noop         enrich changes nothing (for benchmarks)
//	hang         every call blocks, whatever its deadline
//	slow         every call sleeps "sleep_ms" first
//	panic        every call panics (the SDK turns that into INTERNAL)
//	crash        the first call crashes the process (a panic in a goroutine)
//	huge         enrich answers a patch larger than the message cap
//	badpatch     enrich answers an invalid email
//	badcandidate detect answers leads that do not exist, or are the lead itself
//	probe        enrich asks the host about the project in "probe_project"
//	             and records the answer in attributes.probe
//
// It prints to stdout before serving, which must not disturb the handshake.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/leadhub/leadhub/sdk"
)

type config struct {
	Mode         string `json:"mode"`
	SleepMS      int    `json:"sleep_ms"`
	ProbeProject string `json:"probe_project"`
}

type faulty struct {
	sdk.Base
	cfg  config
	host sdk.HostAPI
}

func (*faulty) Describe() sdk.Description {
	return sdk.Description{Name: "faulty", Version: "0.1.0",
		Kinds:      []sdk.Kind{sdk.KindEnricher, sdk.KindDuplicateDetector},
		EventTypes: []string{sdk.EventLeadCreated, sdk.EventLeadUpdated}}
}

func (f *faulty) Configure(_ context.Context, raw []byte, host sdk.HostAPI) error {
	fmt.Println("faulty: configured") // stdout after Serve: go-plugin's stream
	f.host = host
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, &f.cfg)
}

// misbehave does what the modes common to every call say.
func (f *faulty) misbehave(ctx context.Context) {
	switch f.cfg.Mode {
	case "hang":
		select {} // ignores ctx on purpose
	case "slow":
		time.Sleep(time.Duration(f.cfg.SleepMS) * time.Millisecond)
	case "panic":
		panic("faulty: panic as configured")
	case "crash":
		done := make(chan struct{})
		go func() {
			defer close(done)
			panic("faulty: crash as configured")
		}()
		<-done
	}
}

func (f *faulty) Enrich(ctx context.Context, ev sdk.Event, lead sdk.Lead) (sdk.Patch, error) {
	f.misbehave(ctx)
	switch f.cfg.Mode {
	case "noop":
		return sdk.Patch{}, nil
	case "huge":
		return sdk.Patch{Attributes: map[string]any{"huge": strings.Repeat("x", sdk.MaxMessageSize+1)}}, nil
	case "badpatch":
		bad := "not an email"
		return sdk.Patch{Email: &bad}, nil
	case "probe":
		var answer string
		if _, err := f.host.FindLeadsByEmail(ctx, f.cfg.ProbeProject, lead.Email); err != nil {
			answer = "refused"
		} else {
			answer = "answered"
		}
		own, err := f.host.FindLeadsByEmail(ctx, ev.ProjectID, lead.Email)
		if err != nil {
			return sdk.Patch{}, err
		}
		return sdk.Patch{Attributes: map[string]any{"probe": answer, "same_email": len(own)}}, nil
	}
	if lead.Attributes["faulty_seen"] == true {
		return sdk.Patch{}, nil
	}
	return sdk.Patch{Attributes: map[string]any{"faulty_seen": true}}, nil
}

func (f *faulty) Detect(ctx context.Context, ev sdk.Event, lead sdk.Lead) ([]sdk.Candidate, error) {
	f.misbehave(ctx)
	if f.cfg.Mode == "badcandidate" {
		return []sdk.Candidate{
			{LeadID: "no-such-lead", Score: 0.5, Reason: "made up"},
			{LeadID: lead.ID, Score: 1, Reason: "itself"},
		}, nil
	}
	return nil, nil
}

func main() {
	fmt.Println("faulty: starting, pid", os.Getpid()) // before Serve: the SDK keeps it off the handshake
	sdk.Serve(&faulty{})
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/leadhub/leadhub/sdk"
	"github.com/leadhub/leadhub/sdk/sdktest"
)

func lead(id, project, email, status string) sdk.Lead {
	return sdk.Lead{ID: id, ProjectID: project, Email: email, Status: status}
}

func TestDetect(t *testing.T) {
	host := sdktest.NewHost(
		lead("self", "p1", "Ann.Lee+crm@gmail.com", sdk.StatusActive),
		lead("same", "p1", "ann.lee+CRM@GMAIL.com", sdk.StatusActive),
		lead("canon-dots", "p1", "annlee@gmail.com", sdk.StatusActive),
		lead("canon-googlemail", "p1", "a.n.n.l.e.e@googlemail.com", sdk.StatusActive),
		lead("canon-plus", "p1", "annlee+other@gmail.com", sdk.StatusActive),
		lead("deleted", "p1", "annlee@gmail.com", sdk.StatusDeleted),
		lead("merged", "p1", "ann.lee+crm@gmail.com", sdk.StatusMerged),
		lead("other-project", "p2", "ann.lee+crm@gmail.com", sdk.StatusActive),
		lead("other-person", "p1", "ann.leex@gmail.com", sdk.StatusActive),
		lead("company", "p1", "bob+sales@acme.io", sdk.StatusActive),
		lead("company-same", "p1", "bob@acme.io", sdk.StatusActive),
		lead("company-dots", "p1", "b.o.b@acme.io", sdk.StatusActive),
	)
	c := sdktest.Start(t, &dupemail{}, host)

	created := sdk.Event{ID: "e1", Type: sdk.EventLeadCreated, ProjectID: "p1", LeadID: "self"}
	emailChanged := sdk.Event{ID: "e2", Type: sdk.EventLeadUpdated, ProjectID: "p1", LeadID: "self",
		Changes: map[string]sdk.Change{"email": {From: json.RawMessage(`null`), To: json.RawMessage(`"x"`)}}}
	nameChanged := sdk.Event{ID: "e3", Type: sdk.EventLeadUpdated, ProjectID: "p1", LeadID: "self",
		Changes: map[string]sdk.Change{"fullname": {From: json.RawMessage(`"A"`), To: json.RawMessage(`"Ann"`)}}}

	self := lead("self", "p1", "Ann.Lee+crm@gmail.com", sdk.StatusActive)
	gmailWant := []sdk.Candidate{
		{LeadID: "same", Score: 1, Reason: "same email"},
		{LeadID: "canon-dots", Score: 0.9, Reason: "same canonical email"},
		{LeadID: "canon-googlemail", Score: 0.9, Reason: "same canonical email"},
		{LeadID: "canon-plus", Score: 0.9, Reason: "same canonical email"},
	}
	for _, tc := range []struct {
		name string
		ev   sdk.Event
		lead sdk.Lead
		want []sdk.Candidate
	}{
		{"created", created, self, gmailWant},
		{"email changed", emailChanged, self, gmailWant},
		{"other change", nameChanged, self, nil},
		{"no email", created, lead("self", "p1", "  ", sdk.StatusActive), nil},
		{"deleted lead", created, lead("self", "p1", "ann.lee@gmail.com", sdk.StatusDeleted), nil},
		{"company domain keeps dots", created, lead("company", "p1", "bob+sales@acme.io", sdk.StatusActive), []sdk.Candidate{
			{LeadID: "company-same", Score: 0.9, Reason: "same canonical email"},
		}},
		{"unique", created, lead("new", "p1", "nobody@example.org", sdk.StatusActive), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			got, err := c.Detect(ctx, tc.ev, tc.lead)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("candidates = %+v, want %+v", got, tc.want)
			}
		})
	}

	for _, call := range host.Calls() {
		if call.ProjectID != "p1" {
			t.Errorf("host call %+v left the event's project", call)
		}
		if call.Method == "FindLeadsByNormalizedEmail" && call.Arg != sdk.CanonicalEmail(call.Arg) {
			t.Errorf("normalized lookup with a non-canonical email %q", call.Arg)
		}
	}
}

func TestDetectHostFailure(t *testing.T) {
	host := sdktest.NewHost()
	host.FailWith(errors.New("store unavailable"))
	c := sdktest.Start(t, &dupemail{}, host)
	_, err := c.Detect(t.Context(), sdk.Event{ID: "e", Type: sdk.EventLeadCreated, ProjectID: "p1"}, lead("x", "p1", "a@b.io", sdk.StatusActive))
	if err == nil || !strings.Contains(err.Error(), "store unavailable") {
		t.Fatalf("detect = %v, want the host's error", err)
	}
}

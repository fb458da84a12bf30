package main

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/leadhub/leadhub/sdk"
	"github.com/leadhub/leadhub/sdk/sdktest"
)

func TestEnrich(t *testing.T) {
	c := sdktest.Start(t, emailnorm{}, nil)
	ev := sdk.Event{ID: "e1", Type: sdk.EventLeadCreated, ProjectID: "p1", LeadID: "l1"}

	for _, tc := range []struct {
		name    string
		email   string
		company string
		attrs   map[string]any
		want    sdk.Patch
	}{
		{
			name:  "company domain",
			email: " Ann@Acme-Corp.IO ",
			want:  sdk.Patch{Company: new("Acme Corp"), Attributes: map[string]any{"email_domain": "acme-corp.io"}},
		},
		{
			name:  "company subdomain",
			email: "ann@mail.globex.com",
			want:  sdk.Patch{Company: new("Globex"), Attributes: map[string]any{"email_domain": "mail.globex.com"}},
		},
		{
			name:  "two-label public suffix",
			email: "ann@initech_systems.co.uk",
			want:  sdk.Patch{Company: new("Initech Systems"), Attributes: map[string]any{"email_domain": "initech_systems.co.uk"}},
		},
		{
			name:    "company kept",
			email:   "ann@acme-corp.io",
			company: "ACME Corporation",
			want:    sdk.Patch{Attributes: map[string]any{"email_domain": "acme-corp.io"}},
		},
		{
			name:  "free mail",
			email: "ann.lee@GMail.com",
			want:  sdk.Patch{Attributes: map[string]any{"email_domain": "gmail.com", "email_free": true}},
		},
		{
			name:  "disposable",
			email: "x@yopmail.com",
			want:  sdk.Patch{Attributes: map[string]any{"email_domain": "yopmail.com", "email_disposable": true}},
		},
		{
			name:  "disposable subdomain",
			email: "x@eu.mailinator.com",
			want:  sdk.Patch{Attributes: map[string]any{"email_domain": "eu.mailinator.com", "email_disposable": true}},
		},
		{
			name:  "already enriched",
			email: "ann@gmail.com",
			attrs: map[string]any{"email_domain": "gmail.com", "email_free": true, "plan": "pro"},
			want:  sdk.Patch{},
		},
		{
			name:    "already enriched company",
			email:   "ann@acme-corp.io",
			company: "Acme Corp",
			attrs:   map[string]any{"email_domain": "acme-corp.io"},
			want:    sdk.Patch{},
		},
		{
			name:  "moved from free mail to a company",
			email: "ann@acme-corp.io",
			attrs: map[string]any{"email_domain": "gmail.com", "email_free": true},
			want:  sdk.Patch{Company: new("Acme Corp"), Attributes: map[string]any{"email_domain": "acme-corp.io", "email_free": nil}},
		},
		{
			name:  "email removed",
			email: "",
			attrs: map[string]any{"email_domain": "yopmail.com", "email_disposable": true, "plan": "pro"},
			want:  sdk.Patch{Attributes: map[string]any{"email_domain": nil, "email_disposable": nil}},
		},
		{
			name:  "no email",
			email: "",
			want:  sdk.Patch{},
		},
		{
			name:  "not an address",
			email: "ann at acme",
			want:  sdk.Patch{},
		},
		{
			name:  "ip address",
			email: "root@10.0.0.1",
			want:  sdk.Patch{Attributes: map[string]any{"email_domain": "10.0.0.1"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			lead := sdk.Lead{ID: "l1", ProjectID: "p1", Email: tc.email, Company: tc.company, Attributes: tc.attrs, Status: sdk.StatusActive}
			got, err := c.Enrich(ctx, ev, lead)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("patch = %s, want %s", show(got), show(tc.want))
			}
		})
	}
}

// show prints a patch readably, pointers followed.
func show(p sdk.Patch) string {
	b, _ := json.Marshal(p)
	return string(b)
}

func TestDescribe(t *testing.T) {
	d, err := sdktest.Start(t, emailnorm{}, nil).Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "emailnorm" || !d.Has(sdk.KindEnricher) || !d.Wants(sdk.EventLeadCreated) || !d.Wants(sdk.EventLeadUpdated) || d.Wants(sdk.EventLeadMerged) {
		t.Fatalf("description = %+v", d)
	}
}

func TestLists(t *testing.T) {
	if len(freeDomains) < 30 || len(disposableDomains) < 30 {
		t.Fatalf("lists hold %d free and %d disposable domains", len(freeDomains), len(disposableDomains))
	}
	for d := range freeDomains {
		if disposableDomains[d] {
			t.Errorf("%s is both free and disposable", d)
		}
	}
}

func TestCompanyName(t *testing.T) {
	for in, want := range map[string]string{
		"acme-corp.io":    "Acme Corp",
		"www.example.com": "Example",
		"acme.com.au":     "Acme",
		"com.au":          "Com",
		"localhost":       "",
		"192.168.1.1":     "",
		"straße-gmbh.de":  "Straße Gmbh",
		"a--b.io":         "A B",
	} {
		if got := companyName(in); got != want {
			t.Errorf("companyName(%q) = %q, want %q", in, got, want)
		}
	}
}

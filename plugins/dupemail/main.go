// Command dupemail is a Leadhub duplicate detector that finds leads sharing an
// email address with the lead of a lead.created or lead.updated event:
//
//   - the same address, compared case-insensitively: score 1.0, "same email";
//   - the same canonical address: score 0.9, "same canonical email".
//
// The canonical address is sdk.CanonicalEmail's: trimmed and lower-cased, the
// local part cut at its first "+", and for gmail.com (and googlemail.com,
// which becomes gmail.com) dots removed from the local part. The host stores
// the same canonical form beside every lead, so FindLeadsByNormalizedEmail
// compares like for like.
//
// The lead itself and leads that are not active are never candidates. An
// update that did not touch the email finds nothing new and is skipped. It
// takes no configuration.
package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/leadhub/leadhub/sdk"
)

const (
	scoreSameEmail      = 1.0
	scoreSameCanonical  = 0.9
	reasonSameEmail     = "same email"
	reasonSameCanonical = "same canonical email"
)

type dupemail struct {
	sdk.Base
	host sdk.HostAPI
}

func (*dupemail) Describe() sdk.Description {
	return sdk.Description{
		Name:       "dupemail",
		Version:    "1.0.0",
		Kinds:      []sdk.Kind{sdk.KindDuplicateDetector},
		EventTypes: []string{sdk.EventLeadCreated, sdk.EventLeadUpdated},
	}
}

func (d *dupemail) Configure(_ context.Context, _ []byte, host sdk.HostAPI) error {
	d.host = host
	return nil
}

func (d *dupemail) Detect(ctx context.Context, ev sdk.Event, lead sdk.Lead) ([]sdk.Candidate, error) {
	email := strings.TrimSpace(lead.Email)
	if email == "" || (lead.Status != "" && lead.Status != sdk.StatusActive) {
		return nil, nil
	}
	if ev.Type == sdk.EventLeadUpdated && len(ev.Changes) > 0 {
		if _, ok := ev.Changes["email"]; !ok {
			return nil, nil
		}
	}
	project := ev.ProjectID
	if project == "" {
		project = lead.ProjectID
	}

	var out []sdk.Candidate
	seen := map[string]bool{lead.ID: true}
	add := func(leads []sdk.Lead, score float64, reason string) {
		for _, l := range leads {
			if seen[l.ID] || l.Status != sdk.StatusActive {
				continue
			}
			seen[l.ID] = true
			out = append(out, sdk.Candidate{LeadID: l.ID, Score: score, Reason: reason})
		}
	}

	same, err := d.host.FindLeadsByEmail(ctx, project, email)
	if err != nil {
		return nil, fmt.Errorf("find leads by email: %w", err)
	}
	add(same, scoreSameEmail, reasonSameEmail)

	canonical, err := d.host.FindLeadsByNormalizedEmail(ctx, project, sdk.CanonicalEmail(email))
	if err != nil {
		return nil, fmt.Errorf("find leads by canonical email: %w", err)
	}
	add(canonical, scoreSameCanonical, reasonSameCanonical)
	return out, nil
}

func main() {
	sdk.Serve(&dupemail{})
}

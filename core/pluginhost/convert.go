package pluginhost

import (
	"encoding/json"
	"fmt"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/sdk"
)

// toSDKLead is a lead as plugins see it.
func toSDKLead(l *core.Lead) sdk.Lead {
	out := sdk.Lead{
		ID: l.ID, ProjectID: l.ProjectID, UserIDs: l.UserIDs,
		Fullname: l.Fullname, Lastname: l.Lastname, Email: l.Email, Phone: l.Phone, Company: l.Company,
		Attributes: l.Attributes, Tags: l.Tags, Status: l.Status, RequestsCount: l.RequestsCount,
		CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt, LastSeenAt: l.LastSeenAt,
	}
	if l.MergedInto != nil {
		out.MergedInto = *l.MergedInto
	}
	return out
}

func toSDKLeads(ls []core.Lead, err error) ([]sdk.Lead, error) {
	if err != nil {
		return nil, err
	}
	out := make([]sdk.Lead, len(ls))
	for i := range ls {
		out[i] = toSDKLead(&ls[i])
	}
	return out, nil
}

// toSDKEvent is an event as plugins see it.
func toSDKEvent(ev *core.Event) (sdk.Event, error) {
	out := sdk.Event{
		ID: ev.ID, Type: ev.Type, ProjectID: ev.ProjectID, LeadID: ev.LeadID, RequestID: ev.RequestID,
		Actor: ev.Actor, CreatedAt: ev.CreatedAt, Data: ev.Data,
	}
	if len(ev.Changes) > 0 {
		out.Changes = make(map[string]sdk.Change, len(ev.Changes))
		for k, c := range ev.Changes {
			from, err := json.Marshal(c.From)
			if err != nil {
				return sdk.Event{}, fmt.Errorf("encode change of %s: %w", k, err)
			}
			to, err := json.Marshal(c.To)
			if err != nil {
				return sdk.Event{}, fmt.Errorf("encode change of %s: %w", k, err)
			}
			out.Changes[k] = sdk.Change{From: from, To: to}
		}
	}
	return out, nil
}

// eventSize estimates the encoded size of an event in a batch.
func eventSize(ev *sdk.Event) int {
	n := 256 + len(ev.ID) + len(ev.Type) + len(ev.ProjectID) + len(ev.LeadID) + len(ev.RequestID) + len(ev.Actor) + len(ev.Data)
	for k, c := range ev.Changes {
		n += len(k) + len(c.From) + len(c.To) + 16
	}
	return n
}

// maxPatchAttributes caps the encoded attributes of one patch: an enricher
// adds facts, not documents.
const maxPatchAttributes = 64 << 10

// toLeadPatch turns an enricher's patch into a merge patch on lead, with the
// tags to add unioned into the lead's tags. It reports false when the patch
// changes nothing.
func toLeadPatch(p sdk.Patch, lead *core.Lead) (core.LeadPatch, bool, error) {
	if p.IsEmpty() {
		return core.LeadPatch{}, false, nil
	}
	out := core.LeadPatch{Fields: core.LeadFields{
		Fullname: p.Fullname, Lastname: p.Lastname, Email: p.Email, Phone: p.Phone, Company: p.Company,
	}}
	if len(p.Attributes) > 0 {
		b, err := json.Marshal(p.Attributes)
		if err != nil {
			return core.LeadPatch{}, false, fmt.Errorf("attributes patch: %w", err)
		}
		if len(b) > maxPatchAttributes {
			return core.LeadPatch{}, false, fmt.Errorf("attributes patch of %d bytes; at most %d", len(b), maxPatchAttributes)
		}
		out.Attributes = p.Attributes
	}
	if len(p.AddTags) > 0 {
		have := make(map[string]bool, len(lead.Tags))
		for _, t := range lead.Tags {
			have[t] = true
		}
		tags := append([]string(nil), lead.Tags...)
		for _, t := range p.AddTags {
			if !have[t] {
				have[t] = true
				tags = append(tags, t)
			}
		}
		if len(tags) > len(lead.Tags) {
			out.Tags = &tags
		}
	}
	return out, true, nil
}

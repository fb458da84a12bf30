package webhooks_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/webhooks"
)

func TestEnvelope(t *testing.T) {
	ev := core.Event{ID: "e1", ProjectID: "p1", Type: core.EventLeadUpdated, CreatedAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
		Changes: core.Changes{"email": {From: "", To: "a@example.com"}}, Data: json.RawMessage(`{"lead":{"id":"l1","email":"a@example.com"}}`)}
	b, err := webhooks.Envelope(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ProjectID string `json:"project_id"`
		CreatedAt string `json:"created_at"`
		Data      struct {
			Lead    map[string]any         `json:"lead"`
			Changes map[string]core.Change `json:"changes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	_ = json.Unmarshal(b, &top)
	if top["id"] != "e1" || top["type"] != "lead.updated" || got.ProjectID != "p1" || got.CreatedAt != "2026-05-01T10:00:00Z" {
		t.Errorf("envelope %s", b)
	}
	if got.Data.Lead["id"] != "l1" || got.Data.Changes["email"].To != "a@example.com" {
		t.Errorf("data %s", b)
	}
}

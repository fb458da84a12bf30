// Command slack is a Leadhub event sink that posts lead.created and
// lead.merged events to a Slack incoming webhook (or anything that takes the
// same {"text": "..."} body), one POST per event.
//
// Configuration: {"url": "https://hooks.slack.com/services/..."}.
//
// A POST that fails or is answered with anything but 2xx fails the whole
// batch, which the host then delivers again: events already posted from that
// batch are posted twice.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/leadhub/leadhub/sdk"
)

// postTimeout bounds one POST.
const postTimeout = 10 * time.Second

type config struct {
	URL string `json:"url"`
}

type slack struct {
	sdk.Base
	url    string
	client *http.Client
}

func (*slack) Describe() sdk.Description {
	return sdk.Description{
		Name:       "slack",
		Version:    "1.0.0",
		Kinds:      []sdk.Kind{sdk.KindEventSink},
		EventTypes: []string{sdk.EventLeadCreated, sdk.EventLeadMerged},
	}
}

func (s *slack) Configure(_ context.Context, raw []byte, _ sdk.HostAPI) error {
	var c config
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("parse config: %w", err)
		}
	}
	if c.URL == "" {
		return errors.New(`config needs "url", the webhook URL`)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// The URL is a secret: do not echo it.
		return errors.New(`config "url" is not an http(s) URL`)
	}
	s.url = c.URL
	s.client = &http.Client{Timeout: postTimeout}
	return nil
}

func (s *slack) Deliver(ctx context.Context, events []sdk.Event) error {
	for _, ev := range events {
		text, err := message(ev)
		if err != nil {
			return err
		}
		if text == "" {
			continue
		}
		if err := s.post(ctx, text); err != nil {
			return fmt.Errorf("post event %s: %w", ev.ID, err)
		}
	}
	return nil
}

func (s *slack) post(ctx context.Context, text string) error {
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, postTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("build request")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		// A *url.Error repeats the URL, which holds the webhook's secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s: %s", resp.Status, strings.TrimSpace(string(answer)))
	}
	return nil
}

// message returns the text posted for ev, or "" for events it does not post.
func message(ev sdk.Event) (string, error) {
	if ev.Type != sdk.EventLeadCreated && ev.Type != sdk.EventLeadMerged {
		return "", nil
	}
	data, err := ev.DecodeData()
	if err != nil {
		return "", err
	}
	lead := sdk.Lead{ID: ev.LeadID}
	if data.Lead != nil {
		lead = *data.Lead
	}
	if ev.Type == sdk.EventLeadCreated {
		return "New lead: " + describe(lead), nil
	}
	merged := "unknown leads"
	if len(data.MergedIDs) > 0 {
		merged = escape(strings.Join(data.MergedIDs, ", "))
	}
	return fmt.Sprintf("Leads merged into %s; merged: %s", describe(lead), merged), nil
}

// describe names a lead: "Ann Lee <ann@x.io> (id 42)", with what it has.
func describe(l sdk.Lead) string {
	name := strings.TrimSpace(l.Fullname)
	if last := strings.TrimSpace(l.Lastname); last != "" && !strings.HasSuffix(name, last) {
		name = strings.TrimSpace(name + " " + last)
	}
	var parts []string
	if name != "" {
		parts = append(parts, escape(name))
	}
	if email := strings.TrimSpace(l.Email); email != "" {
		parts = append(parts, escape("<"+email+">"))
	}
	if len(parts) == 0 {
		parts = append(parts, "a lead without name or email")
	}
	if l.ID != "" {
		parts = append(parts, "(id "+escape(l.ID)+")")
	}
	return strings.Join(parts, " ")
}

// escape escapes the characters Slack gives a meaning in text.
var escape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

func main() {
	sdk.Serve(&slack{})
}

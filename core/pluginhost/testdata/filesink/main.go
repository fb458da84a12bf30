// Command filesink is a test event sink: it appends every event it receives
// as one JSON line ({"id","type","lead_id","actor"}) to the file named by its
// configuration, {"path": "..."}, and syncs it before answering, so that what
// it acknowledged is on disk. It wants every event type.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"

	"github.com/leadhub/leadhub/sdk"
)

type filesink struct {
	sdk.Base
	mu sync.Mutex
	f  *os.File
}

func (*filesink) Describe() sdk.Description {
	return sdk.Description{Name: "filesink", Version: "0.1.0",
		Kinds: []sdk.Kind{sdk.KindEventSink}, EventTypes: []string{sdk.EventAll}}
}

func (s *filesink) Configure(_ context.Context, raw []byte, _ sdk.HostAPI) error {
	var c struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	if c.Path == "" {
		return errors.New(`config needs "path"`)
	}
	f, err := os.OpenFile(c.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.f = f
	return nil
}

func (s *filesink) Deliver(_ context.Context, events []sdk.Event) error {
	var buf []byte
	for _, ev := range events {
		line, err := json.Marshal(map[string]string{"id": ev.ID, "type": ev.Type, "lead_id": ev.LeadID, "actor": ev.Actor})
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(buf); err != nil {
		return err
	}
	return s.f.Sync()
}

func main() { sdk.Serve(&filesink{}) }

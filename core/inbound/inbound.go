package inbound

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/standardwebhooks"
)

// Store is what inbound channels need of the store. The services are the
// REST API's; the rest are the transaction and the look-ups that must see it.
type Store interface {
	// InboundChannel returns a channel by id alone, with its secret.
	InboundChannel(ctx context.Context, id string) (*core.Channel, error)
	// ApplyInbound records the delivery id and runs fn in one transaction;
	// dup is true, and fn not run, for an id seen before.
	ApplyInbound(ctx context.Context, channelID, deliveryID string, fn func(ctx context.Context) error) (dup bool, err error)
	// InboundLead is the lead holding a user id, or nil, as the open
	// transaction sees it.
	InboundLead(ctx context.Context, projectID, userID string) (*core.Lead, error)
	// InboundRequest is a request, or nil, as the open transaction sees it.
	InboundRequest(ctx context.Context, projectID, id string) (*core.Request, error)
	// AddUserID gives a lead another user id unless a lead holds it.
	AddUserID(ctx context.Context, projectID, leadID, userID, actor string) (bool, error)

	IngestRequest(ctx context.Context, projectID string, in core.Ingest) (*core.IngestResult, error)
	UpdateRequest(ctx context.Context, projectID, id string, p core.RequestPatch, actor string) (*core.Request, error)
	AddMessage(ctx context.Context, projectID, requestID string, m core.Message) (*core.Request, error)
	CreateLead(ctx context.Context, projectID string, in core.NewLead, actor string) (*core.Lead, error)
	UpdateLead(ctx context.Context, projectID, id string, p core.LeadPatch, actor string) (*core.Lead, error)
}

// Results of a delivery, as counted by the Observer.
const (
	ResultOK           = "ok"
	ResultIgnored      = "ignored" // verified and read, but an event Leadhub does not act on
	ResultDuplicate    = "duplicate"
	ResultBadSignature = "bad_signature"
	ResultStale        = "stale"
	ResultTooLarge     = "too_large"
	ResultUnreadable   = "unreadable"
	ResultError        = "error"
	ResultNoChannel    = "unknown_channel"
)

// Observer receives inbound figures; *metrics.Metrics implements it. kind is
// a channel kind ("none" for an unknown channel), result one of the Result
// constants.
type Observer interface {
	InboundReceived(kind, result string)
}

type nopObserver struct{}

func (nopObserver) InboundReceived(string, string) {}

// Options configure a Service.
type Options struct {
	Clock func() time.Time
	// Tolerance is how far a signed timestamp may be from now (default 5m).
	Tolerance time.Duration
	Logger    *slog.Logger
	Observer  Observer
}

// Service implements core.InboundService.
type Service struct {
	store    Store
	clock    func() time.Time
	tol      time.Duration
	log      *slog.Logger
	obs      Observer
	unsigned sync.Map // channel id → time of the last warning
}

// New builds the inbound service.
func New(store Store, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Tolerance <= 0 {
		opts.Tolerance = standardwebhooks.DefaultTolerance
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	return &Service{store: store, clock: opts.Clock, tol: opts.Tolerance, log: opts.Logger.With("component", "inbound"), obs: opts.Observer}
}

// Parse reads a body of a channel kind into a plan.
func Parse(kind string, body []byte) (*Plan, error) {
	switch kind {
	case core.ChannelChatwoot:
		return ParseChatwoot(body)
	case core.ChannelTiledesk:
		return ParseTiledesk(body)
	case core.ChannelGeneric:
		return ParseGeneric(body)
	}
	return nil, core.Errorf(core.EINTERNAL, "unknown channel kind %q", kind)
}

// bodyID is the delivery id of senders that give none: a hash of the body,
// identical on the sender's retries.
func bodyID(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// deliveryID is the sender's id for this delivery, the same on its retries.
func deliveryID(kind string, h http.Header, body []byte) string {
	var id string
	switch kind {
	case core.ChannelChatwoot:
		id = strings.TrimSpace(h.Get(chatwootDelivery))
	case core.ChannelGeneric:
		id = strings.TrimSpace(h.Get(standardwebhooks.HeaderID))
	}
	if id == "" || len(id) > 200 {
		return bodyID(body)
	}
	return id
}

// verify checks a delivery's signature over the raw body; it returns a
// Result constant on refusal, "" when the delivery is authentic.
func (s *Service) verify(ch *core.Channel, h http.Header, body []byte) string {
	now := s.clock()
	switch ch.Kind {
	case core.ChannelChatwoot:
		unsigned, res := checkChatwoot(ch.Secret, ch.AllowUnsigned, h, body, now, s.tol)
		if unsigned {
			s.warnUnsigned(ch, now)
		}
		return res
	case core.ChannelTiledesk:
		return checkTiledesk(ch.Secret, h)
	case core.ChannelGeneric:
		key, err := standardwebhooks.ParseSecret(ch.Secret)
		if err != nil {
			return ResultBadSignature
		}
		err = standardwebhooks.Verify([][]byte{key}, h.Get(standardwebhooks.HeaderID), h.Get(standardwebhooks.HeaderTimestamp), h.Get(standardwebhooks.HeaderSignature), body, now, s.tol)
		switch {
		case errors.Is(err, standardwebhooks.ErrStale):
			return ResultStale
		case err != nil:
			return ResultBadSignature
		}
		return ""
	}
	return ResultBadSignature
}

// warnUnsigned logs, at most hourly per channel, that a channel took an
// unsigned delivery.
func (s *Service) warnUnsigned(ch *core.Channel, now time.Time) {
	if last, ok := s.unsigned.Load(ch.ID); ok && now.Sub(last.(time.Time)) < time.Hour {
		return
	}
	s.unsigned.Store(ch.ID, now)
	s.log.Warn("channel accepted an unsigned delivery (allow_unsigned is set): give the Chatwoot webhook a secret and clear allow_unsigned",
		"channel_id", ch.ID, "kind", ch.Kind)
}

// Receive implements core.InboundService.
func (s *Service) Receive(ctx context.Context, d core.InboundDelivery) (bool, error) {
	ch, err := s.store.InboundChannel(ctx, d.ChannelID)
	if err != nil {
		if core.ErrorCode(err) == core.ENOTFOUND {
			s.obs.InboundReceived("none", ResultNoChannel)
		}
		return false, err
	}
	h := http.Header(d.Header)
	if res := s.verify(ch, h, d.Body); res != "" {
		s.obs.InboundReceived(ch.Kind, res)
		s.log.Info("inbound delivery refused", "channel_id", ch.ID, "kind", ch.Kind, "result", res)
		if res == ResultStale {
			return false, core.Errorf(core.EUNAUTHORIZED, "timestamp too far from now")
		}
		return false, core.Errorf(core.EUNAUTHORIZED, "bad signature")
	}
	plan, err := Parse(ch.Kind, d.Body)
	if err != nil {
		s.obs.InboundReceived(ch.Kind, ResultUnreadable)
		return false, err
	}
	if plan.Empty() {
		s.obs.InboundReceived(ch.Kind, ResultIgnored)
		return false, nil
	}
	dup, err := s.store.ApplyInbound(ctx, ch.ID, deliveryID(ch.Kind, h, d.Body), func(ctx context.Context) error {
		return s.apply(ctx, ch, plan)
	})
	switch {
	case err != nil && core.ErrorCode(err) == core.EINVALID:
		s.obs.InboundReceived(ch.Kind, ResultUnreadable)
		return false, err
	case err != nil:
		s.obs.InboundReceived(ch.Kind, ResultError)
		s.log.Error("inbound delivery failed", "channel_id", ch.ID, "kind", ch.Kind, "event", plan.Event, "err", err)
		return false, err
	case dup:
		s.obs.InboundReceived(ch.Kind, ResultDuplicate)
	default:
		s.obs.InboundReceived(ch.Kind, ResultOK)
	}
	return dup, nil
}

// TooLarge counts a delivery refused for its size before it reached the
// channel (the HTTP layer caps bodies).
func (s *Service) TooLarge(ctx context.Context, channelID string) {
	kind := "none"
	if ch, err := s.store.InboundChannel(ctx, channelID); err == nil {
		kind = ch.Kind
	}
	s.obs.InboundReceived(kind, ResultTooLarge)
}

// apply carries out a plan inside ApplyInbound's transaction.
func (s *Service) apply(ctx context.Context, ch *core.Channel, p *Plan) error {
	actor := core.ChannelActor(ch.ID)
	pid := ch.ProjectID
	if p.Lead != nil {
		if err := s.applyLead(ctx, pid, actor, p.Lead); err != nil {
			return err
		}
	}
	if r := p.Request; r != nil {
		// A request that exists is left as it is (ingest would change
		// nothing): most deliveries are about a conversation already known.
		var existing *core.Request
		var err error
		if r.ID != "" {
			if existing, err = s.store.InboundRequest(ctx, pid, r.ID); err != nil {
				return err
			}
		}
		if existing == nil {
			if err := s.ingest(ctx, pid, actor, r); err != nil {
				return err
			}
		}
	}
	if m := p.Message; m != nil {
		count := true
		if m.VisitorOnly {
			req, err := s.store.InboundRequest(ctx, pid, m.RequestID)
			if err != nil {
				return err
			}
			count = req != nil && req.UserID == m.Sender
		}
		if count {
			_, err := s.store.AddMessage(ctx, pid, m.RequestID, core.Message{Sender: m.Sender, Text: m.Text, Actor: actor})
			if err := missing(err, m.Optional, m.RequestID); err != nil {
				return err
			}
		}
	}
	if st := p.Status; st != nil {
		_, err := s.store.UpdateRequest(ctx, pid, st.RequestID, core.RequestPatch{Status: st.Status, Attributes: st.Attributes}, actor)
		if err := missing(err, st.Optional, st.RequestID); err != nil {
			return err
		}
	}
	return nil
}

// ingest creates a request as POST /requests does. ECONFLICT (the request
// exists under another user id: the sender merged two contacts) leaves it
// where it is.
func (s *Service) ingest(ctx context.Context, pid, actor string, r *RequestOp) error {
	_, err := s.store.IngestRequest(ctx, pid, core.Ingest{ID: r.ID, UserID: r.UserID, Channel: r.Channel, FirstText: r.FirstText,
		Attributes: r.Attributes, Lead: r.Lead, LeadAttributes: r.LeadAttributes, Actor: actor})
	if err != nil && core.ErrorCode(err) != core.ECONFLICT {
		return err
	}
	return nil
}

// missing turns a request that does not exist into nothing (optional) or a
// refusal of the delivery.
func missing(err error, optional bool, id string) error {
	if core.ErrorCode(err) != core.ENOTFOUND {
		return err
	}
	if optional {
		return nil
	}
	return core.Invalid(map[string]string{"data.request_id": "no request " + id})
}

// applyLead finds, creates or updates the lead of a LeadOp and gives it the
// op's user ids.
func (s *Service) applyLead(ctx context.Context, pid, actor string, op *LeadOp) error {
	ids := append([]string{op.UserID}, op.Also...)
	var lead *core.Lead
	held := map[string]bool{}
	for _, uid := range ids {
		l, err := s.store.InboundLead(ctx, pid, uid)
		if err != nil {
			return err
		}
		if l == nil {
			continue
		}
		held[uid] = true
		if lead == nil {
			lead = l
		}
	}
	switch {
	case lead == nil && !op.Create:
		return nil
	case lead == nil:
		l, err := s.store.CreateLead(ctx, pid, core.NewLead{UserID: op.UserID, Fields: op.Fields, Attributes: op.Attributes,
			Tags: derefTags(op.Tags)}, actor)
		if core.ErrorCode(err) == core.ECONFLICT {
			// Another delivery of the same person, in a transaction that
			// committed since the look-up (PostgreSQL): update that lead.
			if other, lerr := s.store.InboundLead(ctx, pid, op.UserID); lerr == nil && other != nil {
				held[op.UserID] = true
				return s.updateLead(ctx, pid, actor, op, other, ids, held)
			}
		}
		if err != nil {
			return err
		}
		lead = l
		held[op.UserID] = true
	case op.UpdateExisting:
		return s.updateLead(ctx, pid, actor, op, lead, ids, held)
	}
	return s.addUserIDs(ctx, pid, actor, lead, ids, held)
}

// updateLead applies a LeadOp's fields to a lead that exists.
func (s *Service) updateLead(ctx context.Context, pid, actor string, op *LeadOp, lead *core.Lead, ids []string, held map[string]bool) error {
	if op.UpdateExisting && changes(lead, op) {
		if _, err := s.store.UpdateLead(ctx, pid, lead.ID, core.LeadPatch{Fields: op.Fields, Attributes: op.Attributes, Tags: op.Tags}, actor); err != nil {
			return err
		}
	}
	return s.addUserIDs(ctx, pid, actor, lead, ids, held)
}

// addUserIDs gives the lead the op's user ids that no lead holds.
func (s *Service) addUserIDs(ctx context.Context, pid, actor string, lead *core.Lead, ids []string, held map[string]bool) error {
	for _, uid := range ids {
		if held[uid] {
			continue
		}
		if _, err := s.store.AddUserID(ctx, pid, lead.ID, uid, actor); err != nil && core.ErrorCode(err) != core.EINVALID {
			return err
		}
	}
	return nil
}

// changes reports whether op would change lead: most deliveries of a chat
// platform repeat what the lead already says, and need no write.
func changes(lead *core.Lead, op *LeadOp) bool {
	f := op.Fields
	for _, c := range []struct {
		v   *string
		cur string
	}{{f.Fullname, lead.Fullname}, {f.Lastname, lead.Lastname}, {f.Email, lead.Email}, {f.Phone, lead.Phone}, {f.Company, lead.Company}} {
		if c.v != nil && strings.TrimSpace(*c.v) != c.cur {
			return true
		}
	}
	for k, v := range op.Attributes {
		cur, had := lead.Attributes[k]
		if !had || !sameJSON(cur, v) {
			return true
		}
	}
	return op.Tags != nil && !slices.Equal(*op.Tags, lead.Tags)
}

// sameJSON compares two values as JSON (numbers decoded as json.Number on
// one side and float64 on the other compare equal).
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func derefTags(t *[]string) []string {
	if t == nil {
		return nil
	}
	return *t
}

package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// Channel limits.
const (
	maxChannelNameLen   = 128
	maxChannelSecretLen = 256
	minChannelSecretLen = 8
	maxDeliveryIDLen    = 256
)

type channelRow struct {
	bun.BaseModel `bun:"table:channels"`
	Seq           int64  `bun:"seq,pk,autoincrement"`
	ID            string `bun:"id"`
	ProjectID     string `bun:"project_id"`
	Kind          string `bun:"kind"`
	Name          string `bun:"name"`
	Secret        string `bun:"secret"`
	AllowUnsigned bool   `bun:"allow_unsigned"`
	CreatedAt     dbTime `bun:"created_at"`
}

// unsignedWarning is what a channel that accepts unsigned deliveries says
// about itself.
const unsignedWarning = "accepts unsigned deliveries: anyone who learns the inbound URL can post to it"

// domain is the channel as the API shows it: without its secret.
func (r *channelRow) domain() core.Channel {
	c := core.Channel{ID: r.ID, ProjectID: r.ProjectID, Kind: r.Kind, Name: r.Name, AllowUnsigned: r.AllowUnsigned,
		CreatedAt: r.CreatedAt.Time}
	if r.AllowUnsigned {
		c.Warnings = []string{unsignedWarning}
	}
	return c
}

type inboundRow struct {
	bun.BaseModel `bun:"table:inbound_deliveries"`
	Seq           int64  `bun:"seq,pk,autoincrement"`
	ChannelID     string `bun:"channel_id"`
	DeliveryID    string `bun:"delivery_id"`
	ReceivedAt    dbTime `bun:"received_at"`
}

var channelKinds = []string{core.ChannelTiledesk, core.ChannelChatwoot, core.ChannelGeneric}

// newChannelSecret is a generated secret: a Standard Webhooks secret for
// generic channels, 32 random bytes in URL-safe base64 for the others.
func newChannelSecret(kind string) string {
	if kind == core.ChannelGeneric {
		return core.NewWebhookSecret()
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func validateChannel(in *core.ChannelInput) error {
	errs := map[string]string{}
	in.Name = strings.TrimSpace(in.Name)
	if !slices.Contains(channelKinds, in.Kind) {
		errs["kind"] = "must be one of " + strings.Join(channelKinds, ", ")
	}
	if in.Name == "" || len(in.Name) > maxChannelNameLen || !utf8.ValidString(in.Name) {
		errs["name"] = "1 to 128 characters"
	}
	if in.Secret != "" {
		switch {
		case in.Kind == core.ChannelGeneric:
			raw, ok := strings.CutPrefix(in.Secret, "whsec_")
			key, err := base64.StdEncoding.DecodeString(raw)
			if !ok || err != nil || len(key) < 16 || len(key) > 64 {
				errs["secret"] = "a Standard Webhooks secret: whsec_ and the base64 of 16 to 64 bytes (leave it out to have one generated)"
			}
		case len(in.Secret) < minChannelSecretLen || len(in.Secret) > maxChannelSecretLen ||
			strings.IndexFunc(in.Secret, unicode.IsControl) >= 0 || !utf8.ValidString(in.Secret):
			errs["secret"] = "8 to 256 printable characters"
		}
	}
	if in.AllowUnsigned && in.Kind != core.ChannelChatwoot {
		errs["allow_unsigned"] = "only chatwoot channels may accept unsigned deliveries"
	}
	if len(errs) > 0 {
		return core.Invalid(errs)
	}
	return nil
}

// CreateChannel implements core.ChannelService. The secret is returned this
// once.
func (s *Store) CreateChannel(ctx context.Context, projectID string, in core.ChannelInput) (*core.Channel, error) {
	if err := validateChannel(&in); err != nil {
		return nil, err
	}
	if in.Secret == "" {
		in.Secret = newChannelSecret(in.Kind)
	}
	var out core.Channel
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		if err := s.projectExists(ctx, tx, projectID); err != nil {
			return err
		}
		row := &channelRow{ID: s.newID(), ProjectID: projectID, Kind: in.Kind, Name: in.Name, Secret: in.Secret,
			AllowUnsigned: in.AllowUnsigned, CreatedAt: tm(s.now())}
		if _, err := tx.NewInsert().Model(row).Returning("seq").Exec(ctx); err != nil {
			return fmt.Errorf("insert channel: %w", err)
		}
		out = row.domain()
		out.Secret = row.Secret
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Channels implements core.ChannelService: in creation order.
func (s *Store) Channels(ctx context.Context, projectID string) ([]core.Channel, error) {
	var rows []channelRow
	if err := s.rdb.NewSelect().Model(&rows).Where("project_id = ?", projectID).OrderExpr("seq").Scan(ctx); err != nil {
		return nil, fmt.Errorf("select channels: %w", err)
	}
	out := make([]core.Channel, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out, nil
}

func (s *Store) channelRow(ctx context.Context, db bun.IDB, projectID, id string) (*channelRow, error) {
	row := new(channelRow)
	q := db.NewSelect().Model(row).Where("id = ?", id)
	if projectID != "" {
		q = q.Where("project_id = ?", projectID)
	}
	err := q.Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.NotFound("channel")
	}
	if err != nil {
		return nil, fmt.Errorf("select channel: %w", err)
	}
	return row, nil
}

// Channel implements core.ChannelService.
func (s *Store) Channel(ctx context.Context, projectID, id string) (*core.Channel, error) {
	row, err := s.channelRow(ctx, s.rdb, projectID, id)
	if err != nil {
		return nil, err
	}
	c := row.domain()
	return &c, nil
}

// DeleteChannel implements core.ChannelService. Its inbound URL answers 404
// from then on.
func (s *Store) DeleteChannel(ctx context.Context, projectID, id string) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		row, err := s.channelRow(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*inboundRow)(nil)).Where("channel_id = ?", row.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete channel: %w", err)
		}
		if _, err := tx.NewDelete().Model(row).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("delete channel: %w", err)
		}
		return nil
	})
}

// InboundChannel returns a channel by its id alone, with its secret: the
// inbound URL names no project. ENOTFOUND.
func (s *Store) InboundChannel(ctx context.Context, id string) (*core.Channel, error) {
	if id == "" || len(id) > 64 {
		return nil, core.NotFound("channel")
	}
	row := new(channelRow)
	ok, err := s.scanOne(ctx, s.rdb, sqlInboundChannel, row, id)
	if !ok { // PostgreSQL
		if row, err = s.channelRow(ctx, s.rdb, "", id); err != nil {
			return nil, err
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.NotFound("channel")
	}
	if err != nil {
		return nil, fmt.Errorf("select channel: %w", err)
	}
	c := row.domain()
	c.Secret = row.Secret
	return &c, nil
}

// sqlInboundChannel looks a channel up on every inbound delivery: prepared
// on SQLite.
const sqlInboundChannel = "SELECT seq, id, project_id, kind, name, secret, allow_unsigned, created_at FROM channels WHERE id = ?"

// ApplyInbound records a channel's delivery id and runs fn, in one
// transaction: fn's service calls made with the context it is given join it
// (see InTx). A delivery id recorded before makes it a duplicate: fn does not
// run and dup is true. An error from fn rolls everything back, the delivery
// id included, so the sender's retry is applied afresh.
func (s *Store) ApplyInbound(ctx context.Context, channelID, deliveryID string, fn func(ctx context.Context) error) (dup bool, err error) {
	if deliveryID == "" || len(deliveryID) > maxDeliveryIDLen {
		return false, core.Errorf(core.EINVALID, "delivery id: 1 to %d characters", maxDeliveryIDLen)
	}
	err = s.InTx(ctx, func(ctx context.Context) error {
		dup = false
		tx := txFrom(ctx)
		res, err := s.recordDelivery(ctx, tx, channelID, deliveryID)
		if err != nil {
			return fmt.Errorf("record delivery: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("record delivery: %w", err)
		} else if n == 0 {
			dup = true
			return nil
		}
		return fn(ctx)
	})
	return dup, err
}

const sqlRecordDelivery = "INSERT INTO inbound_deliveries (channel_id, delivery_id, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"

// recordDelivery inserts a delivery id unless it is there; prepared once seen
// on SQLite.
func (s *Store) recordDelivery(ctx context.Context, tx *wtx, channelID, deliveryID string) (sql.Result, error) {
	at := tm(s.now())
	st, ok, err := s.stmt(ctx, tx, sqlRecordDelivery)
	if err != nil {
		return nil, err
	}
	if ok {
		return st.ExecContext(ctx, channelID, deliveryID, at)
	}
	return tx.ExecContext(ctx, sqlRecordDelivery, channelID, deliveryID, at)
}

// reader is the open InTx transaction when there is one, so that reads see
// what it wrote; otherwise the read pool.
func (s *Store) reader(ctx context.Context) bun.IDB {
	if tx := txFrom(ctx); tx != nil {
		return tx // the *wtx, so that the store's prepared statements serve it
	}
	return s.rdb
}

// InboundLead returns the lead holding a user id in the project (after a
// merge, the survivor), or nil. Inside InTx it reads the open transaction.
func (s *Store) InboundLead(ctx context.Context, projectID, userID string) (*core.Lead, error) {
	row, err := s.leadByUserID(ctx, s.reader(ctx), projectID, userID)
	if err != nil || row == nil {
		return nil, err
	}
	l := row.domain()
	return &l, nil
}

// InboundRequest returns a request of the project, or nil. Inside InTx it
// reads the open transaction.
func (s *Store) InboundRequest(ctx context.Context, projectID, id string) (*core.Request, error) {
	row, err := s.requestRow(ctx, s.reader(ctx), projectID, id)
	if core.ErrorCode(err) == core.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := row.domain()
	return &r, nil
}

// AddUserID gives a lead one more user id, so that later requests from it
// land there, and writes lead.updated. It returns false, changing nothing,
// when the user id already belongs to a lead (this one or another).
// ENOTFOUND, ECONFLICT on a merged lead, EINVALID for a bad user id.
func (s *Store) AddUserID(ctx context.Context, projectID, leadID, userID, actor string) (bool, error) {
	errs := map[string]string{}
	core.ValidateUserID(userID, errs)
	if len(errs) > 0 {
		return false, core.Invalid(errs)
	}
	added := false
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		added = false
		holder, err := s.leadByUserID(ctx, tx, projectID, userID)
		if err != nil || holder != nil {
			return err
		}
		row, err := s.leadRow(ctx, tx, projectID, leadID)
		if err != nil {
			return err
		}
		if row.Status == core.LeadMerged {
			return core.Errorf(core.ECONFLICT, "lead %s was merged into %s", leadID, deref(row.MergedInto))
		}
		now := s.now()
		if _, err := tx.NewInsert().Model(&userIDRow{ProjectID: projectID, UserID: userID, LeadID: leadID, CreatedAt: tm(now)}).Exec(ctx); err != nil {
			return fmt.Errorf("insert user id: %w", err)
		}
		l := row.domain()
		before := slices.Clone(l.UserIDs)
		l.UserIDs = append(l.UserIDs, userID)
		l.UpdatedAt = now
		ch := core.Changes{"user_ids": {From: before, To: l.UserIDs}}
		if err := s.saveLead(ctx, tx, row, &l, ch); err != nil {
			return err
		}
		added = true
		return s.emit(ctx, tx, s.leadEvent(&l, core.EventLeadUpdated, actor, ch, nil))
	})
	return added, err
}

// PruneInbound forgets delivery ids received before t: a sender retrying
// after that would be applied again.
func (s *Store) PruneInbound(ctx context.Context, before time.Time) (int64, error) {
	return s.pruneOldest(ctx, "inbound_deliveries", "received_at", before)
}

package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/leadhub/leadhub/core"
)

// The suggestion identify makes when it may not merge.
const (
	identifyDetector = "identify"
	identifyReason   = "same browser as a verified user id"
)

// verifyUserHash reports, in constant time, whether hash is the hex
// HMAC-SHA256 of userID under the project's identity secret.
func verifyUserHash(secret, userID, hash string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(userID))
	want := mac.Sum(nil)
	got, err := hex.DecodeString(strings.TrimSpace(hash))
	if err != nil || len(got) != len(want) {
		return false
	}
	return hmac.Equal(want, got)
}

// Identify implements core.MergeService. A user id proven by its hash gets
// its lead (created when missing, with the lead fields) and is recorded as
// verified. The lead of the anonymous id the same browser used is then merged
// into it when the project's auto_merge is "verified", or linked to it by a
// duplicate suggestion otherwise. A lead that holds a verified user id of its
// own is never merged automatically: it is suggested instead. A wrong hash
// changes nothing.
func (s *Store) Identify(ctx context.Context, projectID string, in core.Identify) (*core.Lead, error) {
	errs := map[string]string{}
	core.ValidateUserID(in.UserID, errs)
	if strings.TrimSpace(in.UserHash) == "" {
		errs["user_hash"] = "required: hex HMAC-SHA256 of user_id with the project's identity secret"
	}
	if len(errs) > 0 {
		return nil, core.Invalid(errs)
	}
	secret, err := s.IdentitySecret(ctx, projectID)
	if err != nil {
		return nil, err
	}
	if secret == "" || !verifyUserHash(secret, in.UserID, in.UserHash) {
		return nil, core.Errorf(core.EUNAUTHORIZED, "user_hash does not match user_id")
	}
	if in.AnonymousID != "" {
		anon := map[string]string{}
		core.ValidateUserID(in.AnonymousID, anon)
		if m := anon["user_id"]; m != "" {
			errs["anonymous_id"] = m
		}
	}
	core.ValidateFields(in.Lead, errs)
	if len(errs) > 0 {
		return nil, core.Invalid(errs)
	}
	var out core.Lead
	err = s.write(ctx, func(ctx context.Context, tx *wtx) error {
		project := new(projectRow)
		if err := tx.NewSelect().Model(project).Where("id = ?", projectID).Scan(ctx); errors.Is(err, sql.ErrNoRows) {
			return core.NotFound("project")
		} else if err != nil {
			return fmt.Errorf("select project: %w", err)
		}
		user, err := s.identifiedLead(ctx, tx, projectID, in)
		if err != nil {
			return err
		}
		if in.AnonymousID != "" && in.AnonymousID != in.UserID && user.Status == core.LeadActive {
			if err := s.claimAnonymous(ctx, tx, projectID, user, in, project.Settings.AutoMerge); err != nil {
				return err
			}
		}
		row, err := s.leadRow(ctx, tx, projectID, user.ID)
		if err != nil {
			return err
		}
		out = row.domain()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// identifiedLead finds or creates the lead of a verified user id, applies the
// lead fields sent with it (empty values ignored, as on ingest) and marks the
// user id verified.
func (s *Store) identifiedLead(ctx context.Context, tx *wtx, projectID string, in core.Identify) (*core.Lead, error) {
	now := s.now()
	row, err := s.leadForWrite(ctx, tx, projectID, in.UserID)
	if err != nil {
		return nil, err
	}
	var l core.Lead
	var evs []core.Event
	if row == nil {
		l = core.Lead{ID: s.newID(), ProjectID: projectID, UserIDs: []string{in.UserID}, Status: core.LeadActive,
			Tags: []string{}, CreatedAt: now, UpdatedAt: now, LastSeenAt: now}
		core.ApplyFields(&l, in.Lead, true, core.Changes{})
		l.Attributes = core.MergeAttributes(nil, in.LeadAttributes, nil)
		if err := s.insertLead(ctx, tx, &l); err != nil {
			return nil, err
		}
		evs = append(evs, s.leadEvent(&l, core.EventLeadCreated, in.Actor, nil, nil))
	} else {
		l = row.domain()
		l.Attributes = cloneJSON(l.Attributes).(map[string]any)
		ch := core.Changes{}
		core.ApplyFields(&l, in.Lead, true, ch)
		if in.LeadAttributes != nil {
			l.Attributes = core.MergeAttributes(l.Attributes, in.LeadAttributes, ch)
		}
		if len(ch) > 0 {
			l.UpdatedAt = now
			if err := s.saveLead(ctx, tx, row, &l, ch); err != nil {
				return nil, err
			}
			evs = append(evs, s.leadEvent(&l, core.EventLeadUpdated, in.Actor, ch, nil))
		}
	}
	if _, err := tx.NewUpdate().Model((*userIDRow)(nil)).Set("verified = ?", true).
		Where("project_id = ? AND user_id = ?", projectID, in.UserID).Exec(ctx); err != nil {
		return nil, fmt.Errorf("mark user id verified: %w", err)
	}
	if err := s.emit(ctx, tx, evs...); err != nil {
		return nil, err
	}
	return &l, nil
}

// claimAnonymous merges the anonymous id's lead into the user's lead, or
// suggests the pair when the project does not auto-merge or that lead carries
// a verified identity of its own.
func (s *Store) claimAnonymous(ctx context.Context, tx *wtx, projectID string, user *core.Lead, in core.Identify, autoMerge string) error {
	anon, err := s.leadForWrite(ctx, tx, projectID, in.AnonymousID)
	if err != nil {
		return err
	}
	if anon == nil || anon.ID == user.ID || anon.Status != core.LeadActive {
		return nil
	}
	verified, err := tx.NewSelect().Model((*userIDRow)(nil)).
		Where("project_id = ? AND lead_id = ? AND verified = ?", projectID, anon.ID, true).Exists(ctx)
	if err != nil {
		return fmt.Errorf("select verified user ids: %w", err)
	}
	if autoMerge == core.AutoMergeVerified && !verified {
		_, err := s.mergeTx(ctx, tx, projectID, user.ID, []string{anon.ID}, in.Actor)
		return err
	}
	_, _, err = s.suggestTx(ctx, tx, projectID, core.Suggestion{LeadID: user.ID, CandidateID: anon.ID,
		Score: 1, Reason: identifyReason, Detector: identifyDetector}, in.Actor)
	return err
}

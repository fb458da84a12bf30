package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// Webhook limits.
const (
	maxWebhookURLLen     = 2048
	maxWebhookDescLen    = 512
	maxWebhooksPerProj   = 100
	maxDeliveryBodyBytes = 4096
	maxDeliveryErrorLen  = 1024
	secretGrace          = 24 * time.Hour
)

type webhookRow struct {
	bun.BaseModel       `bun:"table:webhooks"`
	Seq                 int64    `bun:"seq,pk,autoincrement"`
	ID                  string   `bun:"id"`
	ProjectID           string   `bun:"project_id"`
	URL                 string   `bun:"url"`
	Events              []string `bun:"events,type:json"`
	Description         string   `bun:"description"`
	Enabled             bool     `bun:"enabled"`
	DisabledReason      string   `bun:"disabled_reason"`
	Secret              string   `bun:"secret"`
	PreviousSecret      string   `bun:"previous_secret"`
	PreviousSecretUntil *dbTime  `bun:"previous_secret_until"`
	CreatedAt           dbTime   `bun:"created_at"`
	UpdatedAt           dbTime   `bun:"updated_at"`
	LastSuccessAt       *dbTime  `bun:"last_success_at"`
	FailingSince        *dbTime  `bun:"failing_since"`
}

// domain is the webhook as the API shows it: without its secrets.
func (r *webhookRow) domain() core.Webhook {
	w := core.Webhook{ID: r.ID, ProjectID: r.ProjectID, URL: r.URL, Events: r.Events, Description: r.Description,
		Enabled: r.Enabled, DisabledReason: r.DisabledReason, CreatedAt: r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time,
		LastSuccessAt: optTime(r.LastSuccessAt)}
	if w.Events == nil {
		w.Events = []string{}
	}
	return w
}

type subscriptionRow struct {
	bun.BaseModel `bun:"table:webhook_subscriptions"`
	ProjectID     string `bun:"project_id,pk"`
	EventType     string `bun:"event_type,pk"`
	WebhookID     string `bun:"webhook_id,pk"`
}

type deliveryRow struct {
	bun.BaseModel  `bun:"table:webhook_deliveries"`
	Seq            int64   `bun:"seq,pk,autoincrement"`
	ID             string  `bun:"id"`
	ProjectID      string  `bun:"project_id"`
	WebhookID      string  `bun:"webhook_id"`
	EventID        string  `bun:"event_id"`
	EventType      string  `bun:"event_type"`
	Attempt        int     `bun:"attempt"`
	Status         string  `bun:"status"`
	ResponseStatus int     `bun:"response_status"`
	ResponseBody   string  `bun:"response_body"`
	DurationMS     int64   `bun:"duration_ms"`
	Error          string  `bun:"error"`
	Trigger        string  `bun:"triggered_by"`
	CreatedAt      dbTime  `bun:"created_at"`
	NextAttemptAt  *dbTime `bun:"next_attempt_at"`
}

func (r *deliveryRow) domain() core.Delivery {
	return core.Delivery{ID: r.ID, WebhookID: r.WebhookID, EventID: r.EventID, EventType: r.EventType, Attempt: r.Attempt,
		Status: r.Status, ResponseStatus: r.ResponseStatus, ResponseBody: r.ResponseBody, DurationMS: r.DurationMS,
		Error: r.Error, Trigger: r.Trigger, CreatedAt: r.CreatedAt.Time, NextAttemptAt: optTime(r.NextAttemptAt)}
}

// jobEnqueuer is implemented by an event hook that can also enqueue jobs no
// event fans out to: a test delivery, a manual retry.
type jobEnqueuer interface {
	EnqueueJobs(ctx context.Context, tx *sql.Tx, jobs []core.Job) error
}

// enqueue adds jobs in tx and wakes the workers after the commit.
func (s *Store) enqueue(ctx context.Context, tx *wtx, jobs []core.Job) error {
	e, ok := s.hook.(jobEnqueuer)
	if !ok {
		return errors.New("enqueue webhook job: the store has no job queue")
	}
	if err := e.EnqueueJobs(ctx, tx.Tx.Tx, jobs); err != nil {
		return fmt.Errorf("enqueue webhook job: %w", err)
	}
	if n, ok := s.hook.(core.CommitNotifier); ok {
		tx.onCommit(n.EventsCommitted)
	}
	return nil
}

// normalizeEvents checks a subscription list: known types or "*", at least
// one. "*" alone stands for everything.
func normalizeEvents(events []string, errs map[string]string) []string {
	if len(events) == 0 {
		errs["events"] = `at least one event type, or "*"`
		return nil
	}
	known := core.WebhookEventTypes()
	out := make([]string, 0, len(events))
	for _, e := range events {
		e = strings.TrimSpace(e)
		if e == "*" {
			return []string{"*"}
		}
		if !slices.Contains(known, e) {
			errs["events"] = fmt.Sprintf("unknown event type %q; known: %s, or *", e, strings.Join(known, ", "))
			return nil
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

// checkWebhookURL is the syntactic check; whether the target is allowed
// (private networks) is the delivery adapter's, before this is called.
func checkWebhookURL(raw string, errs map[string]string) {
	if len(raw) > maxWebhookURLLen {
		errs["url"] = "at most 2048 characters"
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		errs["url"] = "must be an absolute http or https URL"
	}
}

func checkDescription(d string, errs map[string]string) {
	if len(d) > maxWebhookDescLen || !utf8.ValidString(d) {
		errs["description"] = "at most 512 characters of UTF-8"
	}
}

func (s *Store) writeSubscriptions(ctx context.Context, tx *wtx, w *webhookRow, replace bool) error {
	if replace {
		if _, err := tx.NewDelete().Model((*subscriptionRow)(nil)).Where("webhook_id = ?", w.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete subscriptions: %w", err)
		}
	}
	rows := make([]subscriptionRow, len(w.Events))
	for i, e := range w.Events {
		rows[i] = subscriptionRow{ProjectID: w.ProjectID, EventType: e, WebhookID: w.ID}
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("insert subscriptions: %w", err)
	}
	return nil
}

// CreateWebhook implements core.WebhookService. Whether the URL's target is
// allowed is checked by the caller (core/webhooks): the store checks syntax.
func (s *Store) CreateWebhook(ctx context.Context, projectID string, in core.WebhookInput) (*core.Webhook, error) {
	errs := map[string]string{}
	checkWebhookURL(in.URL, errs)
	events := normalizeEvents(in.Events, errs)
	checkDescription(in.Description, errs)
	if len(errs) > 0 {
		return nil, core.Invalid(errs)
	}
	var out core.Webhook
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		if err := s.projectExists(ctx, tx, projectID); err != nil {
			return err
		}
		n, err := tx.NewSelect().Model((*webhookRow)(nil)).Where("project_id = ?", projectID).Count(ctx)
		if err != nil {
			return fmt.Errorf("count webhooks: %w", err)
		}
		s.subs.changed()
		if n >= maxWebhooksPerProj {
			return core.Errorf(core.ECONFLICT, "a project has at most %d webhooks", maxWebhooksPerProj)
		}
		now := tm(s.now())
		row := &webhookRow{ID: s.newID(), ProjectID: projectID, URL: in.URL, Events: events, Description: in.Description,
			Enabled: true, Secret: core.NewWebhookSecret(), CreatedAt: now, UpdatedAt: now}
		if _, err := tx.NewInsert().Model(row).Returning("seq").Exec(ctx); err != nil {
			return fmt.Errorf("insert webhook: %w", err)
		}
		if err := s.writeSubscriptions(ctx, tx, row, false); err != nil {
			return err
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

func (s *Store) webhookRow(ctx context.Context, db bun.IDB, projectID, id string) (*webhookRow, error) {
	row := new(webhookRow)
	err := db.NewSelect().Model(row).Where("project_id = ? AND id = ?", projectID, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.NotFound("webhook")
	}
	if err != nil {
		return nil, fmt.Errorf("select webhook: %w", err)
	}
	return row, nil
}

// Webhooks implements core.WebhookService: the project's endpoints in
// creation order.
func (s *Store) Webhooks(ctx context.Context, projectID string) ([]core.Webhook, error) {
	var rows []webhookRow
	if err := s.rdb.NewSelect().Model(&rows).Where("project_id = ?", projectID).OrderExpr("seq").Scan(ctx); err != nil {
		return nil, fmt.Errorf("select webhooks: %w", err)
	}
	out := make([]core.Webhook, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out, nil
}

// Webhook implements core.WebhookService.
func (s *Store) Webhook(ctx context.Context, projectID, id string) (*core.Webhook, error) {
	row, err := s.webhookRow(ctx, s.rdb, projectID, id)
	if err != nil {
		return nil, err
	}
	w := row.domain()
	return &w, nil
}

// UpdateWebhook implements core.WebhookService. Enabling an endpoint clears
// why it was disabled and starts its failure clock afresh.
func (s *Store) UpdateWebhook(ctx context.Context, projectID, id string, p core.WebhookPatch) (*core.Webhook, error) {
	errs := map[string]string{}
	if p.URL != nil {
		checkWebhookURL(*p.URL, errs)
	}
	var events []string
	if p.Events != nil {
		events = normalizeEvents(*p.Events, errs)
	}
	if p.Description != nil {
		checkDescription(*p.Description, errs)
	}
	if len(errs) > 0 {
		return nil, core.Invalid(errs)
	}
	var out core.Webhook
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		row, err := s.webhookRow(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		cols := []string{"updated_at"}
		if p.URL != nil && *p.URL != row.URL {
			row.URL = *p.URL
			cols = append(cols, "url")
		}
		if p.Description != nil {
			row.Description = *p.Description
			cols = append(cols, "description")
		}
		if p.Enabled != nil && *p.Enabled != row.Enabled {
			row.Enabled = *p.Enabled
			cols = append(cols, "enabled")
			if row.Enabled {
				row.DisabledReason, row.FailingSince = "", nil
				cols = append(cols, "disabled_reason", "failing_since")
			} else {
				row.DisabledReason = "disabled by an admin"
				cols = append(cols, "disabled_reason")
			}
		}
		resubscribe := p.Events != nil && !slices.Equal(events, row.Events)
		if resubscribe {
			row.Events = events
			cols = append(cols, "events")
		}
		row.UpdatedAt = tm(s.now())
		if resubscribe || slices.Contains(cols, "enabled") {
			s.subs.changed()
		}
		if _, err := tx.NewUpdate().Model(row).Column(cols...).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("update webhook: %w", err)
		}
		if resubscribe {
			if err := s.writeSubscriptions(ctx, tx, row, true); err != nil {
				return err
			}
		}
		out = row.domain()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteWebhook implements core.WebhookService: the endpoint goes with its
// subscriptions and delivery log; queued deliveries find it gone and stop.
func (s *Store) DeleteWebhook(ctx context.Context, projectID, id string) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		row, err := s.webhookRow(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		s.subs.changed()
		for _, m := range []any{(*subscriptionRow)(nil), (*deliveryRow)(nil)} {
			if _, err := tx.NewDelete().Model(m).Where("webhook_id = ?", row.ID).Exec(ctx); err != nil {
				return fmt.Errorf("delete webhook: %w", err)
			}
		}
		if _, err := tx.NewDelete().Model(row).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		return nil
	})
}

// RotateWebhookSecret implements core.WebhookService. Only one previous
// secret is kept: rotating twice within 24 hours drops the oldest.
func (s *Store) RotateWebhookSecret(ctx context.Context, projectID, id string) (*core.Webhook, error) {
	var out core.Webhook
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		row, err := s.webhookRow(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		now := s.now()
		until := tm(now.Add(secretGrace))
		row.PreviousSecret, row.PreviousSecretUntil = row.Secret, &until
		row.Secret = core.NewWebhookSecret()
		row.UpdatedAt = tm(now)
		if _, err := tx.NewUpdate().Model(row).Column("secret", "previous_secret", "previous_secret_until", "updated_at").
			WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("rotate webhook secret: %w", err)
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

// insertProjectEvent records an event that belongs to no lead (webhook.test,
// webhook.disabled): it is kept with the lead events under an empty lead id,
// so it is in no lead's timeline, and workers load it by id like any other.
func insertProjectEvent(ctx context.Context, tx *wtx, ev core.Event) error {
	row := eventRow{ID: ev.ID, ProjectID: ev.ProjectID, Type: ev.Type, Actor: ev.Actor, Data: string(ev.Data), CreatedAt: tm(ev.CreatedAt)}
	if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}

// webhookSummary is how events name an endpoint: never with its secret.
type webhookSummary struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

func webhookSummaryOf(r *webhookRow) webhookSummary {
	return webhookSummary{ID: r.ID, URL: r.URL, Events: r.Events, Description: r.Description}
}

// pendingDelivery queues one attempt (a test or a manual retry) and logs it
// as pending; the worker turns that row into the attempt's outcome.
func (s *Store) pendingDelivery(ctx context.Context, tx *wtx, w *webhookRow, eventID, eventType, trigger string) (*core.Delivery, error) {
	n, err := tx.NewSelect().Model((*deliveryRow)(nil)).Where("webhook_id = ? AND event_id = ?", w.ID, eventID).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	row := &deliveryRow{ID: s.newID(), ProjectID: w.ProjectID, WebhookID: w.ID, EventID: eventID, EventType: eventType,
		Attempt: int(n) + 1, Status: core.DeliveryPending, Trigger: trigger, CreatedAt: tm(s.now())}
	if _, err := tx.NewInsert().Model(row).Returning("seq").Exec(ctx); err != nil {
		return nil, fmt.Errorf("insert delivery: %w", err)
	}
	if err := s.enqueue(ctx, tx, []core.Job{{Kind: core.JobWebhookResend, ProjectID: w.ProjectID, Target: w.ID, EventID: eventID}}); err != nil {
		return nil, err
	}
	d := row.domain()
	return &d, nil
}

// TestWebhook implements core.WebhookService: a webhook.test event, sent to
// this endpoint alone (enabled or not: a test is how an admin checks an
// endpoint before enabling it again).
func (s *Store) TestWebhook(ctx context.Context, projectID, id string) (*core.Delivery, error) {
	var out *core.Delivery
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		row, err := s.webhookRow(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		data, _ := json.Marshal(map[string]any{"webhook": webhookSummaryOf(row), "message": "A test event sent from Leadhub."})
		ev := core.Event{ID: s.newID(), ProjectID: projectID, Type: core.EventWebhookTest, Actor: core.ActorSystem, CreatedAt: s.now(), Data: data}
		if err := insertProjectEvent(ctx, tx, ev); err != nil {
			return err
		}
		out, err = s.pendingDelivery(ctx, tx, row, ev.ID, ev.Type, core.TriggerTest)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Deliveries implements core.WebhookService: attempts, newest first.
func (s *Store) Deliveries(ctx context.Context, projectID, webhookID string, limit int, cursor string) (core.Page[core.Delivery], error) {
	var page core.Page[core.Delivery]
	if _, err := s.webhookRow(ctx, s.rdb, projectID, webhookID); err != nil {
		return page, err
	}
	limit = clampLimit(limit)
	before, err := decodeSeqCursor(cursor)
	if err != nil {
		return page, err
	}
	var rows []deliveryRow
	q := s.rdb.NewSelect().Model(&rows).Where("webhook_id = ? AND project_id = ?", webhookID, projectID).
		OrderExpr("seq DESC").Limit(int64(limit + 1))
	if before > 0 {
		q = q.Where("seq < ?", before)
	}
	if err := q.Scan(ctx); err != nil {
		return page, fmt.Errorf("select deliveries: %w", err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		page.NextCursor = encodeSeqCursor(rows[limit-1].Seq)
	}
	page.Items = make([]core.Delivery, len(rows))
	for i := range rows {
		page.Items[i] = rows[i].domain()
	}
	return page, nil
}

// RetryDelivery implements core.WebhookService: the delivery's event is sent
// to its endpoint again, now, once.
func (s *Store) RetryDelivery(ctx context.Context, projectID, webhookID, deliveryID string) (*core.Delivery, error) {
	var out *core.Delivery
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		w, err := s.webhookRow(ctx, tx, projectID, webhookID)
		if err != nil {
			return err
		}
		d := new(deliveryRow)
		err = tx.NewSelect().Model(d).Where("id = ? AND webhook_id = ? AND project_id = ?", deliveryID, webhookID, projectID).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return core.NotFound("delivery")
		}
		if err != nil {
			return fmt.Errorf("select delivery: %w", err)
		}
		out, err = s.pendingDelivery(ctx, tx, w, d.EventID, d.EventType, core.TriggerManual)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WebhookTargets returns the endpoints with these ids, in any project, with
// the secrets that sign their deliveries. Missing ids are left out.
func (s *Store) WebhookTargets(ctx context.Context, ids []string) ([]core.WebhookTarget, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []webhookRow
	if err := s.rdb.NewSelect().Model(&rows).Column("id", "project_id", "url", "enabled", "secret", "previous_secret", "previous_secret_until").
		Where("id IN (?)", bun.In(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("select webhooks: %w", err)
	}
	now := s.now()
	out := make([]core.WebhookTarget, len(rows))
	for i, r := range rows {
		out[i] = core.WebhookTarget{ID: r.ID, ProjectID: r.ProjectID, URL: r.URL, Enabled: r.Enabled, Secrets: []string{r.Secret}}
		if r.PreviousSecret != "" && r.PreviousSecretUntil != nil && now.Before(r.PreviousSecretUntil.Time) {
			out[i].Secrets = append(out[i].Secrets, r.PreviousSecret)
		}
	}
	return out, nil
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// RecordDeliveries logs attempts in one transaction: each becomes a row of
// the delivery log (a pending row of a test or manual retry is completed in
// place), successes reset their endpoint's failure clock, and an endpoint is
// disabled when an attempt asks for it (410 Gone) or when it has failed
// without a success for disableAfter (zero: never). Each endpoint disabled
// here gets a webhook.disabled event, delivered to the project's other
// endpoints that subscribe to it. It returns the reasons of the endpoints it
// disabled.
func (s *Store) RecordDeliveries(ctx context.Context, results []core.DeliveryResult, disableAfter time.Duration) ([]string, error) {
	if len(results) == 0 {
		return nil, nil
	}
	var disabled []string
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		disabled = disabled[:0]
		now := s.now()
		type outcome struct {
			ok, failed bool
			disable    string
		}
		byHook := map[string]*outcome{}
		var hookIDs []string
		var rows []deliveryRow
		for _, r := range results {
			o := byHook[r.WebhookID]
			if o == nil {
				o = &outcome{}
				byHook[r.WebhookID] = o
				hookIDs = append(hookIDs, r.WebhookID)
			}
			if r.Status == core.DeliverySucceeded {
				o.ok = true
			} else {
				o.failed = true
			}
			if r.Disable != "" {
				o.disable = r.Disable
			}
			at := r.CreatedAt
			if at.IsZero() {
				at = now
			}
			row := deliveryRow{ID: s.newID(), WebhookID: r.WebhookID, EventID: r.EventID, EventType: r.EventType,
				Attempt: r.Attempt, Status: r.Status, ResponseStatus: r.ResponseStatus,
				ResponseBody: truncateUTF8(r.ResponseBody, maxDeliveryBodyBytes), DurationMS: r.DurationMS,
				Error: truncateUTF8(r.Error, maxDeliveryErrorLen), Trigger: r.Trigger, CreatedAt: tm(at)}
			if r.NextAttemptAt != nil {
				t := tm(*r.NextAttemptAt)
				row.NextAttemptAt = &t
			}
			if row.Trigger == "" {
				row.Trigger = core.TriggerScheduled
			}
			if row.Trigger != core.TriggerScheduled {
				done, err := s.completePending(ctx, tx, &row)
				if err != nil {
					return err
				}
				if done {
					continue
				}
			}
			rows = append(rows, row)
		}
		var hooks []webhookRow
		if err := tx.NewSelect().Model(&hooks).Where("id IN (?)", bun.In(hookIDs)).Scan(ctx); err != nil {
			return fmt.Errorf("select webhooks: %w", err)
		}
		project := map[string]string{}
		for _, h := range hooks {
			project[h.ID] = h.ProjectID
		}
		kept := rows[:0]
		for _, r := range rows {
			if p, ok := project[r.WebhookID]; ok { // an endpoint deleted meanwhile takes its log with it
				r.ProjectID = p
				kept = append(kept, r)
			}
		}
		if len(kept) > 0 {
			if _, err := tx.NewInsert().Model(&kept).Exec(ctx); err != nil {
				return fmt.Errorf("insert deliveries: %w", err)
			}
		}
		for i := range hooks {
			h := &hooks[i]
			o := byHook[h.ID]
			cols := []string{}
			if o.ok {
				t := tm(now)
				h.LastSuccessAt, h.FailingSince = &t, nil
				cols = append(cols, "last_success_at", "failing_since")
			} else if o.failed && h.FailingSince == nil {
				t := tm(now)
				h.FailingSince = &t
				cols = append(cols, "failing_since")
			}
			reason := o.disable
			if reason == "" && !o.ok && o.failed && disableAfter > 0 && h.FailingSince != nil && now.Sub(h.FailingSince.Time) >= disableAfter {
				reason = fmt.Sprintf("no successful delivery since %s (%s)", h.FailingSince.Time.Format(time.RFC3339), disableAfter)
			}
			if reason != "" && h.Enabled {
				h.Enabled, h.DisabledReason, h.UpdatedAt = false, reason, tm(now)
				cols = append(cols, "enabled", "disabled_reason", "updated_at")
			} else {
				reason = ""
			}
			if len(cols) == 0 {
				continue
			}
			if reason != "" {
				s.subs.changed()
			}
			if _, err := tx.NewUpdate().Model(h).Column(cols...).WherePK().Exec(ctx); err != nil {
				return fmt.Errorf("update webhook: %w", err)
			}
			if reason != "" {
				disabled = append(disabled, reason)
				data, _ := json.Marshal(map[string]any{"webhook": webhookSummaryOf(h), "reason": reason})
				ev := core.Event{ID: s.newID(), ProjectID: h.ProjectID, Type: core.EventWebhookDisabled, Actor: core.ActorSystem,
					CreatedAt: now, Data: data}
				if err := s.emit(ctx, tx, ev); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return disabled, nil
}

// completePending turns the oldest pending row of the same endpoint, event
// and trigger into the attempt's outcome; false when there is none.
func (s *Store) completePending(ctx context.Context, tx *wtx, r *deliveryRow) (bool, error) {
	var pending []deliveryRow
	if err := tx.NewSelect().Model(&pending).Column("seq", "attempt").
		Where("webhook_id = ? AND event_id = ? AND status = ? AND triggered_by = ?", r.WebhookID, r.EventID, core.DeliveryPending, r.Trigger).
		OrderExpr("seq").Limit(1).Scan(ctx); err != nil {
		return false, fmt.Errorf("select pending delivery: %w", err)
	}
	if len(pending) == 0 {
		return false, nil
	}
	p := pending[0]
	_, err := tx.NewUpdate().Model((*deliveryRow)(nil)).
		Set("status = ?", r.Status).Set("response_status = ?", r.ResponseStatus).Set("response_body = ?", r.ResponseBody).
		Set("duration_ms = ?", r.DurationMS).Set("error = ?", r.Error).Set("created_at = ?", r.CreatedAt).
		Set("next_attempt_at = NULL").Where("seq = ?", p.Seq).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("complete pending delivery: %w", err)
	}
	return true, nil
}

// PruneDeliveries deletes delivery log rows older than before, oldest first,
// in chunks, and returns how many it deleted.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	return s.pruneOldest(ctx, "webhook_deliveries", "created_at", before)
}

// pruneOldest deletes rows of table whose time column is before t, walking
// from the lowest seq: rows are appended in time order, so no time index is
// needed.
func (s *Store) pruneOldest(ctx context.Context, table, column string, t time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
			res, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE seq IN (SELECT seq FROM "+table+
				" WHERE "+column+" < ? ORDER BY seq LIMIT 1000)", tm(t))
			if err != nil {
				return fmt.Errorf("prune %s: %w", table, err)
			}
			n, _ = res.RowsAffected()
			return nil
		})
		total += n
		if err != nil || n < 1000 {
			return total, err
		}
	}
}

// WebhookFanout is the store's core.Fanout for outbound webhooks: one
// webhook.deliver job per enabled endpoint of the event's project subscribed
// to its type or to "*".
func (s *Store) WebhookFanout() core.Fanout { return webhookFanout{s} }

type webhookFanout struct{ s *Store }

const fanoutSQL = `SELECT s.webhook_id FROM webhook_subscriptions s JOIN webhooks w ON w.id = s.webhook_id
	WHERE s.project_id = ? AND s.event_type IN (?, '*') AND w.enabled`

// JobsForEvents is JobsFor for the events of one write: one query per
// project and event type among them, not one per event.
func (f webhookFanout) JobsForEvents(ctx context.Context, tx *sql.Tx, evs []core.Event) ([]core.Job, error) {
	type key struct{ project, typ string }
	subscribed := map[key][]core.Job{}
	var out []core.Job
	for _, ev := range evs {
		k := key{ev.ProjectID, ev.Type}
		js, ok := subscribed[k]
		if !ok {
			var err error
			if js, err = f.JobsFor(ctx, tx, ev); err != nil {
				return nil, err
			}
			subscribed[k] = js
		}
		for _, j := range js {
			j.EventID = ev.ID
			out = append(out, j)
		}
	}
	return out, nil
}

func (f webhookFanout) JobsFor(ctx context.Context, tx *sql.Tx, ev core.Event) ([]core.Job, error) {
	if ev.Type == core.EventWebhookTest {
		return nil, nil
	}
	ids, gen, ok := f.s.subs.get(ev.ProjectID, ev.Type)
	if ok {
		return deliveryJobs(ev, ids), nil
	}
	q := fanoutSQL
	if f.s.dialect == Postgres {
		q = strings.Replace(strings.Replace(q, "?", "$1", 1), "?", "$2", 1)
	}
	rows, err := f.s.txQuery(ctx, tx, q, ev.ProjectID, ev.Type) // once per event: prepared
	if err != nil {
		return nil, fmt.Errorf("select subscribed webhooks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("select subscribed webhooks: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select subscribed webhooks: %w", err)
	}
	f.s.subs.put(ev.ProjectID, ev.Type, ids, gen)
	return deliveryJobs(ev, ids), nil
}

// deliveryJobs is one delivery job of ev per webhook.
func deliveryJobs(ev core.Event, webhookIDs []string) []core.Job {
	if len(webhookIDs) == 0 {
		return nil
	}
	jobs := make([]core.Job, len(webhookIDs))
	for i, id := range webhookIDs {
		jobs[i] = core.Job{Kind: core.JobWebhookDeliver, ProjectID: ev.ProjectID, Target: id, EventID: ev.ID}
	}
	return jobs
}

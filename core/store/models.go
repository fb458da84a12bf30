package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// dbTime stores times as fixed-width UTC text on SQLite, so that text order is
// time order, and as timestamptz on PostgreSQL.
type dbTime struct{ time.Time }

const timeLayout = "2006-01-02T15:04:05.000000Z"

func (t dbTime) Value() (driver.Value, error) {
	return t.UTC().Format(timeLayout), nil
}

func (t *dbTime) Scan(v any) error {
	switch x := v.(type) {
	case time.Time:
		t.Time = x.UTC()
	case string:
		return t.parse(x)
	case []byte:
		return t.parse(string(x))
	case nil:
		t.Time = time.Time{}
	default:
		return fmt.Errorf("scan time from %T", v)
	}
	return nil
}

func (t *dbTime) parse(s string) error {
	p, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("scan time %q: %w", s, err)
	}
	t.Time = p.UTC()
	return nil
}

func tm(t time.Time) dbTime { return dbTime{t} }

func optTime(t *dbTime) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	v := t.Time
	return &v
}

type projectRow struct {
	bun.BaseModel  `bun:"table:projects"`
	ID             string               `bun:"id,pk"`
	Name           string               `bun:"name"`
	Settings       core.ProjectSettings `bun:"settings,type:json"`
	IdentitySecret string               `bun:"identity_secret"`
	CreatedAt      dbTime               `bun:"created_at"`
	UpdatedAt      dbTime               `bun:"updated_at"`
}

func (r *projectRow) domain() *core.Project {
	return &core.Project{ID: r.ID, Name: r.Name, Settings: r.Settings, CreatedAt: r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time}
}

type keyRow struct {
	bun.BaseModel `bun:"table:api_keys"`
	ID            string  `bun:"id,pk"`
	ProjectID     string  `bun:"project_id"`
	Name          string  `bun:"name"`
	Role          string  `bun:"role"`
	Hash          string  `bun:"hash"`
	Prefix        string  `bun:"prefix"`
	CreatedAt     dbTime  `bun:"created_at"`
	RevokedAt     *dbTime `bun:"revoked_at"`
}

func (r *keyRow) domain() core.Key {
	return core.Key{ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Role: core.Role(r.Role), Prefix: r.Prefix, CreatedAt: r.CreatedAt.Time}
}

type leadRow struct {
	bun.BaseModel `bun:"table:leads,alias:l"`
	Seq           int64          `bun:"seq,pk,autoincrement"`
	ID            string         `bun:"id"`
	ProjectID     string         `bun:"project_id"`
	UserIDs       []string       `bun:"user_ids,type:json"`
	Fullname      string         `bun:"fullname"`
	Lastname      string         `bun:"lastname"`
	Email         string         `bun:"email"`
	EmailLC       string         `bun:"email_lc"`
	EmailCanon    string         `bun:"email_canon"`
	Phone         string         `bun:"phone"`
	PhoneNorm     string         `bun:"phone_norm"`
	Company       string         `bun:"company"`
	Attributes    map[string]any `bun:"attributes,type:json"`
	Tags          []string       `bun:"tags,type:json"`
	Status        string         `bun:"status"`
	MergedInto    *string        `bun:"merged_into"`
	RequestsCount int64          `bun:"requests_count"`
	CreatedAt     dbTime         `bun:"created_at"`
	UpdatedAt     dbTime         `bun:"updated_at"`
	LastSeenAt    dbTime         `bun:"last_seen_at"`
}

func (r *leadRow) domain() core.Lead {
	l := core.Lead{
		ID: r.ID, ProjectID: r.ProjectID, UserIDs: r.UserIDs,
		Fullname: r.Fullname, Lastname: r.Lastname, Email: r.Email, Phone: r.Phone, Company: r.Company,
		Attributes: r.Attributes, Tags: r.Tags, Status: r.Status, MergedInto: r.MergedInto,
		RequestsCount: r.RequestsCount,
		CreatedAt:     r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time, LastSeenAt: r.LastSeenAt.Time,
	}
	if l.UserIDs == nil {
		l.UserIDs = []string{}
	}
	// The lead gets its own copy of the attributes: callers merge into them,
	// and saveLead compares them with the row's to decide what to write.
	if a, ok := cloneJSON(r.Attributes).(map[string]any); ok && a != nil {
		l.Attributes = a
	} else {
		l.Attributes = map[string]any{}
	}
	if l.Tags == nil {
		l.Tags = []string{}
	}
	return l
}

// cloneJSON deep-copies a value decoded from JSON, so that changing the copy
// cannot change a row it came from.
func cloneJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneJSON(e)
		}
		return out
	}
	return v
}

// setFrom copies the domain fields of l onto the row and derives the match
// columns from them.
func (r *leadRow) setFrom(l *core.Lead) {
	r.UserIDs, r.Fullname, r.Lastname, r.Email, r.Phone, r.Company = l.UserIDs, l.Fullname, l.Lastname, l.Email, l.Phone, l.Company
	r.Attributes, r.Tags, r.Status, r.MergedInto, r.RequestsCount = l.Attributes, l.Tags, l.Status, l.MergedInto, l.RequestsCount
	r.UpdatedAt, r.LastSeenAt = tm(l.UpdatedAt), tm(l.LastSeenAt)
	r.EmailLC = core.NormalizeEmail(l.Email)
	r.EmailCanon = core.CanonicalEmail(l.Email)
	r.PhoneNorm = core.NormalizePhone(l.Phone)
	if r.Attributes == nil {
		r.Attributes = map[string]any{}
	}
	if r.Tags == nil {
		r.Tags = []string{}
	}
	if r.UserIDs == nil {
		r.UserIDs = []string{}
	}
}

type userIDRow struct {
	bun.BaseModel `bun:"table:lead_user_ids"`
	ProjectID     string `bun:"project_id,pk"`
	UserID        string `bun:"user_id,pk"`
	LeadID        string `bun:"lead_id"`
	CreatedAt     dbTime `bun:"created_at"`
}

type tagRow struct {
	bun.BaseModel `bun:"table:lead_tags"`
	ProjectID     string `bun:"project_id,pk"`
	Tag           string `bun:"tag,pk"`
	LeadSeq       int64  `bun:"lead_seq,pk"`
}

type requestRow struct {
	bun.BaseModel `bun:"table:requests"`
	Seq           int64          `bun:"seq,pk,autoincrement"`
	ID            string         `bun:"id"`
	ProjectID     string         `bun:"project_id"`
	LeadID        string         `bun:"lead_id"`
	UserID        string         `bun:"user_id"`
	Channel       string         `bun:"channel"`
	Status        string         `bun:"status"`
	FirstText     string         `bun:"first_text"`
	Attributes    map[string]any `bun:"attributes,type:json"`
	MessagesCount int64          `bun:"messages_count"`
	CreatedAt     dbTime         `bun:"created_at"`
	UpdatedAt     dbTime         `bun:"updated_at"`
	ClosedAt      *dbTime        `bun:"closed_at"`
}

func (r *requestRow) domain() core.Request {
	q := core.Request{
		ID: r.ID, ProjectID: r.ProjectID, LeadID: r.LeadID, UserID: r.UserID, Channel: r.Channel,
		Status: r.Status, FirstText: r.FirstText, Attributes: r.Attributes, MessagesCount: r.MessagesCount,
		CreatedAt: r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time, ClosedAt: optTime(r.ClosedAt),
	}
	if q.Attributes == nil {
		q.Attributes = map[string]any{}
	}
	return q
}

type eventRow struct {
	bun.BaseModel `bun:"table:lead_events"`
	Seq           int64        `bun:"seq,pk,autoincrement"`
	ID            string       `bun:"id"`
	ProjectID     string       `bun:"project_id"`
	LeadID        string       `bun:"lead_id"`
	RequestID     string       `bun:"request_id"`
	Type          string       `bun:"type"`
	Actor         string       `bun:"actor"`
	Changes       core.Changes `bun:"changes,type:json"`
	Data          string       `bun:"data"`
	CreatedAt     dbTime       `bun:"created_at"`
}

func (r *eventRow) domain() core.Event {
	return core.Event{ID: r.ID, ProjectID: r.ProjectID, LeadID: r.LeadID, RequestID: r.RequestID, Type: r.Type,
		Actor: r.Actor, Changes: r.Changes, Data: json.RawMessage(r.Data), CreatedAt: r.CreatedAt.Time}
}

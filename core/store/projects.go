package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/leadhub/leadhub/core"
)

// CreateProject implements core.ProjectService.
func (s *Store) CreateProject(ctx context.Context, name string) (*core.Project, *core.NewKey, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, nil, core.Invalid(map[string]string{"name": "required, at most 200 characters"})
	}
	now := s.now()
	p := &projectRow{ID: s.newID(), Name: name, Settings: core.ProjectSettings{AutoMerge: core.AutoMergeOff},
		IdentitySecret: core.GenerateSecret(""), CreatedAt: tm(now), UpdatedAt: tm(now)}
	key := s.newKey(p.ID, "default", core.RoleAdmin)
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := tx.NewInsert().Model(p).Exec(ctx); err != nil {
			return fmt.Errorf("insert project: %w", err)
		}
		return s.insertKey(ctx, tx, key)
	})
	if err != nil {
		return nil, nil, err
	}
	return p.domain(), key, nil
}

// Project implements core.ProjectService.
func (s *Store) Project(ctx context.Context, id string) (*core.Project, error) {
	row, err := s.projectRow(ctx, id)
	if err != nil {
		return nil, err
	}
	return row.domain(), nil
}

func (s *Store) projectRow(ctx context.Context, id string) (*projectRow, error) {
	row := new(projectRow)
	err := s.rdb.NewSelect().Model(row).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.NotFound("project")
	}
	if err != nil {
		return nil, fmt.Errorf("select project: %w", err)
	}
	return row, nil
}

// UpdateProject implements core.ProjectService.
func (s *Store) UpdateProject(ctx context.Context, id string, upd core.ProjectUpdate) (*core.Project, error) {
	var out *projectRow
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		row := new(projectRow)
		if err := tx.NewSelect().Model(row).Where("id = ?", id).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return core.NotFound("project")
			}
			return err
		}
		if upd.Name != nil {
			n := strings.TrimSpace(*upd.Name)
			if n == "" || len(n) > 200 {
				return core.Invalid(map[string]string{"name": "required, at most 200 characters"})
			}
			row.Name = n
		}
		if upd.AutoMerge != nil {
			row.Settings.AutoMerge = *upd.AutoMerge
			if err := row.Settings.Validate(); err != nil {
				return err
			}
		}
		row.UpdatedAt = tm(s.now())
		if _, err := tx.NewUpdate().Model(row).Column("name", "settings", "updated_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("update project: %w", err)
		}
		out = row
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out.domain(), nil
}

// IdentitySecret returns the project's secret for verifying user hashes.
func (s *Store) IdentitySecret(ctx context.Context, projectID string) (string, error) {
	row, err := s.projectRow(ctx, projectID)
	if err != nil {
		return "", err
	}
	return row.IdentitySecret, nil
}

// RotateIdentitySecret replaces the project's identity secret.
func (s *Store) RotateIdentitySecret(ctx context.Context, projectID string) (string, error) {
	secret := core.GenerateSecret("")
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.NewUpdate().Model((*projectRow)(nil)).Set("identity_secret = ?", secret).Set("updated_at = ?", tm(s.now())).
			Where("id = ?", projectID).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.NotFound("project")
		}
		return nil
	})
	return secret, err
}

func (s *Store) newKey(projectID, name string, role core.Role) *core.NewKey {
	secret := core.GenerateSecret("lh_")
	return &core.NewKey{Secret: secret, Key: core.Key{ID: s.newID(), ProjectID: projectID, Name: name, Role: role,
		Prefix: secret[:9], CreatedAt: s.now()}}
}

func (s *Store) insertKey(ctx context.Context, tx *wtx, k *core.NewKey) error {
	row := &keyRow{ID: k.ID, ProjectID: k.ProjectID, Name: k.Name, Role: string(k.Role), Hash: core.HashSecret(k.Secret),
		Prefix: k.Prefix, CreatedAt: tm(k.CreatedAt)}
	if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

// CreateKey implements core.KeyService.
func (s *Store) CreateKey(ctx context.Context, projectID, name string, role core.Role) (*core.NewKey, error) {
	errs := map[string]string{}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		errs["name"] = "required, at most 200 characters"
	}
	if !role.Valid() {
		errs["role"] = "must be admin, agent or ingest"
	}
	if len(errs) > 0 {
		return nil, core.Invalid(errs)
	}
	if _, err := s.projectRow(ctx, projectID); err != nil {
		return nil, err
	}
	k := s.newKey(projectID, name, role)
	if err := s.write(ctx, func(ctx context.Context, tx *wtx) error { return s.insertKey(ctx, tx, k) }); err != nil {
		return nil, err
	}
	return k, nil
}

// Keys implements core.KeyService.
func (s *Store) Keys(ctx context.Context, projectID string) ([]core.Key, error) {
	var rows []keyRow
	if err := s.rdb.NewSelect().Model(&rows).Where("project_id = ? AND revoked_at IS NULL", projectID).Order("created_at", "id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("select keys: %w", err)
	}
	out := make([]core.Key, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out, nil
}

// RevokeKey implements core.KeyService.
func (s *Store) RevokeKey(ctx context.Context, projectID, keyID string) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.NewUpdate().Model((*keyRow)(nil)).Set("revoked_at = ?", tm(s.now())).
			Where("id = ? AND project_id = ? AND revoked_at IS NULL", keyID, projectID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.NotFound("key")
		}
		// Cleared once the revocation commits, before RevokeKey returns:
		// a call that starts after it sees the key revoked.
		tx.onCommit(s.keys.clear)
		return nil
	})
}

const adminKeySetting = "admin_key_hash"

// Authenticate implements core.KeyService. The server admin key is checked
// first; then project keys by the hash of the secret.
func (s *Store) Authenticate(ctx context.Context, secret string) (core.Principal, error) {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return core.Principal{}, core.Errorf(core.EUNAUTHORIZED, "missing API key")
	}
	hash := core.HashSecret(secret)
	if p, ok := s.keys.get(hash); ok {
		return p, nil
	}
	gen := s.keys.generation()
	// Every API call runs this: one statement for both kinds of key (on
	// PostgreSQL each statement is a round trip), prepared (lookupRow). The
	// server's admin key sorts first. Comparing hashes in SQL
	// tells a timing attacker nothing about the secret.
	row := new(keyRow)
	err := s.lookupRow(ctx, `SELECT '' AS id, '' AS project_id, 'server' AS role FROM server_settings WHERE name = ? AND value = ?
		UNION ALL SELECT id, project_id, role FROM api_keys WHERE hash = ? AND revoked_at IS NULL
		ORDER BY role DESC LIMIT 1`, adminKeySetting, hash, hash).Scan(&row.ID, &row.ProjectID, &row.Role)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Principal{}, core.Errorf(core.EUNAUTHORIZED, "invalid API key")
	}
	if err != nil {
		return core.Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	p := core.Principal{KeyID: row.ID, ProjectID: row.ProjectID, Role: core.Role(row.Role)}
	if row.Role == "server" {
		p = core.Principal{Admin: true, Role: core.RoleAdmin}
	}
	s.keys.put(hash, p, gen)
	return p, nil
}

// EnsureAdminKey makes the server's admin key known. With a configured key its
// hash is stored (replacing any earlier one). Without one, a key is generated
// on the first start only and returned so the caller can print it once; later
// starts return "".
func (s *Store) EnsureAdminKey(ctx context.Context, configured string) (generated string, err error) {
	err = s.write(ctx, func(ctx context.Context, tx *wtx) error {
		// On PostgreSQL a replica that loses the race to store the first
		// key runs this again: it must then report none.
		generated = ""
		var existing string
		err := tx.NewRaw("SELECT value FROM server_settings WHERE name = ?", adminKeySetting).Scan(ctx, &existing)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var hash string
		switch {
		case configured != "":
			hash = core.HashSecret(configured)
		case existing != "":
			return nil
		default:
			generated = core.GenerateSecret("lhadmin_")
			hash = core.HashSecret(generated)
		}
		if hash == existing {
			return nil
		}
		tx.onCommit(s.keys.clear) // the old admin key may be cached
		if existing != "" {
			_, err = tx.NewRaw("UPDATE server_settings SET value = ? WHERE name = ?", hash, adminKeySetting).Exec(ctx)
		} else {
			_, err = tx.NewRaw("INSERT INTO server_settings (name, value) VALUES (?, ?)", adminKeySetting, hash).Exec(ctx)
		}
		return err
	})
	return generated, err
}

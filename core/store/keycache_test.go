package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
)

func wantUnauthorized(t *testing.T, s *Store, secret, when string) {
	t.Helper()
	if _, err := s.Authenticate(context.Background(), secret); core.ErrorCode(err) != core.EUNAUTHORIZED {
		t.Fatalf("%s: %v, want unauthorized", when, err)
	}
}

// A key that authenticated, and so is cached, stops working as soon as
// its revocation returns.
func TestRevokedKeyStopsAtOnce(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteStore(t, "", "")
	p, key, err := s.CreateProject(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second from the cache
		got, err := s.Authenticate(ctx, key.Secret)
		if err != nil || got.ProjectID != p.ID || got.KeyID != key.ID {
			t.Fatalf("authenticate: %+v, %v", got, err)
		}
	}
	if err := s.RevokeKey(ctx, p.ID, key.ID); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, s, key.Secret, "after the revocation")
}

// The cache is used: a revocation made by another process on the same
// file (here a second store) is not seen until the cached entry expires,
// keyCacheTTL after the key last authenticated from the database.
func TestCachedKeyExpires(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	a, b := openSQLiteStore(t, path, ""), openSQLiteStore(t, path, "")
	now := time.Now()
	a.keys.now = func() time.Time { return now }
	p, key, err := a.CreateProject(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, key.Secret); err != nil {
		t.Fatal(err)
	}
	if err := b.RevokeKey(ctx, p.ID, key.ID); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, b, key.Secret, "in the revoking process")
	if _, err := a.Authenticate(ctx, key.Secret); err != nil {
		t.Fatalf("within the TTL, from the cache: %v", err)
	}
	now = now.Add(keyCacheTTL)
	wantUnauthorized(t, a, key.Secret, "once the cached entry expired")
}

// A key read from the database before a revocation cleared the cache is
// not stored after it: it may be the revoked key.
func TestKeyReadBeforeAClearIsNotCached(t *testing.T) {
	c := newKeyCache()
	gen := c.generation()
	c.clear()
	c.put("hash", core.Principal{KeyID: "k"}, gen)
	if _, ok := c.get("hash"); ok {
		t.Fatal("a key read before the clear was cached")
	}
	c.put("hash", core.Principal{KeyID: "k"}, c.generation())
	if _, ok := c.get("hash"); !ok {
		t.Fatal("a key read after the clear was not cached")
	}
}

// Unknown secrets are never cached.
func TestUnknownKeyIsNotCached(t *testing.T) {
	s := openSQLiteStore(t, "", "")
	wantUnauthorized(t, s, "lh_not_a_key", "an unknown secret")
	if len(s.keys.m) != 0 {
		t.Fatalf("%d entries cached for an unknown secret", len(s.keys.m))
	}
}

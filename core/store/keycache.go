package store

import (
	"sync"
	"time"

	"github.com/leadhub/leadhub/core"
)

// keyCache remembers, for a short while, the principal of each API key hash
// that authenticated, so that a call need not read the database to check
// its key: under ingest that read was a quarter of the server's HTTP work.
//
// SQLite only. There, every change to keys that matters goes through this
// process and empties the cache at once: a revocation (RevokeKey) and a new
// admin key (EnsureAdminKey), so a revoked key stops working at once, as the
// API promises. keyCacheTTL bounds what another process on the same file
// could change unseen (a second server writing its own admin key). On
// PostgreSQL a replica cannot see another's revocation, so there is no
// cache and every call reads the keys.
//
// Only keys that authenticated are kept: unknown secrets (a scan, a typo)
// are never stored, and the map is bounded.
type keyCache struct {
	mu  sync.RWMutex
	m   map[string]cachedKey // by hash of the secret
	now func() time.Time
	// gen counts the clears: a key read from the database before a clear
	// is not stored after it (its revocation may have committed between).
	gen uint64
}

type cachedKey struct {
	p       core.Principal
	expires time.Time
}

const (
	keyCacheTTL = 5 * time.Second
	keyCacheMax = 10000
)

func newKeyCache() *keyCache { return &keyCache{m: map[string]cachedKey{}, now: time.Now} }

func (c *keyCache) get(hash string) (core.Principal, bool) {
	if c == nil {
		return core.Principal{}, false
	}
	c.mu.RLock()
	k, ok := c.m[hash]
	c.mu.RUnlock()
	if !ok || !c.now().Before(k.expires) {
		return core.Principal{}, false
	}
	return k.p, true
}

// generation is taken before the database is read, and given to put.
func (c *keyCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *keyCache) put(hash string, p core.Principal, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= keyCacheMax {
		c.m = map[string]cachedKey{}
	}
	c.m[hash] = cachedKey{p: p, expires: c.now().Add(keyCacheTTL)}
}

// clear forgets every key: after a change to keys commits.
func (c *keyCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.m = map[string]cachedKey{}
	c.gen++
	c.mu.Unlock()
}

package store

import (
	"slices"
	"sync"
	"time"
)

// subsCache remembers, per project and event type, which enabled webhooks
// are subscribed, so that turning an event into delivery jobs need not
// query the subscriptions: under ingest that query ran for every event,
// inside the writer's transaction, where every microsecond delays the whole
// batch.
//
// SQLite only, where every write runs on the one writer goroutine, and so
// does every lookup (the fan-out runs in the event's transaction). A write
// that changes subscriptions or whether an endpoint is enabled calls
// changed in its transaction: the entries cached so far are dropped, and
// until that transaction has ended (committed or rolled back; the next one
// begins) the fan-out reads the subscriptions in the transaction and caches
// nothing, since what it reads may yet be rolled back. subsCacheTTL bounds
// what another process writing the same file could change unseen. On
// PostgreSQL replicas cannot see each other's changes: there is no cache.
type subsCache struct {
	mu sync.Mutex
	m  map[subsKey]subsEntry
	// gen counts the changes: a lookup that missed stores what it read
	// only if no change came in between.
	gen uint64
	// dirty is set by a change in the transaction in progress.
	dirty bool
	now   func() time.Time
}

type subsKey struct{ project, eventType string }

type subsEntry struct {
	webhookIDs []string
	expires    time.Time
}

const (
	subsCacheTTL = 5 * time.Second
	subsCacheMax = 10000
)

func newSubsCache() *subsCache { return &subsCache{m: map[subsKey]subsEntry{}, now: time.Now} }

// get returns the webhooks subscribed to eventType in project, or ok false
// and the generation to give put once they are read. A nil cache (on
// PostgreSQL) never has them.
func (c *subsCache) get(project, eventType string) (ids []string, gen uint64, ok bool) {
	if c == nil {
		return nil, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirty {
		return nil, c.gen, false
	}
	e, ok := c.m[subsKey{project, eventType}]
	if !ok || !c.now().Before(e.expires) {
		return nil, c.gen, false
	}
	return e.webhookIDs, c.gen, true
}

func (c *subsCache) put(project, eventType string, ids []string, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirty || gen != c.gen {
		return
	}
	if len(c.m) >= subsCacheMax {
		clear(c.m)
	}
	c.m[subsKey{project, eventType}] = subsEntry{webhookIDs: slices.Clip(ids), expires: c.now().Add(subsCacheTTL)}
}

// changed is called by a write that changes what the fan-out reads, in its
// transaction, before it writes.
func (c *subsCache) changed() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.dirty = true
	clear(c.m)
}

// txBegan is called by the writer as it begins a transaction: the one that
// made a change has ended.
func (c *subsCache) txBegan() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.dirty = false
	c.mu.Unlock()
}

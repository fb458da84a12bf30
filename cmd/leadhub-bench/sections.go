package main

import (
	"flag"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// window is the length of one ingest window in the sections beyond the
// core one (merge, postgres), which compare several configurations in
// turn: shorter than the core's runs, to keep make bench under 10 minutes.
var window = flag.Duration("window", 3*time.Second, "length of one ingest window in the merge and postgres sections")

// benchEnv is what every section of the bench shares: the options, the
// leadhub binary, the work folder, the run's random seed and the table.
type benchEnv struct {
	o    options
	bin  string
	dir  string
	seed uint64
	rep  *report
}

// section is a part of the bench beyond the core one, registered by its
// file's init and run in the order of its rank, each on servers of its own.
type section struct {
	name string
	rank int
	run  func(*benchEnv) error
}

var sections []section

func register(s section) {
	sections = append(sections, s)
	slices.SortStableFunc(sections, func(a, b section) int { return a.rank - b.rank })
}

func sectionNames() string {
	var n []string
	for _, s := range sections {
		n = append(n, s.name)
	}
	if len(n) == 0 {
		return "no other"
	}
	return strings.Join(n, ", ")
}

// wants says whether -only selects the section (every section when empty).
func (o options) wants(name string) bool {
	if o.only == "" {
		return true
	}
	return slices.Contains(strings.Split(o.only, ","), name)
}

// interrupted holds what an interrupted bench must still undo outside its
// work folder (the PostgreSQL databases it made), run by main's signal
// handler before it exits.
var interrupted struct {
	sync.Mutex
	undo map[string]func()
}

// onInterrupt registers undo under name, replacing any earlier one.
func onInterrupt(name string, undo func()) {
	interrupted.Lock()
	defer interrupted.Unlock()
	if interrupted.undo == nil {
		interrupted.undo = map[string]func(){}
	}
	interrupted.undo[name] = undo
}

// undone forgets name's undo: the section did it itself.
func undone(name string) {
	interrupted.Lock()
	defer interrupted.Unlock()
	delete(interrupted.undo, name)
}

func undoInterrupted() {
	interrupted.Lock()
	defer interrupted.Unlock()
	for _, f := range interrupted.undo {
		f()
	}
}

// startServer starts a server of a section on a fresh SQLite database in
// dir (made if missing), with extraEnv; with profile and -profile set, its
// profiler listens on a loopback port. stop shuts the server down and,
// unless -keep, removes dir.
func (env *benchEnv) startServer(dir, adminKey string, profile bool, extraEnv ...string) (srv *server, stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	if profile && env.o.profile != "" {
		pa, err := freeAddr()
		if err != nil {
			return nil, nil, err
		}
		extraEnv = append(extraEnv, "LEADHUB_PPROF_ADDR="+pa)
	}
	if srv, err = newServer(env.bin, dir, adminKey, extraEnv...); err != nil {
		return nil, nil, err
	}
	if err := srv.start(); err != nil {
		return nil, nil, err
	}
	return srv, func() {
		srv.shutdown()
		if !env.o.keep {
			os.RemoveAll(dir)
		}
	}, nil
}

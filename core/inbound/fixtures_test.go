package inbound_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// fixturesDir finds the shared sample payloads: ../shared/fixtures beside
// the repository (CI lays shared/ next to the clone, as on a developer's
// machine). "" when absent.
func fixturesDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			cand := filepath.Join(filepath.Dir(d), "shared", "fixtures")
			if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
				return cand
			}
			return ""
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// platform is one folder of fixtures with its headers and test secret.
type platform struct {
	secret  string
	headers map[string]map[string]string
	bodies  map[string][]byte
}

func loadPlatform(name string) (*platform, bool) {
	dir := fixturesDir()
	if dir == "" {
		return nil, false
	}
	raw, err := os.ReadFile(filepath.Join(dir, name, "_headers.json"))
	if err != nil {
		return nil, false
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, false
	}
	p := &platform{headers: map[string]map[string]string{}, bodies: map[string][]byte{}}
	_ = json.Unmarshal(all["_test_secret"], &p.secret)
	files, _ := filepath.Glob(filepath.Join(dir, name, "*.json"))
	for _, f := range files {
		base := filepath.Base(f)
		if base == "_headers.json" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, false
		}
		p.bodies[base] = b
		h := map[string]string{}
		_ = json.Unmarshal(all[base], &h)
		p.headers[base] = h
	}
	return p, true
}

// mustPlatform loads a fixture folder or skips the test, saying why.
func mustPlatform(t *testing.T, name string) *platform {
	t.Helper()
	p, ok := loadPlatform(name)
	if !ok {
		t.Skipf("fixtures not found: expected %s/ in shared/fixtures beside the repository (../shared/fixtures from the repo root)", name)
	}
	for file := range p.bodies {
		if _, ok := p.headers[file]; !ok {
			t.Fatalf("%s/%s has no headers in _headers.json", name, file)
		}
	}
	return p
}

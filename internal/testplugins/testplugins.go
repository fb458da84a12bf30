// Package testplugins builds plugin binaries for tests that start real plugin
// processes: the bundled plugins and the host's test plugins, all of them at
// the first call of a test binary, into a temporary folder that Cleanup
// removes.
package testplugins

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// sources are the plugins' packages, relative to the module's root.
var sources = map[string]string{
	"emailnorm": "./plugins/emailnorm",
	"dupemail":  "./plugins/dupemail",
	"slack":     "./plugins/slack",
	"faulty":    "./core/pluginhost/testdata/faulty",
	"filesink":  "./core/pluginhost/testdata/filesink",
	"garbage":   "./core/pluginhost/testdata/garbage",
}

var (
	once sync.Once
	dir  string
	err  error
)

// Path returns the binary of the plugin called name (a bundled plugin or a
// test plugin of core/pluginhost/testdata), building them on first use.
// Tests that need one are skipped under -short.
func Path(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds plugin binaries")
	}
	if _, ok := sources[name]; !ok {
		t.Fatalf("testplugins: no plugin %q", name)
	}
	once.Do(build)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

func build() {
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	if dir, err = os.MkdirTemp("", "leadhub-test-plugins-"); err != nil {
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, pkg := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
			cmd.Dir = root
			if out, berr := cmd.CombinedOutput(); berr != nil {
				mu.Lock()
				err = fmt.Errorf("build %s: %v\n%s", pkg, berr, out)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// Cleanup removes the binaries; a test binary's TestMain calls it after
// its tests ran.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

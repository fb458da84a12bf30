package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// timeNow is time.Now; log records take it.
var timeNow = time.Now

// SpecsFromDir returns a Spec for every executable regular file in dir
// (LEADHUB_PLUGINS_DIR), named after the file (without an extension), with
// the default timeout and no configuration, in name order. Hidden files are
// skipped.
func SpecsFromDir(dir string) ([]Spec, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plugins dir: %w", err)
	}
	var out []Spec
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		fi, err := os.Stat(path) // follows symlinks
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		name := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
		out = append(out, Spec{Name: name, Path: path, Timeout: DefaultTimeout})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// FileSHA256 returns the hex SHA-256 of a file, the form Spec.SHA256 takes.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verifyChecksum checks path against want (hex, any case; empty skips the
// check). A mismatch is permanent: the plugin is disabled.
func verifyChecksum(path, want string) error {
	want = strings.ToLower(strings.TrimSpace(want))
	if want == "" {
		return nil
	}
	got, err := FileSHA256(path)
	if err != nil {
		return fmt.Errorf("checksum of %s: %w", path, err)
	}
	if got != want {
		return fmt.Errorf("%w: checksum mismatch for %s: sha256 is %s, configured %s", errPermanent, path, got, want)
	}
	return nil
}

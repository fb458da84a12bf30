// Package config is Leadhub's configuration: defaults, then a YAML file, then
// LEADHUB_* environment variables, then command-line flags, each overriding the
// one before. It uses koanf for the layering so that precedence rules, YAML
// parsing and duration decoding are not ours to get wrong.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Config is the whole configuration of `leadhub serve`.
type Config struct {
	Addr        string `koanf:"addr"`
	DatabaseURL string `koanf:"database_url"`
	// AdminKey is the server's admin key. When empty on the first start, one is
	// generated, stored hashed and printed once.
	AdminKey string `koanf:"admin_key"`
	// MaxBodyBytes caps request bodies (413 above).
	MaxBodyBytes int64    `koanf:"max_body_bytes"`
	Log          Log      `koanf:"log"`
	Database     Database `koanf:"database"`
	Plugins      []Plugin `koanf:"plugins"`
	// PluginsDir adds every executable in a folder as a plugin.
	PluginsDir string   `koanf:"plugins_dir"`
	Webhooks   Webhooks `koanf:"webhooks"`
	// PprofAddr, when set, serves Go's profiler (net/http/pprof) on this
	// address, apart from the API and without authentication: keep it on
	// loopback. Off by default.
	PprofAddr string `koanf:"pprof_addr"`
}

// Log configures logging.
type Log struct {
	Format string `koanf:"format"` // auto (JSON unless on a terminal), json, text
	Level  string `koanf:"level"`  // debug, info, warn, error
}

// Database tunes the store.
type Database struct {
	// Synchronous is SQLite's sync level: normal or full (see docs/operations.md).
	Synchronous string `koanf:"synchronous"`
	// MaxBatch bounds the writes that share one SQLite transaction.
	MaxBatch int `koanf:"max_batch"`
	// MaxWait bounds how long a transaction under concurrent load waits for
	// more writes to join it (SQLite; see docs/performance.md).
	MaxWait   time.Duration `koanf:"max_wait"`
	ReadConns int           `koanf:"read_conns"`
	// MaxConns bounds one replica's PostgreSQL connections.
	MaxConns int `koanf:"max_conns"`
}

// Plugin is one entry of the plugins list.
type Plugin struct {
	Name    string         `koanf:"name"`
	Path    string         `koanf:"path"`
	SHA256  string         `koanf:"sha256"`
	Timeout time.Duration  `koanf:"timeout"`
	Config  map[string]any `koanf:"config"`
}

// Webhooks configures outbound delivery.
type Webhooks struct {
	// AllowPrivateNetworks lets webhooks target loopback and private addresses.
	AllowPrivateNetworks bool `koanf:"allow_private_networks"`
	// AllowList holds CIDRs or host names allowed even when private.
	AllowList     []string        `koanf:"allow_list"`
	RetrySchedule []time.Duration `koanf:"retry_schedule"`
	Timeout       time.Duration   `koanf:"timeout"`
	// DisableAfter disables an endpoint failing without a success this long.
	DisableAfter time.Duration `koanf:"disable_after"`
}

// Default is the configuration with nothing set: `make run` needs no more.
func Default() Config {
	return Config{
		Addr:         ":8080",
		DatabaseURL:  "sqlite:./data/leadhub.db",
		MaxBodyBytes: 1 << 20,
		Log:          Log{Format: "auto", Level: "info"},
		Database:     Database{Synchronous: "full", MaxBatch: 256, MaxWait: 250 * time.Microsecond, ReadConns: 4, MaxConns: 16},
		Webhooks: Webhooks{
			RetrySchedule: []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour},
			Timeout:       15 * time.Second,
			DisableAfter:  5 * 24 * time.Hour,
		},
	}
}

// envKeys maps the documented variables to configuration keys. Other
// LEADHUB_* variables map by rule: LEADHUB_DATABASE__MAX_BATCH is
// database.max_batch (a double underscore descends one level).
var envKeys = map[string]string{
	"LEADHUB_ADDR":                            "addr",
	"LEADHUB_DATABASE_URL":                    "database_url",
	"LEADHUB_ADMIN_KEY":                       "admin_key",
	"LEADHUB_PLUGINS_DIR":                     "plugins_dir",
	"LEADHUB_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "webhooks.allow_private_networks",
	"LEADHUB_MAX_BODY_BYTES":                  "max_body_bytes",
	"LEADHUB_LOG_FORMAT":                      "log.format",
	"LEADHUB_LOG_LEVEL":                       "log.level",
}

// Flags declares the flags that override the configuration.
func Flags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (or LEADHUB_CONFIG)")
	fs.String("addr", "", "listen address (LEADHUB_ADDR)")
	fs.String("database-url", "", "sqlite:PATH or postgres:// URL (LEADHUB_DATABASE_URL)")
	fs.String("plugins-dir", "", "folder whose executables are started as plugins (LEADHUB_PLUGINS_DIR)")
}

// Load reads the configuration in rising precedence. fs may be nil.
func Load(fs *pflag.FlagSet, environ []string) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(structs.Provider(Default(), "koanf"), nil); err != nil {
		return Config{}, err
	}
	envMap := map[string]string{}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		envMap[name] = val
	}
	path := envMap["LEADHUB_CONFIG"]
	if fs != nil {
		if f := fs.Lookup("config"); f != nil && f.Changed {
			path = f.Value.String()
		}
	}
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      "LEADHUB_",
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			if name == "LEADHUB_CONFIG" {
				return "", nil
			}
			if key, ok := envKeys[name]; ok {
				return key, value
			}
			key := strings.ToLower(strings.TrimPrefix(name, "LEADHUB_"))
			return strings.ReplaceAll(key, "__", "."), value
		},
	}), nil)
	if err != nil {
		return Config{}, err
	}
	if fs != nil {
		err := k.Load(posflag.ProviderWithFlag(fs, ".", k, func(f *pflag.Flag) (string, any) {
			if f.Name == "config" || !f.Changed {
				return "", nil
			}
			return strings.ReplaceAll(f.Name, "-", "_"), posflag.FlagVal(fs, f)
		}), nil)
		if err != nil {
			return Config{}, err
		}
	}
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if path != "" {
		c.resolvePaths(filepath.Dir(path))
	}
	return c, c.Validate()
}

// resolvePaths makes plugin paths in a config file relative to the file.
func (c *Config) resolvePaths(dir string) {
	for i, p := range c.Plugins {
		if p.Path != "" && !filepath.IsAbs(p.Path) && !strings.HasPrefix(p.Path, "./") && !strings.HasPrefix(p.Path, "../") {
			c.Plugins[i].Path = filepath.Join(dir, p.Path)
		}
	}
}

// Validate checks the configuration as a whole.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr: required"))
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, fmt.Errorf("database_url: want sqlite:PATH or postgres://…, got %q", c.DatabaseURL))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, errors.New("max_body_bytes: at least 1024"))
	}
	switch strings.ToLower(c.Database.Synchronous) {
	case "normal", "full":
	default:
		errs = append(errs, errors.New("database.synchronous: normal or full"))
	}
	switch c.Log.Format {
	case "auto", "json", "text":
	default:
		errs = append(errs, errors.New("log.format: auto, json or text"))
	}
	names := map[string]bool{}
	for i, p := range c.Plugins {
		if p.Name == "" || p.Path == "" {
			errs = append(errs, fmt.Errorf("plugins[%d]: name and path are required", i))
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("plugins[%d]: name %q used twice", i, p.Name))
		}
		names[p.Name] = true
		if p.Timeout < 0 {
			errs = append(errs, fmt.Errorf("plugins[%d].timeout: must be positive", i))
		}
	}
	for i, d := range c.Webhooks.RetrySchedule {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("webhooks.retry_schedule[%d]: must be positive", i))
		}
	}
	if c.Webhooks.Timeout <= 0 {
		errs = append(errs, errors.New("webhooks.timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// Environ is os.Environ, named for callers that pass the environment in.
func Environ() []string { return os.Environ() }

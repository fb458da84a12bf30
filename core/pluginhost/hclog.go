package pluginhost

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hcLogger is an hclog.Logger writing to a slog handler: go-plugin logs
// through it, including every line a plugin writes to stderr (the SDK's
// structured lines keep their level and fields).
type hcLogger struct {
	h       slog.Handler
	name    string
	implied []any
}

var _ hclog.Logger = (*hcLogger)(nil)

func newHCLogger(h slog.Handler, name string) hclog.Logger { return &hcLogger{h: h, name: name} }

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (l *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	lv := slogLevel(level)
	ctx := context.Background()
	if !l.h.Enabled(ctx, lv) {
		return
	}
	r := slog.NewRecord(timeNow(), lv, msg, 0)
	if l.name != "" {
		r.AddAttrs(slog.String("logger", l.name))
	}
	all := append(append([]any{}, l.implied...), args...)
	for i := 0; i < len(all); i += 2 {
		key := fmt.Sprint(all[i])
		if key == "plugin" {
			key = "plugin_path" // go-plugin's name for the executable; ours is the plugin's name
		}
		if i+1 >= len(all) {
			r.AddAttrs(slog.Any("EXTRA_VALUE", all[i]))
			break
		}
		r.AddAttrs(slog.Any(key, all[i+1]))
	}
	_ = l.h.Handle(ctx, r)
}

func (l *hcLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *hcLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *hcLogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *hcLogger) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *hcLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *hcLogger) enabled(lv slog.Level) bool { return l.h.Enabled(context.Background(), lv) }
func (l *hcLogger) IsTrace() bool              { return false }
func (l *hcLogger) IsDebug() bool              { return l.enabled(slog.LevelDebug) }
func (l *hcLogger) IsInfo() bool               { return l.enabled(slog.LevelInfo) }
func (l *hcLogger) IsWarn() bool               { return l.enabled(slog.LevelWarn) }
func (l *hcLogger) IsError() bool              { return l.enabled(slog.LevelError) }
func (l *hcLogger) ImpliedArgs() []any         { return l.implied }

func (l *hcLogger) With(args ...any) hclog.Logger {
	return &hcLogger{h: l.h, name: l.name, implied: append(append([]any{}, l.implied...), args...)}
}

func (l *hcLogger) Name() string { return l.name }

func (l *hcLogger) Named(name string) hclog.Logger {
	n := name
	if l.name != "" {
		n = l.name + "." + name
	}
	return &hcLogger{h: l.h, name: n, implied: l.implied}
}

func (l *hcLogger) ResetNamed(name string) hclog.Logger {
	return &hcLogger{h: l.h, name: name, implied: l.implied}
}

// SetLevel is ignored: the slog handler decides.
func (l *hcLogger) SetLevel(hclog.Level) {}

func (l *hcLogger) GetLevel() hclog.Level {
	switch {
	case l.IsDebug():
		return hclog.Debug
	case l.IsInfo():
		return hclog.Info
	case l.IsWarn():
		return hclog.Warn
	default:
		return hclog.Error
	}
}

func (l *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

func (l *hcLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer { return lineWriter{l} }

type lineWriter struct{ l *hcLogger }

func (w lineWriter) Write(b []byte) (int, error) {
	w.l.Info(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

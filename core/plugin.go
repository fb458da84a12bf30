package core

import "context"

// Plugin states.
const (
	PluginStarting = "starting"
	PluginRunning  = "running"
	PluginCrashed  = "crashed"  // waiting to be restarted
	PluginDisabled = "disabled" // crashed too often; an operator re-enables it
	PluginStopped  = "stopped"
)

// PluginInfo describes a running plugin for operators.
type PluginInfo struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Kinds      []string `json:"kinds"`
	EventTypes []string `json:"event_types"`
	State      string   `json:"state"`
	Restarts   int      `json:"restarts"`
	Calls      int64    `json:"calls"`
	Errors     int64    `json:"errors"`
	LastError  string   `json:"last_error,omitempty"`
}

// PluginRegistry lists plugins and lets an operator re-enable one.
type PluginRegistry interface {
	Plugins(ctx context.Context) []PluginInfo
	// EnablePlugin restarts a disabled plugin. ENOTFOUND.
	EnablePlugin(ctx context.Context, name string) error
}

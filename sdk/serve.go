package sdk

import (
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"
)

// parentPollInterval is how often a plugin checks that its host is alive.
const parentPollInterval = 500 * time.Millisecond

// Serve runs p as a Leadhub plugin: one call at the end of main. It returns
// when the host closes the plugin, and exits the process when the host dies
// (its parent process changes) or when p is not a valid plugin.
//
// Output printed to stdout before Serve does not disturb the handshake with
// the host: when started by a host, the SDK points stdout at stderr as soon as
// it is initialised (see the package's init) and keeps the real stdout for the
// handshake. Output from the init functions of packages initialised before
// this one is not covered.
func Serve(p Plugin) {
	cfg, err := ServeConfig(p)
	if err != nil {
		fmt.Fprintf(os.Stderr, "leadhub plugin: %v\n", err)
		os.Exit(1)
	}
	watchParent(parentPollInterval, func() {
		pluginLog.Error("host process is gone, exiting", "plugin", p.Describe().Name)
		os.Exit(2)
	})
	if handshakeStdout != nil {
		// go-plugin prints its handshake line to os.Stdout and then points
		// os.Stdout at its own pipe.
		os.Stdout = handshakeStdout
	}
	plugin.Serve(cfg)
}

// ServeConfig returns the go-plugin configuration that Serve serves p with,
// after checking that p describes itself validly and implements every kind it
// declares. Package sdktest serves it in go-plugin's test mode; plugins call
// Serve.
func ServeConfig(p Plugin) (*plugin.ServeConfig, error) {
	if _, err := checkPlugin(p); err != nil {
		return nil, err
	}
	return &plugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &GRPCPlugin{Impl: p}},
		},
		GRPCServer: pluginGRPCServer,
	}, nil
}

// watchParent calls gone, from a goroutine, once the parent process changes:
// the host died and the plugin was re-parented. A parent id of 1 at start is
// fine (a host running as a container's init).
func watchParent(every time.Duration, gone func()) {
	ppid := os.Getppid()
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for range t.C {
			if os.Getppid() != ppid {
				gone()
				return
			}
		}
	}()
}

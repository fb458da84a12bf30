package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/leadhub/leadhub/sdk/pluginv1"
)

// The fixed facts of the go-plugin handshake, shared by host and plugins.
const (
	// ProtocolVersion is the plugin protocol this SDK speaks
	// (package leadhub.plugin.v1). It is only ever extended; a breaking
	// change would add protocol 2 beside it in the VersionedPlugins maps.
	ProtocolVersion = 1

	// MagicCookieKey and MagicCookieValue are set by the host in the
	// plugin's environment. They only tell a plugin binary started by hand
	// that it is not meant to be; they are no security measure.
	MagicCookieKey   = "LEADHUB_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "7f2c1d9e4b8a4e1c9d6b3a5f0e2c8b71-leadhub-plugin"

	// PluginName is the name to Dispense from a go-plugin client.
	PluginName = "leadhub"

	// MaxMessageSize caps every gRPC message between host and plugin, both
	// ways. A larger message fails its call with RESOURCE_EXHAUSTED: split
	// event batches below it.
	MaxMessageSize = 4 << 20
)

// Handshake is the go-plugin handshake of Leadhub plugins.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// ClientPlugins returns the plugin sets for plugin.ClientConfig.VersionedPlugins
// on the host side: Dispense(PluginName) then returns a *Client whose
// Configure serves host to the plugin (host may be nil: the plugin then gets a
// HostAPI whose calls fail).
func ClientPlugins(host HostAPI) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &GRPCPlugin{Host: host}},
	}
}

// GRPCDialOptions returns the dial options for plugin.ClientConfig.GRPCDialOptions
// on the host side: the message size cap.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
	}
}

// GRPCPlugin is the go-plugin plugin.GRPCPlugin of Leadhub plugins. The
// plugin side sets Impl (Serve does); the host side sets Host (ClientPlugins
// does).
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin

	// Impl is the plugin served, on the plugin side.
	Impl Plugin
	// Host is the host API served to the plugin, on the host side.
	Host HostAPI
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the plugin's services. It is called by go-plugin in
// the plugin process.
func (p *GRPCPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("sdk: GRPCPlugin.Impl is nil")
	}
	srv, err := newServer(p.Impl, broker)
	if err != nil {
		return err
	}
	pb.RegisterPluginServer(s, srv)
	pb.RegisterEnricherServer(s, srv)
	pb.RegisterDuplicateDetectorServer(s, srv)
	pb.RegisterEventSinkServer(s, srv)
	return nil
}

// GRPCClient returns a *Client for the plugin behind conn. It is called by
// go-plugin in the host process, on Dispense.
func (p *GRPCPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newClient(conn, broker, p.Host), nil
}

// newGRPCServer builds a gRPC server with the size cap and panic recovery.
// logPanic reports a recovered panic.
func newGRPCServer(opts []grpc.ServerOption, logPanic func(method string, v any, stack []byte)) *grpc.Server {
	opts = append(opts,
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.ChainUnaryInterceptor(recoverUnary(logPanic)),
		grpc.ChainStreamInterceptor(recoverStream(logPanic)),
	)
	return grpc.NewServer(opts...)
}

// pluginLog writes one JSON line per entry to the plugin's stderr, which the
// host's go-plugin client parses into its own log. It holds the stderr of
// process start: go-plugin's Serve later points os.Stderr at a stream the
// host discards by default.
var pluginLog = hclog.New(&hclog.LoggerOptions{
	Name:       "sdk",
	Level:      hclog.Info,
	Output:     os.Stderr,
	JSONFormat: true,
})

// pluginGRPCServer is the ServeConfig.GRPCServer of plugins.
func pluginGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return newGRPCServer(opts, func(method string, v any, stack []byte) {
		pluginLog.Error("panic in plugin call", "method", method, "panic", fmt.Sprint(v), "stack", string(stack))
	})
}

// hostGRPCServer is the server of the host API, in the host process.
func hostGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return newGRPCServer(opts, func(method string, v any, stack []byte) {
		slog.Error("panic in plugin host API", "method", method, "panic", fmt.Sprint(v), "stack", string(stack))
	})
}

func panicStatus(method string, v any) error {
	return status.Errorf(codes.Internal, "panic in %s: %v", method, v)
}

func recoverUnary(logPanic func(string, any, []byte)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if v := recover(); v != nil {
				logPanic(info.FullMethod, v, debug.Stack())
				resp, err = nil, panicStatus(info.FullMethod, v)
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(logPanic func(string, any, []byte)) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if v := recover(); v != nil {
				logPanic(info.FullMethod, v, debug.Stack())
				err = panicStatus(info.FullMethod, v)
			}
		}()
		return handler(srv, ss)
	}
}

// toStatus turns a handler's error into a gRPC status error: context errors
// keep their meaning, anything else is UNKNOWN with the error's text.
func toStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	default:
		return status.Error(codes.Unknown, err.Error())
	}
}

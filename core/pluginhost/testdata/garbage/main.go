// Command garbage is a test plugin that speaks the wire protocol without the
// SDK and answers nonsense: an enricher whose patch's attributes are not
// JSON. The host must count it as an error and carry on.
//
// It does not import the SDK (whose init reroutes stdout for sdk.Serve), so
// it spells the handshake out.
package main

import (
	"context"
	"errors"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/leadhub/leadhub/sdk/pluginv1"
)

var handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "LEADHUB_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "7f2c1d9e4b8a4e1c9d6b3a5f0e2c8b71-leadhub-plugin",
}

type server struct {
	pb.UnimplementedPluginServer
	pb.UnimplementedEnricherServer
}

func (server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{Name: "garbage", Version: "6.6.6", Kinds: []pb.Kind{pb.Kind_KIND_ENRICHER},
		EventTypes: []string{"*"}, ProtocolVersion: 1}, nil
}

func (server) Configure(context.Context, *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	return &pb.ConfigureResponse{}, nil
}

func (server) Enrich(context.Context, *pb.EnrichRequest) (*pb.EnrichResponse, error) {
	return &pb.EnrichResponse{Patch: &pb.Patch{AttributesJson: []byte(`{"half": "an object`)}}, nil
}

type raw struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (raw) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterPluginServer(s, server{})
	pb.RegisterEnricherServer(s, server{})
	return nil
}

func (raw) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("server side only")
}

func main() {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{1: {"leadhub": raw{}}},
		GRPCServer:       goplugin.DefaultGRPCServer,
	})
}

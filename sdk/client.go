package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/leadhub/leadhub/sdk/pluginv1"
)

// Client is the host's handle on one plugin process, returned by Dispense on
// a go-plugin client set up with ClientPlugins. Call Describe, then Configure
// once, then the methods of the kinds the plugin declared; those may run
// concurrently. Errors are gRPC status errors (wrapped; use status.Code):
// see the codes in plugin.proto. Give every call a context with a deadline.
type Client struct {
	plugin   pb.PluginClient
	enricher pb.EnricherClient
	detector pb.DuplicateDetectorClient
	sink     pb.EventSinkClient

	broker *plugin.GRPCBroker
	host   HostAPI

	hostOnce sync.Once
	hostID   uint32
}

func newClient(conn *grpc.ClientConn, broker *plugin.GRPCBroker, host HostAPI) *Client {
	return &Client{
		plugin:   pb.NewPluginClient(conn),
		enricher: pb.NewEnricherClient(conn),
		detector: pb.NewDuplicateDetectorClient(conn),
		sink:     pb.NewEventSinkClient(conn),
		broker:   broker,
		host:     host,
	}
}

// Describe asks the plugin what it is and wants. Check the result with
// Description.Validate.
func (c *Client) Describe(ctx context.Context) (Description, error) {
	r, err := c.plugin.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return Description{}, fmt.Errorf("describe: %w", err)
	}
	return descriptionFromProto(r), nil
}

// Configure hands the plugin its configuration (JSON, or nil) and, the first
// time, starts serving the host API to it through the broker.
func (c *Client) Configure(ctx context.Context, config []byte) error {
	var id uint32
	if c.host != nil {
		c.hostOnce.Do(func() {
			c.hostID = c.broker.NextId()
			go c.broker.AcceptAndServe(c.hostID, func(opts []grpc.ServerOption) *grpc.Server {
				s := hostGRPCServer(opts)
				pb.RegisterHostServer(s, &hostServer{api: c.host})
				return s
			})
		})
		id = c.hostID
	}
	if _, err := c.plugin.Configure(ctx, &pb.ConfigureRequest{ConfigJson: config, HostBrokerId: id}); err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	return nil
}

// Enrich asks an enricher for a patch to apply to lead after ev.
func (c *Client) Enrich(ctx context.Context, ev Event, lead Lead) (Patch, error) {
	e, err := eventToProto(ev)
	if err != nil {
		return Patch{}, fmt.Errorf("enrich: %w", err)
	}
	l, err := leadToProto(lead)
	if err != nil {
		return Patch{}, fmt.Errorf("enrich: %w", err)
	}
	r, err := c.enricher.Enrich(ctx, &pb.EnrichRequest{Event: e, Lead: l})
	if err != nil {
		return Patch{}, fmt.Errorf("enrich: %w", err)
	}
	p, err := patchFromProto(r.GetPatch())
	if err != nil {
		return Patch{}, fmt.Errorf("enrich: %w", err)
	}
	return p, nil
}

// Detect asks a duplicate detector for leads that may be the same person as
// lead.
func (c *Client) Detect(ctx context.Context, ev Event, lead Lead) ([]Candidate, error) {
	e, err := eventToProto(ev)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	l, err := leadToProto(lead)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	r, err := c.detector.Detect(ctx, &pb.DetectRequest{Event: e, Lead: l})
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	return candidatesFromProto(r.GetCandidates()), nil
}

// Deliver hands a batch of events to an event sink. On error the whole batch
// is to be delivered again. A batch must encode under MaxMessageSize.
func (c *Client) Deliver(ctx context.Context, events []Event) error {
	es, err := eventsToProto(events)
	if err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	if _, err := c.sink.Deliver(ctx, &pb.EventBatch{Events: es}); err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	return nil
}

// hostServer serves a HostAPI to a plugin, in the host process.
type hostServer struct {
	pb.UnimplementedHostServer
	api HostAPI
}

// hostStatus turns a HostAPI error into a gRPC status error.
func hostStatus(err error) error {
	if errors.Is(err, ErrNotFound) {
		return status.Error(codes.NotFound, err.Error())
	}
	return toStatus(err)
}

func needProject(projectID string) error {
	if projectID == "" {
		return status.Error(codes.InvalidArgument, "project_id is required")
	}
	return nil
}

func leadResult(l Lead, err error) (*pb.Lead, error) {
	if err != nil {
		return nil, hostStatus(err)
	}
	p, err := leadToProto(l)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return p, nil
}

func leadsResult(ls []Lead, err error) ([]*pb.Lead, error) {
	if err != nil {
		return nil, hostStatus(err)
	}
	ps, err := leadsToProto(ls)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return ps, nil
}

func (s *hostServer) GetLead(ctx context.Context, req *pb.GetLeadRequest) (*pb.GetLeadResponse, error) {
	if err := needProject(req.GetProjectId()); err != nil {
		return nil, err
	}
	l, err := leadResult(s.api.GetLead(ctx, req.GetProjectId(), req.GetLeadId()))
	if err != nil {
		return nil, err
	}
	return &pb.GetLeadResponse{Lead: l}, nil
}

func (s *hostServer) FindLeadsByEmail(ctx context.Context, req *pb.FindLeadsByEmailRequest) (*pb.FindLeadsByEmailResponse, error) {
	if err := needProject(req.GetProjectId()); err != nil {
		return nil, err
	}
	ls, err := leadsResult(s.api.FindLeadsByEmail(ctx, req.GetProjectId(), req.GetEmail()))
	if err != nil {
		return nil, err
	}
	return &pb.FindLeadsByEmailResponse{Leads: ls}, nil
}

func (s *hostServer) FindLeadsByNormalizedEmail(ctx context.Context, req *pb.FindLeadsByNormalizedEmailRequest) (*pb.FindLeadsByNormalizedEmailResponse, error) {
	if err := needProject(req.GetProjectId()); err != nil {
		return nil, err
	}
	ls, err := leadsResult(s.api.FindLeadsByNormalizedEmail(ctx, req.GetProjectId(), req.GetEmail()))
	if err != nil {
		return nil, err
	}
	return &pb.FindLeadsByNormalizedEmailResponse{Leads: ls}, nil
}

func (s *hostServer) FindLeadsByPhone(ctx context.Context, req *pb.FindLeadsByPhoneRequest) (*pb.FindLeadsByPhoneResponse, error) {
	if err := needProject(req.GetProjectId()); err != nil {
		return nil, err
	}
	ls, err := leadsResult(s.api.FindLeadsByPhone(ctx, req.GetProjectId(), req.GetPhone()))
	if err != nil {
		return nil, err
	}
	return &pb.FindLeadsByPhoneResponse{Leads: ls}, nil
}

func (s *hostServer) FindLeadByUserId(ctx context.Context, req *pb.FindLeadByUserIdRequest) (*pb.FindLeadByUserIdResponse, error) {
	if err := needProject(req.GetProjectId()); err != nil {
		return nil, err
	}
	l, err := leadResult(s.api.FindLeadByUserID(ctx, req.GetProjectId(), req.GetUserId()))
	if err != nil {
		return nil, err
	}
	return &pb.FindLeadByUserIdResponse{Lead: l}, nil
}

package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/leadhub/leadhub/sdk/pluginv1"
)

// server serves a Plugin's services in the plugin process.
type server struct {
	pb.UnimplementedPluginServer
	pb.UnimplementedEnricherServer
	pb.UnimplementedDuplicateDetectorServer
	pb.UnimplementedEventSinkServer

	impl   Plugin
	desc   Description
	broker *plugin.GRPCBroker

	configured atomic.Bool

	mu       sync.Mutex
	hostID   uint32
	hostConn *grpc.ClientConn
	host     HostAPI
}

// checkPlugin validates p's description and that p implements every kind it
// declares.
func checkPlugin(p Plugin) (Description, error) {
	d := p.Describe()
	if err := d.Validate(); err != nil {
		return Description{}, err
	}
	for _, k := range d.Kinds {
		var ok bool
		switch k {
		case KindEnricher:
			_, ok = p.(Enricher)
		case KindDuplicateDetector:
			_, ok = p.(DuplicateDetector)
		case KindEventSink:
			_, ok = p.(EventSink)
		}
		if !ok {
			return Description{}, fmt.Errorf("plugin %s declares kind %s but does not implement it", d.Name, k)
		}
	}
	d.ProtocolVersion = ProtocolVersion
	return d, nil
}

func newServer(p Plugin, broker *plugin.GRPCBroker) (*server, error) {
	d, err := checkPlugin(p)
	if err != nil {
		return nil, err
	}
	return &server{impl: p, desc: d, broker: broker, host: noHost{}}, nil
}

func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return descriptionToProto(s.desc), nil
}

func (s *server) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	host, err := s.dialHost(req.GetHostBrokerId())
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "dial host API: %v", err)
	}
	var config []byte
	if len(req.GetConfigJson()) > 0 {
		config = req.GetConfigJson()
	}
	if err := s.impl.Configure(ctx, config, host); err != nil {
		return nil, toStatus(fmt.Errorf("configure %s: %w", s.desc.Name, err))
	}
	s.configured.Store(true)
	return &pb.ConfigureResponse{}, nil
}

// dialHost connects to the host API served under broker id; the connection
// is made once and reused while the id stays the same.
func (s *server) dialHost(id uint32) (HostAPI, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == 0 || id == s.hostID {
		return s.host, nil
	}
	conn, err := s.broker.DialWithOptions(id, GRPCDialOptions()...)
	if err != nil {
		return nil, err
	}
	if s.hostConn != nil {
		_ = s.hostConn.Close()
	}
	s.hostID, s.hostConn, s.host = id, conn, &hostClient{c: pb.NewHostClient(conn)}
	return s.host, nil
}

// ready checks that kind k may be called now.
func (s *server) ready(k Kind) error {
	if !s.desc.Has(k) {
		return status.Errorf(codes.Unimplemented, "plugin %s is not a %s", s.desc.Name, k)
	}
	if !s.configured.Load() {
		return status.Errorf(codes.FailedPrecondition, "plugin %s is not configured", s.desc.Name)
	}
	return nil
}

func (s *server) Enrich(ctx context.Context, req *pb.EnrichRequest) (*pb.EnrichResponse, error) {
	if err := s.ready(KindEnricher); err != nil {
		return nil, err
	}
	ev, lead, err := eventAndLead(req.GetEvent(), req.GetLead())
	if err != nil {
		return nil, err
	}
	patch, err := s.impl.(Enricher).Enrich(withEventProject(ctx, ev.ProjectID), ev, lead)
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := patchToProto(patch)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pb.EnrichResponse{Patch: p}, nil
}

func (s *server) Detect(ctx context.Context, req *pb.DetectRequest) (*pb.DetectResponse, error) {
	if err := s.ready(KindDuplicateDetector); err != nil {
		return nil, err
	}
	ev, lead, err := eventAndLead(req.GetEvent(), req.GetLead())
	if err != nil {
		return nil, err
	}
	cs, err := s.impl.(DuplicateDetector).Detect(withEventProject(ctx, ev.ProjectID), ev, lead)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DetectResponse{Candidates: candidatesToProto(cs)}, nil
}

func (s *server) Deliver(ctx context.Context, req *pb.EventBatch) (*pb.DeliverResponse, error) {
	if err := s.ready(KindEventSink); err != nil {
		return nil, err
	}
	events, err := eventsFromProto(req.GetEvents())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.impl.(EventSink).Deliver(ctx, events); err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeliverResponse{}, nil
}

func eventAndLead(e *pb.Event, l *pb.Lead) (Event, Lead, error) {
	ev, err := eventFromProto(e)
	if err != nil {
		return Event{}, Lead{}, status.Error(codes.InvalidArgument, err.Error())
	}
	lead, err := leadFromProto(l)
	if err != nil {
		return Event{}, Lead{}, status.Error(codes.InvalidArgument, err.Error())
	}
	return ev, lead, nil
}

// The project of the event being handled rides on the context of Enrich and
// Detect, so that host calls for another project are refused in the plugin.
type eventProjectKey struct{}

func withEventProject(ctx context.Context, projectID string) context.Context {
	return context.WithValue(ctx, eventProjectKey{}, projectID)
}

func checkProject(ctx context.Context, projectID string) error {
	if projectID == "" {
		return errors.New("empty project id")
	}
	if p, ok := ctx.Value(eventProjectKey{}).(string); ok && p != "" && p != projectID {
		return fmt.Errorf("project %q is not the project of the event being handled", projectID)
	}
	return nil
}

// hostClient is the HostAPI of the plugin process: calls go to the host
// through the broker connection.
type hostClient struct {
	c pb.HostClient
}

func hostErr(op string, err error) error {
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("host %s: %w: %s", op, ErrNotFound, status.Convert(err).Message())
	}
	return fmt.Errorf("host %s: %w", op, err)
}

func (h *hostClient) GetLead(ctx context.Context, projectID, leadID string) (Lead, error) {
	if err := checkProject(ctx, projectID); err != nil {
		return Lead{}, fmt.Errorf("host get lead: %w", err)
	}
	r, err := h.c.GetLead(ctx, &pb.GetLeadRequest{ProjectId: projectID, LeadId: leadID})
	if err != nil {
		return Lead{}, hostErr("get lead", err)
	}
	return leadFromProto(r.GetLead())
}

func (h *hostClient) FindLeadsByEmail(ctx context.Context, projectID, email string) ([]Lead, error) {
	if err := checkProject(ctx, projectID); err != nil {
		return nil, fmt.Errorf("host find leads by email: %w", err)
	}
	r, err := h.c.FindLeadsByEmail(ctx, &pb.FindLeadsByEmailRequest{ProjectId: projectID, Email: email})
	if err != nil {
		return nil, hostErr("find leads by email", err)
	}
	return leadsFromProto(r.GetLeads())
}

func (h *hostClient) FindLeadsByNormalizedEmail(ctx context.Context, projectID, canonical string) ([]Lead, error) {
	if err := checkProject(ctx, projectID); err != nil {
		return nil, fmt.Errorf("host find leads by normalized email: %w", err)
	}
	r, err := h.c.FindLeadsByNormalizedEmail(ctx, &pb.FindLeadsByNormalizedEmailRequest{ProjectId: projectID, Email: canonical})
	if err != nil {
		return nil, hostErr("find leads by normalized email", err)
	}
	return leadsFromProto(r.GetLeads())
}

func (h *hostClient) FindLeadsByPhone(ctx context.Context, projectID, phone string) ([]Lead, error) {
	if err := checkProject(ctx, projectID); err != nil {
		return nil, fmt.Errorf("host find leads by phone: %w", err)
	}
	r, err := h.c.FindLeadsByPhone(ctx, &pb.FindLeadsByPhoneRequest{ProjectId: projectID, Phone: phone})
	if err != nil {
		return nil, hostErr("find leads by phone", err)
	}
	return leadsFromProto(r.GetLeads())
}

func (h *hostClient) FindLeadByUserID(ctx context.Context, projectID, userID string) (Lead, error) {
	if err := checkProject(ctx, projectID); err != nil {
		return Lead{}, fmt.Errorf("host find lead by user id: %w", err)
	}
	r, err := h.c.FindLeadByUserId(ctx, &pb.FindLeadByUserIdRequest{ProjectId: projectID, UserId: userID})
	if err != nil {
		return Lead{}, hostErr("find lead by user id", err)
	}
	return leadFromProto(r.GetLead())
}

// noHost is the HostAPI of a plugin whose host serves none.
type noHost struct{}

var errNoHost = errors.New("host API not available")

func (noHost) GetLead(context.Context, string, string) (Lead, error) { return Lead{}, errNoHost }
func (noHost) FindLeadsByEmail(context.Context, string, string) ([]Lead, error) {
	return nil, errNoHost
}
func (noHost) FindLeadsByNormalizedEmail(context.Context, string, string) ([]Lead, error) {
	return nil, errNoHost
}
func (noHost) FindLeadsByPhone(context.Context, string, string) ([]Lead, error) {
	return nil, errNoHost
}
func (noHost) FindLeadByUserID(context.Context, string, string) (Lead, error) {
	return Lead{}, errNoHost
}

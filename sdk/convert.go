package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/leadhub/leadhub/sdk/pluginv1"
)

// The conversions between the SDK's types and the generated messages. JSON
// numbers decode as json.Number so values pass through unchanged.

var kindToProto = map[Kind]pb.Kind{
	KindEnricher:          pb.Kind_KIND_ENRICHER,
	KindDuplicateDetector: pb.Kind_KIND_DUPLICATE_DETECTOR,
	KindEventSink:         pb.Kind_KIND_EVENT_SINK,
}

func kindFromProto(k pb.Kind) Kind {
	for sk, pk := range kindToProto {
		if pk == k {
			return sk
		}
	}
	// A kind added after this SDK was built: keep it visible.
	return Kind(fmt.Sprintf("unknown_%d", int32(k)))
}

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromProto(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// decodeObject decodes a JSON object; empty input gives nil.
func decodeObject(b []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// encodeObject encodes m; a nil or empty map gives nil.
func encodeObject(m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

func leadToProto(l Lead) (*pb.Lead, error) {
	attrs, err := encodeObject(l.Attributes)
	if err != nil {
		return nil, fmt.Errorf("encode attributes of lead %s: %w", l.ID, err)
	}
	return &pb.Lead{
		Id:             l.ID,
		ProjectId:      l.ProjectID,
		UserIds:        l.UserIDs,
		Fullname:       l.Fullname,
		Lastname:       l.Lastname,
		Email:          l.Email,
		Phone:          l.Phone,
		Company:        l.Company,
		AttributesJson: attrs,
		Tags:           l.Tags,
		Status:         l.Status,
		MergedInto:     l.MergedInto,
		RequestsCount:  l.RequestsCount,
		CreatedAt:      timeToProto(l.CreatedAt),
		UpdatedAt:      timeToProto(l.UpdatedAt),
		LastSeenAt:     timeToProto(l.LastSeenAt),
	}, nil
}

func leadFromProto(l *pb.Lead) (Lead, error) {
	if l == nil {
		return Lead{}, fmt.Errorf("missing lead")
	}
	attrs, err := decodeObject(l.GetAttributesJson())
	if err != nil {
		return Lead{}, fmt.Errorf("decode attributes of lead %s: %w", l.GetId(), err)
	}
	return Lead{
		ID:            l.GetId(),
		ProjectID:     l.GetProjectId(),
		UserIDs:       l.GetUserIds(),
		Fullname:      l.GetFullname(),
		Lastname:      l.GetLastname(),
		Email:         l.GetEmail(),
		Phone:         l.GetPhone(),
		Company:       l.GetCompany(),
		Attributes:    attrs,
		Tags:          l.GetTags(),
		Status:        l.GetStatus(),
		MergedInto:    l.GetMergedInto(),
		RequestsCount: l.GetRequestsCount(),
		CreatedAt:     timeFromProto(l.GetCreatedAt()),
		UpdatedAt:     timeFromProto(l.GetUpdatedAt()),
		LastSeenAt:    timeFromProto(l.GetLastSeenAt()),
	}, nil
}

func leadsToProto(ls []Lead) ([]*pb.Lead, error) {
	out := make([]*pb.Lead, 0, len(ls))
	for _, l := range ls {
		p, err := leadToProto(l)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func leadsFromProto(ls []*pb.Lead) ([]Lead, error) {
	out := make([]Lead, 0, len(ls))
	for _, l := range ls {
		x, err := leadFromProto(l)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func eventToProto(e Event) (*pb.Event, error) {
	var changes []byte
	if len(e.Changes) > 0 {
		var err error
		if changes, err = json.Marshal(e.Changes); err != nil {
			return nil, fmt.Errorf("encode changes of event %s: %w", e.ID, err)
		}
	}
	return &pb.Event{
		Id:          e.ID,
		Type:        e.Type,
		ProjectId:   e.ProjectID,
		LeadId:      e.LeadID,
		RequestId:   e.RequestID,
		Actor:       e.Actor,
		CreatedAt:   timeToProto(e.CreatedAt),
		ChangesJson: changes,
		DataJson:    e.Data,
	}, nil
}

func eventFromProto(e *pb.Event) (Event, error) {
	if e == nil {
		return Event{}, fmt.Errorf("missing event")
	}
	var changes map[string]Change
	if b := e.GetChangesJson(); len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &changes); err != nil {
			return Event{}, fmt.Errorf("decode changes of event %s: %w", e.GetId(), err)
		}
	}
	var data json.RawMessage
	if b := e.GetDataJson(); len(b) > 0 {
		data = json.RawMessage(b)
	}
	return Event{
		ID:        e.GetId(),
		Type:      e.GetType(),
		ProjectID: e.GetProjectId(),
		LeadID:    e.GetLeadId(),
		RequestID: e.GetRequestId(),
		Actor:     e.GetActor(),
		CreatedAt: timeFromProto(e.GetCreatedAt()),
		Changes:   changes,
		Data:      data,
	}, nil
}

func eventsToProto(es []Event) ([]*pb.Event, error) {
	out := make([]*pb.Event, 0, len(es))
	for _, e := range es {
		p, err := eventToProto(e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func eventsFromProto(es []*pb.Event) ([]Event, error) {
	out := make([]Event, 0, len(es))
	for _, e := range es {
		x, err := eventFromProto(e)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func patchToProto(p Patch) (*pb.Patch, error) {
	attrs, err := encodeObject(p.Attributes)
	if err != nil {
		return nil, fmt.Errorf("encode attributes patch: %w", err)
	}
	return &pb.Patch{
		Fullname:       p.Fullname,
		Lastname:       p.Lastname,
		Email:          p.Email,
		Phone:          p.Phone,
		Company:        p.Company,
		AttributesJson: attrs,
		AddTags:        p.AddTags,
	}, nil
}

func patchFromProto(p *pb.Patch) (Patch, error) {
	if p == nil {
		return Patch{}, nil
	}
	attrs, err := decodeObject(p.GetAttributesJson())
	if err != nil {
		return Patch{}, fmt.Errorf("decode attributes patch: %w", err)
	}
	return Patch{
		Fullname:   p.Fullname,
		Lastname:   p.Lastname,
		Email:      p.Email,
		Phone:      p.Phone,
		Company:    p.Company,
		Attributes: attrs,
		AddTags:    p.GetAddTags(),
	}, nil
}

func candidatesToProto(cs []Candidate) []*pb.Candidate {
	out := make([]*pb.Candidate, 0, len(cs))
	for _, c := range cs {
		out = append(out, &pb.Candidate{LeadId: c.LeadID, Score: c.Score, Reason: c.Reason})
	}
	return out
}

func candidatesFromProto(cs []*pb.Candidate) []Candidate {
	out := make([]Candidate, 0, len(cs))
	for _, c := range cs {
		out = append(out, Candidate{LeadID: c.GetLeadId(), Score: c.GetScore(), Reason: c.GetReason()})
	}
	return out
}

func descriptionToProto(d Description) *pb.DescribeResponse {
	kinds := make([]pb.Kind, 0, len(d.Kinds))
	for _, k := range d.Kinds {
		kinds = append(kinds, kindToProto[k])
	}
	return &pb.DescribeResponse{
		Name:            d.Name,
		Version:         d.Version,
		Kinds:           kinds,
		EventTypes:      d.EventTypes,
		ProtocolVersion: ProtocolVersion,
	}
}

func descriptionFromProto(r *pb.DescribeResponse) Description {
	kinds := make([]Kind, 0, len(r.GetKinds()))
	for _, k := range r.GetKinds() {
		kinds = append(kinds, kindFromProto(k))
	}
	return Description{
		Name:            r.GetName(),
		Version:         r.GetVersion(),
		Kinds:           kinds,
		EventTypes:      r.GetEventTypes(),
		ProtocolVersion: int(r.GetProtocolVersion()),
	}
}

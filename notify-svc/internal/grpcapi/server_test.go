package grpcapi

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/contactguard/contactguard/notify-svc/internal/delivery"
	"github.com/contactguard/contactguard/notify-svc/internal/staff"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/testenv"
	notifyv1 "github.com/contactguard/contactguard/proto/notify/v1"
)

// newServer returns a server on a fresh database holding the seeded
// directory and deliveries of both organisations.
func newServer(t *testing.T, deliveries ...delivery.Delivery) *Server {
	t.Helper()
	ctx := testCtx(t)
	db := testenv.Mongo(t)
	staffStore := staff.NewStore(db)
	store := delivery.NewStore(db)
	if err := staffStore.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := staffStore.Upsert(ctx, directory.Seed()); err != nil {
		t.Fatal(err)
	}
	for _, d := range deliveries {
		if _, err := store.Queue(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	return New(staffStore, store, nil)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// as returns a context acting as the seeded staff member id.
func as(t *testing.T, id string) context.Context {
	t.Helper()
	m, ok := directory.Find(id)
	if !ok {
		t.Fatalf("%s is not seeded", id)
	}
	return identity.NewContext(testCtx(t), identity.Identity{StaffID: m.ID, Organization: m.Organization, Roles: m.Roles})
}

// code is the gRPC code the server interceptor would answer for err.
func code(err error) codes.Code {
	st, _ := apperr.ToStatus(err)
	return status.Code(st)
}

var seedCount = func() map[string]int {
	out := map[string]int{}
	for _, m := range directory.Seed() {
		out[m.Organization]++
	}
	return out
}()

func TestGetStaffMemberIsScopedToTheCallersOrganisation(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name   string
		ctx    func(t *testing.T) context.Context
		id     string
		code   codes.Code
		wantEm string
	}{
		{"own organisation", func(t *testing.T) context.Context { return as(t, "hc-cso-1") }, "hc-tl-1", codes.OK, "isla.macleod@highland.example.org"},
		{"own organisation (board)", func(t *testing.T) context.Context { return as(t, "vb-staff-1") }, "vb-lm-1", codes.OK, "mairi.nicolson@valuation.example.org"},
		{"other organisation is not found", func(t *testing.T) context.Context { return as(t, "hc-cso-1") }, "vb-staff-1", codes.NotFound, ""},
		{"other organisation is not found (board)", func(t *testing.T) context.Context { return as(t, "vb-admin-1") }, "hc-admin-1", codes.NotFound, ""},
		{"unknown id", func(t *testing.T) context.Context { return as(t, "hc-cso-1") }, "hc-nobody", codes.NotFound, ""},
		{"empty id", func(t *testing.T) context.Context { return as(t, "hc-cso-1") }, "", codes.InvalidArgument, ""},
		{"no identity", func(t *testing.T) context.Context { return testCtx(t) }, "hc-tl-1", codes.Unauthenticated, ""},
		{"organisation without a profile", func(t *testing.T) context.Context {
			return identity.NewContext(testCtx(t), identity.Identity{StaffID: "x-1", Organization: "atlantis-council"})
		}, "hc-tl-1", codes.PermissionDenied, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := s.GetStaffMember(tt.ctx(t), &notifyv1.GetStaffMemberRequest{Id: tt.id})
			if code(err) != tt.code {
				t.Fatalf("code %v (%v), want %v", code(err), err, tt.code)
			}
			if tt.code == codes.OK && (m.GetId() != tt.id || m.GetEmail() != tt.wantEm) {
				t.Errorf("member = %v", m)
			}
			if tt.code != codes.OK && m != nil {
				t.Errorf("returned %v with an error", m)
			}
		})
	}
}

func TestListStaffMembersIsScopedAndPaginates(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		caller   string
		pageSize int32
	}{
		{"hc-cso-1", 0}, {"hc-cso-1", 4}, {"hc-cso-1", 5}, {"hc-cso-1", 1},
		{"vb-staff-1", 0}, {"vb-staff-1", 3}, {"vb-staff-1", 7},
	}
	for _, tt := range tests {
		m, _ := directory.Find(tt.caller)
		t.Run(fmt.Sprintf("%s page %d", tt.caller, tt.pageSize), func(t *testing.T) {
			ctx := as(t, tt.caller)
			var ids []string
			token := ""
			for page := 0; ; page++ {
				if page > 50 {
					t.Fatal("pagination does not end")
				}
				resp, err := s.ListStaffMembers(ctx, &notifyv1.ListStaffMembersRequest{PageSize: tt.pageSize, PageToken: token})
				if err != nil {
					t.Fatal(err)
				}
				if tt.pageSize > 0 && len(resp.GetStaffMembers()) > int(tt.pageSize) {
					t.Errorf("page of %d for page size %d", len(resp.GetStaffMembers()), tt.pageSize)
				}
				for _, sm := range resp.GetStaffMembers() {
					if sm.GetOrganization() != m.Organization {
						t.Errorf("%s of %s listed to %s", sm.GetId(), sm.GetOrganization(), m.Organization)
					}
					ids = append(ids, sm.GetId())
				}
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			if len(ids) != seedCount[m.Organization] {
				t.Errorf("listed %d members, the seed has %d in %s", len(ids), seedCount[m.Organization], m.Organization)
			}
			if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
				t.Errorf("ids not sorted and distinct: %v", ids)
			}
		})
	}
}

func TestListStaffMembersFilters(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name   string
		caller string
		req    *notifyv1.ListStaffMembersRequest
		want   []string
	}{
		{"by role", "hc-cso-1", &notifyv1.ListStaffMembersRequest{Role: "head_of_people"}, []string{"hc-hop-1"}},
		{"by role in own organisation only", "vb-staff-1", &notifyv1.ListStaffMembersRequest{Role: "admin"}, []string{"vb-admin-1"}},
		{"by line manager", "vb-staff-1", &notifyv1.ListStaffMembersRequest{LineManagerId: "vb-lm-1"}, []string{"vb-staff-1", "vb-staff-2"}},
		{"by team", "hc-cso-1", &notifyv1.ListStaffMembersRequest{Team: "ICT"}, []string{"hc-admin-1"}},
		{"another organisation's manager has no reports here", "hc-cso-1", &notifyv1.ListStaffMembersRequest{LineManagerId: "vb-lm-1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.ListStaffMembers(as(t, tt.caller), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range resp.GetStaffMembers() {
				got = append(got, m.GetId())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func testDelivery(id, org, status string, created time.Time) delivery.Delivery {
	return delivery.Delivery{
		ID: id, Organization: org, EventID: id + "#00000001", EventType: "incident.reported", Reference: "REF-" + id,
		Recipient: "someone", RecipientEmail: "someone@example.org", Subject: "Incident REF-" + id, Status: status,
		NextAttemptTime: created, CreateTime: created, UpdateTime: created,
	}
}

func seededDeliveries() []delivery.Delivery {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	return []delivery.Delivery{
		testDelivery("hc-1", "highland-council", delivery.StatusSent, t0),
		testDelivery("hc-2", "highland-council", delivery.StatusQueued, t0.Add(time.Minute)),
		testDelivery("hc-3", "highland-council", delivery.StatusDead, t0.Add(2*time.Minute)),
		testDelivery("vb-1", "valuation-board", delivery.StatusQueued, t0.Add(3*time.Minute)),
		testDelivery("vb-2", "valuation-board", delivery.StatusDead, t0.Add(4*time.Minute)),
	}
}

func TestDeliveriesAreForAdminsOfTheirOwnOrganisation(t *testing.T) {
	s := newServer(t, seededDeliveries()...)
	tests := []struct {
		name   string
		caller string
		get    string // GetDelivery name
		code   codes.Code
		list   []string // ListDeliveries ids, newest first, when code is OK
	}{
		{"staff member is denied", "hc-cso-1", "deliveries/hc-1", codes.PermissionDenied, nil},
		{"manager is denied", "hc-mgr-1", "deliveries/hc-1", codes.PermissionDenied, nil},
		{"board staff is denied", "vb-lm-1", "deliveries/vb-1", codes.PermissionDenied, nil},
		{"council admin reads council deliveries", "hc-admin-1", "deliveries/hc-2", codes.OK, []string{"hc-3", "hc-2", "hc-1"}},
		{"board admin reads board deliveries", "vb-admin-1", "deliveries/vb-2", codes.OK, []string{"vb-2", "vb-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := as(t, tt.caller)
			d, err := s.GetDelivery(ctx, &notifyv1.GetDeliveryRequest{Name: tt.get})
			if code(err) != tt.code {
				t.Fatalf("GetDelivery code %v (%v), want %v", code(err), err, tt.code)
			}
			if tt.code == codes.OK && (d.GetName() != tt.get || d.GetOrganization() == "" || d.GetMessageId() == "") {
				t.Errorf("GetDelivery = %v", d)
			}
			resp, err := s.ListDeliveries(ctx, &notifyv1.ListDeliveriesRequest{})
			if code(err) != tt.code {
				t.Fatalf("ListDeliveries code %v (%v), want %v", code(err), err, tt.code)
			}
			var got []string
			for _, d := range resp.GetDeliveries() {
				got = append(got, d.GetName()[len("deliveries/"):])
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.list) {
				t.Errorf("ListDeliveries = %v, want %v", got, tt.list)
			}
		})
	}
}

func TestAdminNeverGetsAnotherOrganisationsDelivery(t *testing.T) {
	s := newServer(t, seededDeliveries()...)
	tests := []struct {
		caller, name string
	}{
		{"hc-admin-1", "deliveries/vb-1"},
		{"hc-admin-1", "deliveries/vb-2"},
		{"vb-admin-1", "deliveries/hc-1"},
		{"hc-admin-1", "deliveries/none"},
	}
	for _, tt := range tests {
		t.Run(tt.caller+" "+tt.name, func(t *testing.T) {
			d, err := s.GetDelivery(as(t, tt.caller), &notifyv1.GetDeliveryRequest{Name: tt.name})
			if code(err) != codes.NotFound || d != nil {
				t.Errorf("GetDelivery = %v, %v; want NotFound", d, err)
			}
		})
	}
	// Filters cannot reach across organisations either.
	resp, err := s.ListDeliveries(as(t, "hc-admin-1"), &notifyv1.ListDeliveriesRequest{EventId: "vb-1#00000001"})
	if err != nil || len(resp.GetDeliveries()) != 0 {
		t.Errorf("ListDeliveries by another organisation's event = %v, %v", resp.GetDeliveries(), err)
	}
}

func TestListDeliveriesFiltersAndPaginates(t *testing.T) {
	s := newServer(t, seededDeliveries()...)
	ctx := as(t, "hc-admin-1")

	resp, err := s.ListDeliveries(ctx, &notifyv1.ListDeliveriesRequest{Status: notifyv1.DeliveryStatus_DELIVERY_STATUS_DEAD})
	if err != nil || len(resp.GetDeliveries()) != 1 || resp.GetDeliveries()[0].GetName() != "deliveries/hc-3" ||
		resp.GetDeliveries()[0].GetStatus() != notifyv1.DeliveryStatus_DELIVERY_STATUS_DEAD {
		t.Errorf("dead deliveries = %v, %v", resp.GetDeliveries(), err)
	}

	for _, size := range []int32{1, 2, 3} {
		t.Run(fmt.Sprintf("page size %d", size), func(t *testing.T) {
			var got []string
			token := ""
			for page := 0; ; page++ {
				if page > 10 {
					t.Fatal("pagination does not end")
				}
				resp, err := s.ListDeliveries(ctx, &notifyv1.ListDeliveriesRequest{PageSize: size, PageToken: token})
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.GetDeliveries()) > int(size) {
					t.Errorf("page of %d for page size %d", len(resp.GetDeliveries()), size)
				}
				for _, d := range resp.GetDeliveries() {
					got = append(got, d.GetName())
				}
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			if fmt.Sprint(got) != "[deliveries/hc-3 deliveries/hc-2 deliveries/hc-1]" {
				t.Errorf("pages = %v", got)
			}
		})
	}
}

func TestBadRequestsAreInvalidArgument(t *testing.T) {
	s := newServer(t, seededDeliveries()...)
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"staff: page token not base64", func(ctx context.Context) error {
			_, err := s.ListStaffMembers(ctx, &notifyv1.ListStaffMembersRequest{PageToken: "!!!"})
			return err
		}},
		{"staff: page token not a number", func(ctx context.Context) error {
			_, err := s.ListStaffMembers(ctx, &notifyv1.ListStaffMembersRequest{PageToken: "YWJj"}) // "abc"
			return err
		}},
		{"staff: negative offset token", func(ctx context.Context) error {
			_, err := s.ListStaffMembers(ctx, &notifyv1.ListStaffMembersRequest{PageToken: "LTE"}) // "-1"
			return err
		}},
		{"staff: page size too large", func(ctx context.Context) error {
			_, err := s.ListStaffMembers(ctx, &notifyv1.ListStaffMembersRequest{PageSize: 501})
			return err
		}},
		{"staff: negative page size", func(ctx context.Context) error {
			_, err := s.ListStaffMembers(ctx, &notifyv1.ListStaffMembersRequest{PageSize: -1})
			return err
		}},
		{"deliveries: bad page token", func(ctx context.Context) error {
			_, err := s.ListDeliveries(ctx, &notifyv1.ListDeliveriesRequest{PageToken: "not a token"})
			return err
		}},
		{"delivery: bad name", func(ctx context.Context) error {
			_, err := s.GetDelivery(ctx, &notifyv1.GetDeliveryRequest{Name: "incidents/hc-1"})
			return err
		}},
		{"delivery: empty name", func(ctx context.Context) error {
			_, err := s.GetDelivery(ctx, &notifyv1.GetDeliveryRequest{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(as(t, "hc-admin-1")); code(err) != codes.InvalidArgument {
				t.Errorf("code %v (%v), want InvalidArgument", code(err), err)
			}
		})
	}
}

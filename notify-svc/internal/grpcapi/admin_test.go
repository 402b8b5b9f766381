package grpcapi

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/contactguard/contactguard/notify-svc/internal/delivery"
	notifyv1 "github.com/contactguard/contactguard/proto/notify/v1"
)

const hrExport = "Employee ID,Full Name,Email,Line Manager ID,Roles,Team\n" +
	"hc-new-1,Ailsa Ross,Ailsa.Ross@highland.example.org,hc-new-2,staff,Customer Services\n" +
	"hc-new-2,Hamish Bell,hamish.bell@highland.example.org,hc-mgr-1,staff;team_leader,Customer Services\n" +
	"hc-cso-1,Morag Fraser,morag.fraser@highland.example.org,hc-tl-1,staff,Customer Services\n"

func TestImportStaffCreatesUpdatesAndNeverDuplicates(t *testing.T) {
	s := newServer(t)
	admin := as(t, "hc-admin-1")
	resp, err := s.ImportStaff(admin, &notifyv1.ImportStaffRequest{Csv: []byte(hrExport)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRows() != 3 || resp.GetCreated() != 2 || resp.GetUnchanged() != 1 || resp.GetUpdated() != 0 {
		t.Fatalf("first import = %v", resp)
	}
	// Again, with one change: updates, never duplicates.
	changed := strings.Replace(hrExport, "Hamish Bell", "Hamish Bell-Grant", 1)
	resp, err = s.ImportStaff(admin, &notifyv1.ImportStaffRequest{Csv: []byte(changed)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetCreated() != 0 || resp.GetUpdated() != 1 || resp.GetUnchanged() != 2 {
		t.Fatalf("second import = %v", resp)
	}
	m, err := s.GetStaffMember(admin, &notifyv1.GetStaffMemberRequest{Id: "hc-new-1"})
	if err != nil || m.GetEmail() != "ailsa.ross@highland.example.org" || m.GetLineManagerId() != "hc-new-2" || m.GetOrganization() != "highland-council" {
		t.Fatalf("imported member = %v, %v", m, err)
	}
	list, err := s.ListStaffMembers(admin, &notifyv1.ListStaffMembersRequest{PageSize: 500})
	if err != nil || len(list.GetStaffMembers()) != seedCount["highland-council"]+2 {
		t.Errorf("directory has %d members, want %d", len(list.GetStaffMembers()), seedCount["highland-council"]+2)
	}
}

func TestImportStaffReportsTheLineAndAppliesNothing(t *testing.T) {
	tests := []struct {
		name, csv, want string
	}{
		{"bad email on line 3", "id,name,email,line_manager_id,roles\nhc-a,A,a@highland.example.org,,staff\nhc-b,B,not-an-email,,staff\n", "line 3: email"},
		{"unknown role", "id,name,email,line_manager_id,roles\nhc-a,A,a@highland.example.org,,assessor\n", "line 2: role \"assessor\""},
		{"duplicate id", "id,name,email,line_manager_id,roles\nhc-a,A,a@highland.example.org,,staff\nhc-a,A2,a2@highland.example.org,,staff\n", "line 3: staff id hc-a is already on line 2"},
		{"unknown line manager", "id,name,email,line_manager_id,roles\nhc-a,A,a@highland.example.org,nobody,staff\n", "line 2: line manager nobody"},
		{"other organisation", "id,name,email,line_manager_id,roles,organisation\nhc-a,A,a@highland.example.org,,staff,valuation-board\n", "line 2: organisation"},
		{"short row", "id,name,email,line_manager_id,roles\nhc-a,A\n", "line 2:"},
		{"missing column", "id,name,email\nhc-a,A,a@highland.example.org\n", "line 1: the column \"line_manager_id\" is missing"},
		{"unknown column", "id,name,email,line_manager_id,roles,shoe_size\n", "line 1: unknown column"},
		{"empty", "", "is empty"},
		{"id of another organisation", "id,name,email,line_manager_id,roles\nvb-staff-1,X,x@highland.example.org,,staff\n", "belongs to another organisation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			admin := as(t, "hc-admin-1")
			_, err := s.ImportStaff(admin, &notifyv1.ImportStaffRequest{Csv: []byte(tt.csv)})
			if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want InvalidArgument containing %q", err, tt.want)
			}
			if _, err := s.GetStaffMember(admin, &notifyv1.GetStaffMemberRequest{Id: "hc-a"}); code(err) != codes.NotFound {
				t.Errorf("a row of a failed import was applied: %v", err)
			}
			if m, err := s.GetStaffMember(as(t, "vb-admin-1"), &notifyv1.GetStaffMemberRequest{Id: "vb-staff-1"}); err != nil || m.GetName() == "X" {
				t.Errorf("another organisation's member was touched: %v %v", m, err)
			}
		})
	}
}

func TestImportStaffIsForAdminsAndValidateOnlyAppliesNothing(t *testing.T) {
	s := newServer(t)
	_, err := s.ImportStaff(as(t, "hc-mgr-1"), &notifyv1.ImportStaffRequest{Csv: []byte(hrExport)})
	if code(err) != codes.PermissionDenied {
		t.Fatalf("manager import: %v", err)
	}
	resp, err := s.ImportStaff(as(t, "hc-admin-1"), &notifyv1.ImportStaffRequest{Csv: []byte(hrExport), ValidateOnly: true})
	if err != nil || resp.GetRows() != 3 || resp.GetCreated() != 0 {
		t.Fatalf("validate only = %v, %v", resp, err)
	}
	if _, err := s.GetStaffMember(as(t, "hc-admin-1"), &notifyv1.GetStaffMemberRequest{Id: "hc-new-1"}); code(err) != codes.NotFound {
		t.Errorf("validate_only applied a row: %v", err)
	}
}

func TestRetryDeliveryRequeuesDeadOnes(t *testing.T) {
	s := newServer(t, seededDeliveries()...)
	admin := as(t, "hc-admin-1")
	d, err := s.RetryDelivery(admin, &notifyv1.RetryDeliveryRequest{Name: "deliveries/hc-3"})
	if err != nil || d.GetStatus() != notifyv1.DeliveryStatus_DELIVERY_STATUS_QUEUED || d.GetAttempts() != 0 {
		t.Fatalf("retry dead = %v, %v", d, err)
	}
	if _, err := s.RetryDelivery(admin, &notifyv1.RetryDeliveryRequest{Name: "deliveries/hc-1"}); code(err) != codes.FailedPrecondition {
		t.Errorf("retry sent: %v", err)
	}
	if _, err := s.RetryDelivery(admin, &notifyv1.RetryDeliveryRequest{Name: "deliveries/vb-2"}); code(err) != codes.NotFound {
		t.Errorf("retry another organisation's: %v", err)
	}
	if _, err := s.RetryDelivery(as(t, "hc-mgr-1"), &notifyv1.RetryDeliveryRequest{Name: "deliveries/hc-3"}); code(err) != codes.PermissionDenied {
		t.Errorf("retry by a manager: %v", err)
	}
	if _, err := s.RetryDelivery(admin, &notifyv1.RetryDeliveryRequest{Name: "hc-3"}); code(err) != codes.InvalidArgument {
		t.Errorf("bad name: %v", err)
	}
	unresolved := testDelivery("hc-u", "highland-council", delivery.StatusDead, seededDeliveries()[0].CreateTime)
	unresolved.RecipientEmail = ""
	s = newServer(t, unresolved)
	if _, err := s.RetryDelivery(admin, &notifyv1.RetryDeliveryRequest{Name: "deliveries/hc-u"}); code(err) != codes.FailedPrecondition {
		t.Errorf("retry without recipient: %v", err)
	}
}

func TestNotificationRulesAreTheProfiles(t *testing.T) {
	s := newServer(t)
	rules, err := s.GetNotificationRules(as(t, "hc-cso-1"), &notifyv1.GetNotificationRulesRequest{Name: "organizations/highland-council/notificationRules"})
	if err != nil {
		t.Fatal(err)
	}
	var named *notifyv1.NotificationRule
	for _, r := range rules.GetRules() {
		if r.GetEventType() == "incident.staff_named_publicly" {
			named = r
		}
	}
	if named == nil || len(named.GetRecipients()) != 3 || !named.GetRecipients()[2].GetCc() || named.GetRecipients()[2].GetValue() != "corporate_communications" {
		t.Fatalf("staff named publicly rule = %v", named)
	}
	_, err = s.GetNotificationRules(as(t, "hc-cso-1"), &notifyv1.GetNotificationRulesRequest{Name: "organizations/valuation-board/notificationRules"})
	if code(err) != codes.NotFound {
		t.Errorf("other organisation's rules: %v", err)
	}
	_, err = s.GetNotificationRules(as(t, "hc-cso-1"), &notifyv1.GetNotificationRulesRequest{Name: "rules"})
	if code(err) != codes.InvalidArgument {
		t.Errorf("bad name: %v", err)
	}
}

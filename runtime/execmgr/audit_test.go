package execmgr

import (
	"errors"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

func TestAuditClientServer(t *testing.T) {
	a, b, err := PacketPair()
	if err != nil {
		t.Fatal(err)
	}
	host := sysnum.Host()
	other := sysnum.AArch64
	if host == sysnum.AArch64 {
		other = sysnum.X86_64
	}
	done := make(chan error, 1)
	go func() {
		done <- ServeAudit(b, func(r *AuditReq) (*AuditRules, error) {
			switch r.Entity {
			case "web":
				if r.Exe != "/bin/web" || r.Arch != string(host) {
					return nil, errors.New("unexpected request")
				}
				return &AuditRules{Entity: "web", Source: "/etc/kcfm/web.audit.yaml", Profile: "web_audit", Filter: FilterToWire(auditLike(t, host))}, nil
			case "foreign":
				return &AuditRules{Entity: "foreign", Filter: FilterToWire(auditLike(t, other))}, nil
			}
			return nil, errors.New("no audit config for entity " + r.Entity)
		}, nil)
	}()
	c, err := NewAuditClient(a)
	if err != nil {
		t.Fatal(err)
	}
	if c.Peer.Role != RoleAudit {
		t.Fatalf("peer %+v", c.Peer)
	}
	spec, rules, err := c.Rules("web", "/bin/web")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Arch != host || len(spec.Rules) != len(auditLike(t, host).Rules) || rules.Source != "/etc/kcfm/web.audit.yaml" || rules.Profile != "web_audit" {
		t.Fatalf("rules %+v", rules)
	}
	if _, _, err := c.Rules("nobody", "/bin/x"); err == nil || !strings.Contains(err.Error(), "no audit config for entity nobody") {
		t.Fatalf("got %v", err)
	}
	if _, _, err := c.Rules("foreign", "/bin/x"); err == nil || !strings.Contains(err.Error(), "this system is "+string(host)) {
		t.Fatalf("got %v", err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

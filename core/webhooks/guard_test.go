package webhooks_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/webhooks"
)

// One address in each range a webhook may not reach, IPv4, IPv6, and IPv4
// ranges carried inside IPv6 addresses.
var blockedAddrs = []string{
	"0.0.0.0", "0.1.2.3", // unspecified, this network
	"10.0.0.1", "10.255.255.254", // private
	"100.64.0.1", "100.127.255.254", // CGNAT
	"127.0.0.1", "127.8.9.10", // loopback
	"169.254.169.254",              // link-local (cloud metadata)
	"172.16.0.1", "172.31.255.254", // private
	"192.0.0.8", "192.0.2.1", "198.51.100.7", "203.0.113.9", // IETF, documentation
	"192.168.1.1",                  // private
	"198.18.0.1",                   // benchmarking
	"224.0.0.1", "239.255.255.250", // multicast
	"240.0.0.1", "255.255.255.255", // reserved, broadcast
	"::", "::1", // unspecified, loopback
	"::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", // IPv4-mapped
	"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", // NAT64-translated loopback, metadata
	"64:ff9b:1::1",                 // local-use NAT64
	"fc00::1", "fd12:3456:789a::1", // unique local
	"fe80::1", "fe80::1%eth0", // link-local
	"ff02::1",           // multicast
	"2001:db8::1",       // documentation
	"2002:7f00:1::1",    // 6to4 of 127.0.0.1
	"::127.0.0.1",       // IPv4-compatible
	"100::1",            // discard-only
	"fec0::1",           // site-local
	"2001:0:4136::1",    // Teredo
	"::ffff:0.0.0.0",    // mapped unspecified
	"::ffff:100.64.0.1", // mapped CGNAT
}

var publicAddrs = []string{"93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "100.63.255.255", "100.128.0.0"}

func TestClassify(t *testing.T) {
	for _, a := range blockedAddrs {
		if what, blocked := webhooks.Classify(netip.MustParseAddr(a)); !blocked || what == "" {
			t.Errorf("%s: not blocked", a)
		}
	}
	for _, a := range publicAddrs {
		if what, blocked := webhooks.Classify(netip.MustParseAddr(a)); blocked {
			t.Errorf("%s: blocked as %s", a, what)
		}
	}
}

// URLs whose host is, or resolves to, a blocked address are refused at
// creation with a message naming the range; with private networks allowed,
// or on the allow-list, they pass.
func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	strict, _ := webhooks.NewGuard(false, nil)
	open, _ := webhooks.NewGuard(true, nil)
	listed, err := webhooks.NewGuard(false, []string{"10.20.0.0/16", "127.0.0.1", "hooks.internal", "*.corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range blockedAddrs {
		host := a
		if strings.Contains(a, ":") {
			host = "[" + strings.ReplaceAll(a, "%", "%25") + "]"
		}
		u := "https://" + host + "/hook"
		err := strict.CheckURL(ctx, u)
		if core.ErrorCode(err) != core.EINVALID {
			t.Errorf("%s: %v, want invalid", u, err)
		} else if msg := core.ErrorMessage(err); !strings.Contains(msg, "address") {
			t.Errorf("%s: message %q", u, msg)
		}
		if err := open.CheckURL(ctx, u); err != nil {
			t.Errorf("%s with private networks allowed: %v", u, err)
		}
	}
	// A host name resolving to loopback (from /etc/hosts: no DNS query).
	for _, u := range []string{"http://localhost:8080/x", "http://LOCALHOST./x"} {
		if err := strict.CheckURL(ctx, u); core.ErrorCode(err) != core.EINVALID || !strings.Contains(core.ErrorMessage(err), "loopback") {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"ftp://8.8.8.8/", "/relative", "https://", "http://[::1"} {
		if err := strict.CheckURL(ctx, u); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"https://8.8.8.8/hook", "https://[2606:4700:4700::1111]:8443/x"} {
		if err := strict.CheckURL(ctx, u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://10.20.3.4/x", "http://127.0.0.1:9/x", "http://hooks.internal/x", "https://a.corp.example/x", "http://[::ffff:10.20.0.1]/x"} {
		if err := listed.CheckURL(ctx, u); err != nil {
			t.Errorf("allow-listed %s: %v", u, err)
		}
	}
	for _, u := range []string{"http://10.21.0.1/x", "http://127.0.0.2/x", "http://[::1]/x"} {
		if err := listed.CheckURL(ctx, u); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("not allow-listed %s: %v", u, err)
		}
	}
	if _, err := webhooks.NewGuard(false, []string{"not a/host"}); err == nil {
		t.Error("bad allow-list entry accepted")
	}
}

// The dialer checks the address it connects to, whatever the URL said: a
// loopback receiver is unreachable through a strict guard, by address and by
// name, and nothing reaches it; allowed, it is reached.
func TestClientRefusesPrivateAtConnect(t *testing.T) {
	var hits atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(204)
	}))
	defer recv.Close()
	port := recv.URL[strings.LastIndex(recv.URL, ":")+1:]
	strict, _ := webhooks.NewGuard(false, nil)
	c := webhooks.NewClient(strict)
	for _, u := range []string{recv.URL, "http://localhost:" + port, "http://[::ffff:127.0.0.1]:" + port} {
		res, err := c.Post(u, "application/json", strings.NewReader("{}"))
		if err == nil {
			res.Body.Close()
			t.Errorf("%s: reached", u)
			continue
		}
		if !errors.Is(err, webhooks.ErrBlocked) {
			t.Errorf("%s: %v, want ErrBlocked", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("receiver hit %d times", n)
	}
	for _, c := range []struct {
		private bool
		list    []string
		url     string
	}{
		{true, nil, recv.URL},
		{false, []string{"127.0.0.0/8"}, recv.URL},
		{false, []string{"localhost"}, "http://localhost:" + port},
	} {
		guard, _ := webhooks.NewGuard(c.private, c.list)
		res, err := webhooks.NewClient(guard).Post(c.url, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatalf("allowed %s (%v): %v", c.url, c.list, err)
		}
		res.Body.Close()
	}
	if n := hits.Load(); n != 3 {
		t.Fatalf("receiver hit %d times, want 3", n)
	}
}

// A redirect is the answer, never followed: a redirect toward a private
// address (or anywhere) goes nowhere.
func TestClientDoesNotFollowRedirects(t *testing.T) {
	var inner atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.Add(1) }))
	defer target.Close()
	for _, loc := range []string{"http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", target.URL + "/private"} {
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, loc, http.StatusTemporaryRedirect)
		}))
		g, _ := webhooks.NewGuard(false, []string{redirector.Listener.Addr().String()[:strings.LastIndex(redirector.Listener.Addr().String(), ":")]})
		res, err := webhooks.NewClient(g).Post(redirector.URL, "application/json", strings.NewReader("{}"))
		redirector.Close()
		if err != nil {
			t.Fatalf("redirect to %s: %v", loc, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusTemporaryRedirect {
			t.Errorf("redirect to %s: status %d", loc, res.StatusCode)
		}
	}
	if n := inner.Load(); n != 0 {
		t.Fatalf("redirect target hit %d times", n)
	}
}

// The guard's dialer refuses by the address it is about to connect to, the
// check that holds when DNS answers differently than at creation.
func TestDialChecksAddress(t *testing.T) {
	g, _ := webhooks.NewGuard(false, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := g.DialContext(ctx, "tcp", ln.Addr().String())
	if err == nil {
		conn.Close()
		t.Fatal("dialled loopback")
	}
	if !errors.Is(err, webhooks.ErrBlocked) {
		t.Fatalf("%v", err)
	}
}

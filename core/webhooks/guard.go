package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/leadhub/leadhub/core"
)

// ErrBlocked is the error of a connection refused because its address is in
// a private, loopback or otherwise special range.
var ErrBlocked = errors.New("webhook target is not a public address")

// special are the ranges no webhook may reach unless allowed: every address
// that is not a public unicast one. IPv4 addresses embedded in IPv6 ones
// (mapped, NAT64, 6to4) are checked as the IPv4 address they carry.
var special = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified (this-network) address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT (shared) address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a 6to4 relay anycast address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use IPv4/IPv6 translation address"},
	{netip.MustParsePrefix("100::/64"), "a discard-only address"},
	{netip.MustParsePrefix("2001::/32"), "a Teredo tunnelling address"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("fc00::/7"), "a unique local (private) address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

var (
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	sixTo = netip.MustParsePrefix("2002::/16")
)

// Classify tells whether ip is in a range webhooks may not reach, and which.
func Classify(ip netip.Addr) (what string, blocked bool) {
	if !ip.IsValid() {
		return "not an address", true
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		if what, blocked := Classify(ip.Unmap()); blocked {
			return what + " (IPv4-mapped)", true
		}
		return "", false
	}
	if ip.Is6() {
		b := ip.As16()
		if nat64.Contains(ip) {
			if what, blocked := Classify(netip.AddrFrom4([4]byte(b[12:16]))); blocked {
				return what + " (NAT64-translated)", true
			}
			return "", false
		}
		if sixTo.Contains(ip) {
			if what, blocked := Classify(netip.AddrFrom4([4]byte(b[2:6]))); blocked {
				return what + " (6to4)", true
			}
		}
	}
	for _, s := range special {
		if s.prefix.Contains(ip) {
			return s.what, true
		}
	}
	return "", false
}

// Guard decides which addresses webhooks may reach: public unicast ones, and
// private ones only when allowed (all of them, or those on the allow-list).
type Guard struct {
	allowPrivate bool
	nets         []netip.Prefix
	hosts        []string // lower case; "*.example.com" matches subdomains
	resolver     *net.Resolver
	dialer       *net.Dialer
}

// NewGuard builds a guard. allowList holds CIDRs ("10.1.0.0/16"), addresses
// ("10.1.2.3") and host names ("hooks.internal", "*.corp.example").
func NewGuard(allowPrivate bool, allowList []string) (*Guard, error) {
	g := &Guard{allowPrivate: allowPrivate, resolver: net.DefaultResolver}
	for _, e := range allowList {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			g.nets = append(g.nets, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil {
			g.nets = append(g.nets, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		name := strings.TrimPrefix(e, "*.")
		if strings.ContainsAny(name, "/:* ") || name == "" {
			return nil, fmt.Errorf("webhooks allow-list: %q is neither a CIDR, an address nor a host name", e)
		}
		g.hosts = append(g.hosts, e)
	}
	g.dialer = &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, ControlContext: g.control}
	return g, nil
}

// AllowedIP reports whether a connection to ip may be made, and if not why.
func (g *Guard) AllowedIP(ip netip.Addr) (bool, string) {
	what, blocked := Classify(ip)
	if !blocked || g.allowPrivate {
		return true, ""
	}
	ip = ip.WithZone("").Unmap()
	for _, p := range g.nets {
		if p.Contains(ip) {
			return true, ""
		}
	}
	return false, what
}

func (g *Guard) hostAllowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range g.hosts {
		if h == host || (strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:])) {
			return true
		}
	}
	return false
}

type allowedHostKey struct{}

// control runs on every connection after the name was resolved and before
// it connects: the address checked is the one dialled, whatever DNS said
// when the webhook was created.
func (g *Guard) control(ctx context.Context, network, address string, _ syscall.RawConn) error {
	if ctx.Value(allowedHostKey{}) != nil {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlocked, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlocked, address)
	}
	if ok, what := g.AllowedIP(ip); !ok {
		return fmt.Errorf("%w: %s is %s", ErrBlocked, ip.WithZone(""), what)
	}
	return nil
}

// DialContext dials through the guard: host names on the allow-list may
// reach private addresses, every other connection is checked as it is made.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err == nil && g.hostAllowed(host) {
		ctx = context.WithValue(ctx, allowedHostKey{}, true)
	}
	return g.dialer.DialContext(ctx, network, addr)
}

// CheckURL refuses, with EINVALID on the url field, a webhook URL that is not
// absolute http(s) or whose host is (or resolves to) an address the guard
// blocks. A name that does not resolve now is accepted: every connection is
// checked again when it is made.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	bad := func(msg string) error { return core.Invalid(map[string]string{"url": msg}) }
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return bad("must be an absolute http or https URL")
	}
	host := u.Hostname()
	if g.hostAllowed(host) {
		return nil
	}
	if name := strings.ToLower(strings.TrimSuffix(host, ".")); name == "localhost" || strings.HasSuffix(name, ".localhost") {
		if ok, _ := g.AllowedIP(netip.MustParseAddr("127.0.0.1")); !ok {
			return bad(host + " is a loopback name; webhooks may only target public addresses")
		}
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ok, what := g.AllowedIP(ip); !ok {
			return bad(fmt.Sprintf("%s is %s; webhooks may only target public addresses", host, what))
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ips, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, ip := range ips {
		if ok, what := g.AllowedIP(ip); !ok {
			return bad(fmt.Sprintf("%s resolves to %s, %s; webhooks may only target public addresses", host, ip.WithZone(""), what))
		}
	}
	return nil
}

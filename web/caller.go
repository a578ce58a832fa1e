package web

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/grants"
)

// caller is who calls, for the pipeline: the address its guards key on,
// and whatever credentials the surface read (set by the caller of this).
// The address is the peer's, unless the peer is one of the trusted proxies
// (Options.TrustedProxies): then it is the nearest hop that the forwarding
// headers name and that is not itself a trusted proxy.
func (s *Server) caller(r *http.Request) grants.Caller {
	return grants.Caller{Addr: clientAddr(r.RemoteAddr, r.Header, s.trustedProxies)}
}

// readProof reads the request's DPoP proof into who, with the method and
// URL the proof must name: the URL as the issuer publishes it, which is
// what the client was told, whatever a proxy rewrote on the way.
func (s *Server) readProof(r *http.Request, who *grants.Caller) error {
	proofs := r.Header.Values("DPoP")
	if len(proofs) > 1 {
		return broker.Invalid("DPoP", "send one DPoP header")
	}
	if len(proofs) == 1 {
		who.DPoP, who.Method, who.URL = proofs[0], r.Method, strings.TrimSuffix(s.broker.Issuer(), "/")+r.URL.Path
	}
	return nil
}

// bearerCaller is the caller with its Bearer token (RFC 6750 §2.1), if it
// sent one.
func (s *Server) bearerCaller(r *http.Request) grants.Caller {
	c := s.caller(r)
	if scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		c.Bearer = strings.TrimSpace(token)
	}
	return c
}

// clientAddr is the address of the caller of a request from remoteAddr
// with header h. Only hops a trusted proxy appended are believed: the list
// is walked from the right (the nearest hop) past trusted proxies, and what
// lies left of the first untrusted hop is the caller's to write, so it is
// never read. A hop that is not an address (malformed, "unknown", an
// obfuscated RFC 7239 name) leaves the peer as the caller. When both
// X-Forwarded-For and Forwarded are sent they must name the same caller,
// or the peer is the caller: a proxy that writes one passes the other on
// as the client wrote it.
func clientAddr(remoteAddr string, h http.Header, trusted []netip.Prefix) string {
	peer, ok := hopAddr(remoteAddr)
	if !ok {
		host, _, err := net.SplitHostPort(remoteAddr)
		if err != nil {
			return remoteAddr
		}
		return host
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	xff, forwarded := h.Values("X-Forwarded-For"), h.Values("Forwarded")
	var names []netip.Addr
	if len(xff) > 0 {
		names = append(names, nearestUntrusted(strings.Split(strings.Join(xff, ","), ","), trusted))
	}
	if len(forwarded) > 0 {
		names = append(names, nearestUntrusted(forwardedFor(strings.Join(forwarded, ",")), trusted))
	}
	if len(names) == 0 || !names[0].IsValid() || slices.ContainsFunc(names, func(a netip.Addr) bool { return a != names[0] }) {
		return peer.String()
	}
	return names[0].String()
}

// nearestUntrusted walks hops (nearest last) from the right and returns the
// first that is not a trusted proxy, the farthest if all are; the zero
// Addr when a hop it walks is not an address, or there is none.
func nearestUntrusted(hops []string, trusted []netip.Prefix) netip.Addr {
	var a netip.Addr
	for _, hop := range slices.Backward(hops) {
		var ok bool
		if a, ok = hopAddr(hop); !ok {
			return netip.Addr{}
		}
		if !isTrusted(a, trusted) {
			break
		}
	}
	return a
}

// forwardedFor is the for= value of each element of a Forwarded header
// (RFC 7239 §4), nearest last; "" for an element without one.
func forwardedFor(v string) []string {
	var hops []string
	for _, element := range splitQuoted(v, ',') {
		hop := ""
		for _, pair := range splitQuoted(element, ';') {
			if name, value, _ := strings.Cut(pair, "="); strings.EqualFold(strings.TrimSpace(name), "for") {
				hop = unquote(strings.TrimSpace(value))
			}
		}
		hops = append(hops, hop)
	}
	return hops
}

// splitQuoted splits v at sep outside quoted strings (RFC 9110 §5.6.4).
func splitQuoted(v string, sep byte) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			parts, start = append(parts, v[start:i]), i+1
		}
	}
	return append(parts, v[start:])
}

// unquote is a quoted string's content, or v when it is not quoted.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' && i+1 < len(v)-1 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// hopAddr parses one hop: an IPv4 or IPv6 address, bracketed or not, with
// or without a port, as proxies write them. An IPv4-mapped IPv6 address is
// its IPv4 address, so that one caller has one key.
func hopAddr(hop string) (netip.Addr, bool) {
	hop = strings.TrimSpace(hop)
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if inner, ok := strings.CutPrefix(hop, "["); ok {
		if hop, ok = strings.CutSuffix(inner, "]"); !ok {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(hop)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
}

// CallerAddress is the address a request comes from, by the public
// listener's rule for trusted proxies: the admin listener records it in
// the audit trail.
func (s *Server) CallerAddress(r *http.Request) string {
	return clientAddr(r.RemoteAddr, r.Header, s.trustedProxies)
}

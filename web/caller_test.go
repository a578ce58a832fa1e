package web

import (
	"net/http"
	"net/netip"
	"testing"
)

// TestClientAddr: the caller's address is the peer's unless the peer is a
// trusted proxy, and then the nearest forwarded hop that is not one; what
// a caller could have written itself is never believed.
func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:f::/48")}
	const proxy = "10.0.0.1:4711"
	for _, tc := range []struct {
		name    string
		peer    string
		header  http.Header
		trusted []netip.Prefix
		want    string
	}{
		{name: "should take the peer because no proxy is trusted", peer: "198.51.100.9:1234", header: http.Header{"X-Forwarded-For": {"192.0.2.1"}}, want: "198.51.100.9"},
		{name: "should take the peer because it is no trusted proxy", peer: "198.51.100.9:1234", header: http.Header{"X-Forwarded-For": {"192.0.2.1"}, "Forwarded": {"for=192.0.2.1"}}, trusted: proxies, want: "198.51.100.9"},
		{name: "should take the peer because the proxy forwarded nothing", peer: proxy, trusted: proxies, want: "10.0.0.1"},
		{name: "should take the forwarded caller because the peer is a trusted proxy", peer: proxy, header: http.Header{"X-Forwarded-For": {"192.0.2.1"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should skip spoofed hops because an untrusted hop is to their right", peer: proxy, header: http.Header{"X-Forwarded-For": {"203.0.113.66, 192.0.2.1"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should walk past trusted proxies because they only relay", peer: proxy, header: http.Header{"X-Forwarded-For": {"203.0.113.66, 192.0.2.1, 10.1.1.1,10.2.2.2"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should read every X-Forwarded-For line because they are one list", peer: proxy, header: http.Header{"X-Forwarded-For": {"192.0.2.1", "10.1.1.1"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should take the farthest hop because every hop is a trusted proxy", peer: proxy, header: http.Header{"X-Forwarded-For": {"10.3.3.3, 10.1.1.1"}}, trusted: proxies, want: "10.3.3.3"},
		{name: "should drop the port because proxies may write one", peer: proxy, header: http.Header{"X-Forwarded-For": {"192.0.2.1:5555"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should read a bracketed IPv6 hop with a port", peer: "[2001:db8:f::1]:443", header: http.Header{"X-Forwarded-For": {"[2001:db8::7]:5555"}}, trusted: proxies, want: "2001:db8::7"},
		{name: "should unmap an IPv4-mapped hop because it is one caller", peer: proxy, header: http.Header{"X-Forwarded-For": {"::ffff:192.0.2.1"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should trust an IPv4-mapped peer because it is the proxy", peer: "[::ffff:10.0.0.1]:4711", header: http.Header{"X-Forwarded-For": {"192.0.2.1"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should take the peer because the nearest hop is malformed", peer: proxy, header: http.Header{"X-Forwarded-For": {"192.0.2.1, not-an-address"}}, trusted: proxies, want: "10.0.0.1"},
		{name: "should take the peer because the nearest hop is empty", peer: proxy, header: http.Header{"X-Forwarded-For": {"192.0.2.1,"}}, trusted: proxies, want: "10.0.0.1"},
		{name: "should take the peer because a bracket is unclosed", peer: proxy, header: http.Header{"X-Forwarded-For": {"[2001:db8::7"}}, trusted: proxies, want: "10.0.0.1"},
		{name: "should ignore a malformed hop because it is left of the caller", peer: proxy, header: http.Header{"X-Forwarded-For": {"garbage, 192.0.2.1"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should read Forwarded for=", peer: proxy, header: http.Header{"Forwarded": {"for=192.0.2.1;proto=https;by=10.0.0.1"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should read a quoted IPv6 for= with a port", peer: proxy, header: http.Header{"Forwarded": {`for="[2001:db8::7]:4711"`}}, trusted: proxies, want: "2001:db8::7"},
		{name: "should read Forwarded's parameter names in any case", peer: proxy, header: http.Header{"Forwarded": {"proto=http; For=192.0.2.1"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should skip spoofed Forwarded elements because an untrusted hop is to their right", peer: proxy, header: http.Header{"Forwarded": {"for=203.0.113.66, for=192.0.2.1", "for=10.1.1.1"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should split Forwarded outside quotes only", peer: proxy, header: http.Header{"Forwarded": {`for=192.0.2.1;ext="a,b;for=203.0.113.66"`}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should take the peer because the caller is unknown", peer: proxy, header: http.Header{"Forwarded": {"for=unknown"}}, trusted: proxies, want: "10.0.0.1"},
		{name: "should take the peer because the caller is obfuscated", peer: proxy, header: http.Header{"Forwarded": {"for=_hidden"}}, trusted: proxies, want: "10.0.0.1"},
		{name: "should take the peer because the nearest element has no for=", peer: proxy, header: http.Header{"Forwarded": {"for=192.0.2.1, proto=https"}}, trusted: proxies, want: "10.0.0.1"},
		{name: "should take the caller both headers name", peer: proxy, header: http.Header{"X-Forwarded-For": {"192.0.2.1"}, "Forwarded": {"for=192.0.2.1"}}, trusted: proxies, want: "192.0.2.1"},
		{name: "should take the peer because the two headers disagree", peer: proxy, header: http.Header{"X-Forwarded-For": {"192.0.2.1"}, "Forwarded": {"for=203.0.113.66"}}, trusted: proxies, want: "10.0.0.1"},
		{name: "should take the peer because one of the two headers is malformed", peer: proxy, header: http.Header{"X-Forwarded-For": {"192.0.2.1"}, "Forwarded": {"for=unknown"}}, trusted: proxies, want: "10.0.0.1"},
		{name: "should keep a peer that is no address as it is", peer: "@", header: http.Header{"X-Forwarded-For": {"192.0.2.1"}}, trusted: proxies, want: "@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clientAddr(tc.peer, tc.header, tc.trusted); got != tc.want {
				t.Errorf("clientAddr(%q, %v) = %q, want %q", tc.peer, tc.header, got, tc.want)
			}
		})
	}
}

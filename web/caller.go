package web

import (
	"net"
	"net/http"
	"strings"

	"github.com/bridgekeeper/bridgekeeper/grants"
)

// caller is who calls, for the pipeline: the address its guards key on,
// and whatever credentials the surface read (set by the caller of this).
func caller(r *http.Request) grants.Caller {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return grants.Caller{Addr: host}
}

// bearerCaller is the caller with its Bearer token (RFC 6750 §2.1), if it
// sent one.
func bearerCaller(r *http.Request) grants.Caller {
	c := caller(r)
	if scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		c.Bearer = strings.TrimSpace(token)
	}
	return c
}

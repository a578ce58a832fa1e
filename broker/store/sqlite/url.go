package sqlite

import (
	"fmt"
	"net/url"
	"strings"
)

// PathFromURL turns a database URL into a file path: "sqlite:///abs/path.db"
// names /abs/path.db and "sqlite://data/bk.db" the relative data/bk.db. The
// rest of the URL is taken as a path, not as host and path, because a
// relative path's first element is not a host. Percent-escapes are decoded;
// query strings and fragments are refused rather than silently dropped.
func PathFromURL(u string) (string, error) {
	const scheme = "sqlite://"
	if len(u) < len(scheme) || !strings.EqualFold(u[:len(scheme)], scheme) {
		return "", fmt.Errorf("sqlite: %q is not a sqlite:// URL", u)
	}
	rest := u[len(scheme):]
	if strings.ContainsAny(rest, "?#") {
		return "", fmt.Errorf("sqlite: URL %q: query and fragment are not supported", u)
	}
	p, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("sqlite: URL %q: %w", u, err)
	}
	if p == "" || p == "/" {
		return "", fmt.Errorf("sqlite: URL %q names no file", u)
	}
	return p, nil
}

package sqlstore

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// JoinList encodes a list field as one space-separated text column. It
// refuses items the column could not give back; the error names field and
// leaves the backend's prefix to the caller.
func JoinList(field string, xs []string) (string, error) {
	for _, x := range xs {
		if x == "" || strings.ContainsFunc(x, unicode.IsSpace) {
			return "", fmt.Errorf("%s item %q is empty or holds whitespace", field, x)
		}
	}
	return strings.Join(xs, " "), nil
}

// SplitList decodes a column written by JoinList; the empty string is a nil
// list.
func SplitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

// ClientLists encodes a client's list columns.
func ClientLists(c broker.Client) (grants, scopes, uris, resources string, err error) {
	if grants, err = JoinList("grant", c.Grants); err != nil {
		return "", "", "", "", err
	}
	if scopes, err = JoinList("scope", c.Scopes); err != nil {
		return "", "", "", "", err
	}
	if uris, err = JoinList("redirect URI", c.RedirectURIs); err != nil {
		return "", "", "", "", err
	}
	if resources, err = JoinList("resource", c.Resources); err != nil {
		return "", "", "", "", err
	}
	return grants, scopes, uris, resources, nil
}

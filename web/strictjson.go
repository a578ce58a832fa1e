package web

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode"

	// jsontext (the Go team's JSON v2) refuses duplicate names, bad UTF-8 and lone surrogates; encoding/json does not.
	"github.com/go-json-experiment/json/jsontext"
)

var (
	errJSONTrailing   = errors.New("data after the JSON value")
	errJSONFoldedName = errors.New("object names differing only in letter case")
)

// strictJSON checks that raw is exactly one JSON value that every decoder
// reads the same way, at any depth: no name repeated in an object, not even
// in another letter case (encoding/json matches struct fields case-
// insensitively, and the last one wins), only valid UTF-8 and no lone
// surrogate (both would become U+FFFD, so that different IDs name one
// player). Callers decode raw after it passes.
func strictJSON(raw []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(raw))
	var names []map[string]bool // the folded names of each open object
	for {
		depth := dec.StackDepth()
		kind, n := dec.StackIndex(depth)
		if depth == 0 && n == 1 {
			if _, err := dec.ReadToken(); err != io.EOF {
				return errJSONTrailing
			}
			return nil
		}
		tok, err := dec.ReadToken()
		if err == io.EOF {
			return io.ErrUnexpectedEOF // no value at all
		}
		if err != nil {
			return err
		}
		switch k := tok.Kind(); {
		case k == jsontext.KindBeginObject:
			names = append(names, map[string]bool{})
		case k == jsontext.KindEndObject:
			names = names[:len(names)-1]
		case kind == jsontext.KindBeginObject && n%2 == 0: // a name
			folded, seen := foldName(tok.String()), names[len(names)-1]
			if seen[folded] {
				return errJSONFoldedName
			}
			seen[folded] = true
		}
	}
}

// foldName folds s as encoding/json does when it matches a name to a struct
// field (strings.EqualFold): each rune becomes the least of its fold set.
func foldName(s string) string {
	return strings.Map(func(r rune) rune {
		for {
			next := unicode.SimpleFold(r)
			if next <= r {
				return next
			}
			r = next
		}
	}, s)
}

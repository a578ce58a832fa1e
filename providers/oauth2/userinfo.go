package oauth2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// maxUserinfoBytes caps the user-info answer read into memory.
const maxUserinfoBytes = 1 << 20

// integer is what a numeric user ID may look like: JSON numbers with a
// fraction or an exponent are not IDs.
var integer = regexp.MustCompile(`^-?[0-9]+$`)

// fetchUserinfo GETs url with accessToken as a Bearer token in the
// Authorization header (RFC 6750 §2.1) and returns the JSON object it
// answers, numbers kept as json.Number so that a 64-bit ID survives intact.
func fetchUserinfo(ctx context.Context, client *http.Client, url, accessToken string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserinfoBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxUserinfoBytes {
		return nil, fmt.Errorf("answer is larger than %d bytes", maxUserinfoBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var info map[string]any
	if err := dec.Decode(&info); err != nil {
		return nil, fmt.Errorf("answer is not a JSON object: %w", err)
	}
	if info == nil {
		return nil, errors.New("answer is null, not a JSON object")
	}
	return info, nil
}

// statusError describes a failed user-info request by its status and the
// platform's explanation: an error and error_description in a JSON body
// (Mobage: 401 with "The access token expired") or in the WWW-Authenticate
// challenge (RFC 6750 §3).
func statusError(resp *http.Response, body []byte) error {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &e) // the status alone is enough if this fails
	msg := resp.Status
	switch {
	case e.Error != "" || e.Description != "":
		msg += fmt.Sprintf(": %s %q", e.Error, e.Description)
	case resp.Header.Get("WWW-Authenticate") != "":
		msg += ": " + resp.Header.Get("WWW-Authenticate")
	}
	return errors.New(msg)
}

// userID finds the user ID at path in info: keys descend into objects, a
// key of digits indexes an array. The value must be a non-empty string or
// an integer, returned in its decimal form.
func userID(info map[string]any, path []string) (string, error) {
	var v any = info
	for i, key := range path {
		at := strings.Join(path[:i+1], ".")
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[key]
			if !ok {
				return "", fmt.Errorf("no %s in the answer", at)
			}
			v = next
		case []any:
			n, err := strconv.Atoi(key)
			if err != nil || n < 0 || n >= len(node) {
				return "", fmt.Errorf("no %s in the answer: %s is an array of %d", at, strings.Join(path[:i], "."), len(node))
			}
			v = node[n]
		default:
			return "", fmt.Errorf("no %s in the answer: %s is not an object", at, strings.Join(path[:i], "."))
		}
	}
	field := strings.Join(path, ".")
	switch id := v.(type) {
	case string:
		if id == "" {
			return "", fmt.Errorf("%s is empty", field)
		}
		return id, nil
	case json.Number:
		if !integer.MatchString(id.String()) {
			return "", fmt.Errorf("%s is %s, not an integer", field, id)
		}
		return id.String(), nil
	case nil:
		return "", fmt.Errorf("%s is null", field)
	case map[string]any:
		return "", fmt.Errorf("%s is an object, not a string or an integer", field)
	case []any:
		return "", fmt.Errorf("%s is an array, not a string or an integer", field)
	}
	return "", fmt.Errorf("%s is %v, not a string or an integer", field, v)
}

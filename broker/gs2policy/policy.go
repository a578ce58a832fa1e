package gs2policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// GS2 policy documents (GS2-Auth federation): which actions on which
// resources a federated token may perform.
//
//	{"Version": "2016-04-01", "Statements": [
//	  {"Effect": "Allow", "Actions": ["Gs2Inventory:*"], "Resources": ["*"]},
//	  {"Effect": "Deny", "Actions": ["Gs2Inventory:Delete*"], "Resources": ["*"]}]}

// Version is the only policy language version GS2 defines.
const Version = "2016-04-01"

// MaxLen is GS2's bound on a policy document (characters).
const MaxLen = 524288

// Policy is a parsed, valid policy document.
type Policy struct {
	Version    string      `json:"Version"`
	Statements []Statement `json:"Statements"`
}

// Statement allows or denies actions on resources; `*` in an action or
// resource matches any run of characters.
type Statement struct {
	Effect    string   `json:"Effect"` // Allow | Deny
	Actions   []string `json:"Actions"`
	Resources []string `json:"Resources"`
}

// Parse parses and validates a policy document, reporting every
// problem at once.
func Parse(doc []byte) (Policy, error) {
	var p Policy
	if utf8.RuneCount(doc) > MaxLen {
		return p, fmt.Errorf("policy document is longer than %d characters", MaxLen)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, fmt.Errorf("policy document is not valid JSON of the policy shape: %w", err)
	}
	if dec.More() {
		return Policy{}, errors.New("policy document has data after its JSON object")
	}
	var errs []error
	if p.Version != Version {
		errs = append(errs, fmt.Errorf("Version must be %q", Version))
	}
	if len(p.Statements) == 0 {
		errs = append(errs, errors.New("Statements must not be empty"))
	}
	for i, st := range p.Statements {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			errs = append(errs, fmt.Errorf("Statements[%d].Effect must be Allow or Deny", i))
		}
		for field, list := range map[string][]string{"Actions": st.Actions, "Resources": st.Resources} {
			if len(list) == 0 {
				errs = append(errs, fmt.Errorf("Statements[%d].%s must not be empty", i, field))
			}
			for j, v := range list {
				if v == "" {
					errs = append(errs, fmt.Errorf("Statements[%d].%s[%d] must not be empty", i, field, j))
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// Allows reports whether the policy lets action be performed on resource:
// some Allow statement matches both, and no Deny statement does (an
// explicit deny wins; anything not allowed is denied).
func (p Policy) Allows(action, resource string) bool {
	allowed := false
	for _, st := range p.Statements {
		if !anyMatch(st.Actions, action) || !anyMatch(st.Resources, resource) {
			continue
		}
		if st.Effect == "Deny" {
			return false
		}
		allowed = true
	}
	return allowed
}

func anyMatch(patterns []string, s string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against pattern, where '*' matches any run of
// characters (':' and '/' included, unlike path.Match: GRNs and actions
// are colon-separated). A greedy match that backtracks only to the last
// star: at worst O(len(pattern)·len(s)), never exponential, so a hostile
// pattern cannot stall a check.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

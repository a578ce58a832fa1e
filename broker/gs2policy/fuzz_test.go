package gs2policy_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bridgekeeper/bridgekeeper/broker/gs2policy"
)

// Hostile-input fuzz target of the policy language. Seeds are in
// testdata/fuzz/.

// refMatch is wildcardMatch's reference, for valid UTF-8: '*' is any run
// of characters, everything else itself.
func refMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`(?s)\A` + strings.Join(parts, `.*`) + `\z`).MatchString(s)
}

// refAllows is Policy.Allows's reference: an explicit deny wins, else an
// allow is needed.
func refAllows(p gs2policy.Policy, action, resource string) bool {
	allowed := false
	for _, st := range p.Statements {
		matches := func(patterns []string, s string) bool {
			for _, pat := range patterns {
				if refMatch(pat, s) {
					return true
				}
			}
			return false
		}
		if matches(st.Actions, action) && matches(st.Resources, resource) {
			if st.Effect == "Deny" {
				return false
			}
			allowed = true
		}
	}
	return allowed
}

// FuzzPolicy: Parse on any document, and Allows on what it accepts.
// Properties: no panic; a parsed policy is valid (version, effects,
// non-empty lists) and survives a round trip through JSON with the same
// answers; Allows agrees with a regexp reference on UTF-8 input; a Deny of
// "*" on "*", added anywhere, makes Allows false.
func FuzzPolicy(f *testing.F) {
	f.Add([]byte(`{"Version":"2016-04-01","Statements":[{"Effect":"Allow","Actions":["Gs2Account:*"],"Resources":["*"]}]}`),
		"Gs2Account:GetAccount", "grn:gs2:ap-northeast-1:owner:account:game:account:u1")
	f.Fuzz(func(t *testing.T, doc []byte, action, resource string) {
		p, err := gs2policy.Parse(doc)
		if err != nil {
			return
		}
		if p.Version != gs2policy.Version || len(p.Statements) == 0 {
			t.Fatalf("accepted an invalid policy: %+v", p)
		}
		for i, st := range p.Statements {
			if (st.Effect != "Allow" && st.Effect != "Deny") || len(st.Actions) == 0 || len(st.Resources) == 0 {
				t.Fatalf("accepted an invalid statement %d: %+v", i, st)
			}
		}
		got := p.Allows(action, resource)
		if again := p.Allows(action, resource); again != got {
			t.Fatalf("Allows(%q, %q) is %v, then %v", action, resource, got, again)
		}
		if got && len(doc) > gs2policy.MaxLen {
			t.Fatal("a policy over the length limit allows")
		}
		// Round trip: what the broker stores and reparses means the same.
		re, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := gs2policy.Parse(re)
		if err != nil {
			t.Fatalf("the re-encoded policy %s is refused: %v", re, err)
		}
		if p2.Allows(action, resource) != got {
			t.Fatalf("the re-encoded policy %s answers %v, the original %v", re, !got, got)
		}
		if utf8.ValidString(action) && utf8.ValidString(resource) && len(re) < 64<<10 {
			if want := refAllows(p, action, resource); got != want {
				t.Fatalf("Allows(%q, %q) = %v, the reference says %v; policy %s", action, resource, got, want, re)
			}
		}
		deny := gs2policy.Statement{Effect: "Deny", Actions: []string{"*"}, Resources: []string{"*"}}
		for _, sts := range [][]gs2policy.Statement{
			append([]gs2policy.Statement{deny}, p.Statements...),
			append(append([]gs2policy.Statement{}, p.Statements...), deny),
		} {
			if (gs2policy.Policy{Version: p.Version, Statements: sts}).Allows(action, resource) {
				t.Fatalf("Allows(%q, %q) despite a Deny of * on *; policy %s", action, resource, re)
			}
		}
		// A Deny of * on * in the document itself.
		for _, st := range p.Statements {
			if st.Effect == "Deny" && contains(st.Actions, "*") && contains(st.Resources, "*") && got {
				t.Fatalf("Allows(%q, %q) with a Deny of * on * in %s", action, resource, re)
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

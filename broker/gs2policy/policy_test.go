package gs2policy

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		wantErr   string // "" = valid
	}{
		{"valid", `{"Version":"2016-04-01","Statements":[{"Effect":"Allow","Actions":["Gs2Account:*"],"Resources":["*"]}]}`, ""},
		{"should fail because the version is unknown", `{"Version":"2012-10-17","Statements":[{"Effect":"Allow","Actions":["a"],"Resources":["*"]}]}`, "Version"},
		{"should fail because there are no statements", `{"Version":"2016-04-01","Statements":[]}`, "Statements must not be empty"},
		{"should fail because the effect is unknown", `{"Version":"2016-04-01","Statements":[{"Effect":"Maybe","Actions":["a"],"Resources":["*"]}]}`, "Effect"},
		{"should fail because actions are missing", `{"Version":"2016-04-01","Statements":[{"Effect":"Allow","Resources":["*"]}]}`, "Actions must not be empty"},
		{"should fail because a resource is empty", `{"Version":"2016-04-01","Statements":[{"Effect":"Deny","Actions":["a"],"Resources":[""]}]}`, "Resources[0]"},
		{"should fail because of an unknown field", `{"Version":"2016-04-01","Statement":[]}`, "unknown field"},
		{"should fail because it is not JSON", `Version: 2016-04-01`, "not valid JSON"},
		{"should fail because of trailing data", `{"Version":"2016-04-01","Statements":[{"Effect":"Allow","Actions":["a"],"Resources":["*"]}]} {}`, "after its JSON"},
		{"should fail because it is too long", `{"Version":"` + strings.Repeat("x", MaxLen) + `"}`, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	t.Run("should report every problem at once", func(t *testing.T) {
		_, err := Parse([]byte(`{"Version":"x","Statements":[{"Effect":"x","Actions":[],"Resources":[]}]}`))
		for _, want := range []string{"Version", "Effect", "Actions must not be empty", "Resources must not be empty"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not report %q", err, want)
			}
		}
	})
}

func TestPolicyAllows(t *testing.T) {
	p, err := Parse([]byte(`{"Version":"2016-04-01","Statements":[
		{"Effect":"Allow","Actions":["Gs2Inventory:*","Gs2Account:GetAccount"],"Resources":["grn:gs2:ap-northeast-1:owner:inventory:*"]},
		{"Effect":"Deny","Actions":["Gs2Inventory:Delete*"],"Resources":["*"]},
		{"Effect":"Allow","Actions":["Gs2Account:GetAccount"],"Resources":["grn:gs2:*:account:game:account:*"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action, resource string
		want             bool
	}{
		{"Gs2Inventory:AcquireItem", "grn:gs2:ap-northeast-1:owner:inventory:game:user:u1", true},
		{"Gs2Inventory:DeleteItem", "grn:gs2:ap-northeast-1:owner:inventory:game:user:u1", false}, // deny wins
		{"Gs2Inventory:AcquireItem", "grn:gs2:us-east-1:owner:inventory:game", false},             // resource outside the allow
		{"Gs2Account:GetAccount", "grn:gs2:ap-northeast-1:owner:account:game:account:u1", true},
		{"Gs2Account:DeleteAccount", "grn:gs2:ap-northeast-1:owner:account:game:account:u1", false}, // not allowed anywhere
		{"Gs2Account:GetAccount", "grn:gs2:ap-northeast-1:owner:account:other:account:u1", false},
		{"", "", false},
	} {
		if got := p.Allows(tc.action, tc.resource); got != tc.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", tc.action, tc.resource, got, tc.want)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything:at/all", true},
		{"a*", "a", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"*:*:x", "p:q:r:x", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXcYb", false},
		{"abc", "abc", true},
		{"abc", "abcd", false},
		{"", "", true},
		{"", "a", false},
		{"**", "x", true},
		{strings.Repeat("a*", 50) + "b", strings.Repeat("a", 5000), false}, // linear, no blow-up
	} {
		if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

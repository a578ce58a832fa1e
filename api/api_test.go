package api_test

import (
	"testing"

	"github.com/bridgekeeper/bridgekeeper/api"
	"github.com/bridgekeeper/bridgekeeper/internal/openapitest"
)

// TestDocument loads the OpenAPI document with the validator the web tests
// check against: it must parse, be a valid OpenAPI 3.1 document and route.
func TestDocument(t *testing.T) {
	c, err := openapitest.Load(api.Document)
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Version(); v != "3.1.0" {
		t.Errorf("openapi: %q, want 3.1.0", v)
	}
}

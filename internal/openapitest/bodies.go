package openapitest

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Bodies are checked here rather than by openapi3filter, which compiles a
// body's JSON Schema again on every call (a few milliseconds each, ten
// times that under -race: enough to slow the web tests' timing-sensitive
// cases). Every request and answer body schema of the document is compiled
// once, at load, with the same JSON Schema 2020-12 validator
// (santhosh-tekuri/jsonschema, which kin-openapi uses for OpenAPI 3.1).

// docURL names the document as a JSON Schema resource: body schemas are
// compiled at their places in it, so that their $refs resolve there.
const docURL = "https://bridgekeeper.invalid/openapi.json"

// bodySchemas are the compiled body schemas, by bodyKey.
type bodySchemas map[string]*jsonschema.Schema

// bodyKey names the bodies of one message: the operation, and "request"
// or the answer's status. A schema's key adds the media type as the
// document spells it.
func bodyKey(method, path, which string) string {
	return method + " " + path + " " + which
}

// compileBodies compiles every body schema of doc.
func compileBodies(doc *openapi3.T) (bodySchemas, error) {
	raw, err := doc.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("marshal the document: %w", err)
	}
	tree, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("read the marshaled document: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertContent() // GS2's message is checked as the JSON array it holds
	if err := c.AddResource(docURL, tree); err != nil {
		return nil, fmt.Errorf("add the document: %w", err)
	}
	out := bodySchemas{}
	compile := func(key, base string, content openapi3.Content) error {
		for mt, media := range content {
			if media == nil || media.Schema == nil {
				continue
			}
			loc := docURL + "#" + base + "/content/" + pointerToken(mt) + "/schema"
			s, err := c.Compile(loc)
			if err != nil {
				return fmt.Errorf("compile %s: %w", loc, err)
			}
			out[key+" "+mt] = s
		}
		return nil
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			opBase := "/paths/" + pointerToken(path) + "/" + strings.ToLower(method)
			if rb := op.RequestBody; rb != nil && rb.Value != nil {
				if err := compile(bodyKey(method, path, "request"), refOr(rb.Ref, opBase+"/requestBody"), rb.Value.Content); err != nil {
					return nil, err
				}
			}
			if op.Responses == nil {
				continue
			}
			for status, resp := range op.Responses.Map() {
				if resp == nil || resp.Value == nil {
					continue
				}
				base := refOr(resp.Ref, opBase+"/responses/"+pointerToken(status))
				if err := compile(bodyKey(method, path, status), base, resp.Value.Content); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// refOr is the JSON pointer of a $ref to this document, or else the
// object's own place.
func refOr(ref, place string) string {
	if p, ok := strings.CutPrefix(ref, "#"); ok {
		return p
	}
	return place
}

// pointerToken escapes s as a JSON pointer token (RFC 6901 §3).
func pointerToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// checkBody checks body, of Content-Type contentType, against the content
// the document gives for it, under key (bodyKey without the media type).
// An empty body is checked only for being allowed: required says a
// request must have one.
func (b bodySchemas) checkBody(key string, content openapi3.Content, contentType string, body []byte, required bool) error {
	if len(content) == 0 {
		return nil
	}
	if len(body) == 0 {
		if required {
			return errors.New("a body is required")
		}
		return nil
	}
	mt, media := mediaTypeFor(content, contentType)
	if media == nil {
		return fmt.Errorf("Content-Type %q is not documented", contentType)
	}
	s := b[key+" "+mt]
	if s == nil {
		return nil // the document gives no schema
	}
	value, err := decodeBody(contentType, body)
	if err != nil {
		return err
	}
	if err := s.Validate(value); err != nil {
		return fmt.Errorf("body: %s", schemaReason(err.Error()))
	}
	return nil
}

// mediaTypeFor is the key and media type of content that contentType
// matches, as kin-openapi matches them (parameters and wildcards).
func mediaTypeFor(content openapi3.Content, contentType string) (string, *openapi3.MediaType) {
	media := content.Get(contentType)
	for mt, m := range content {
		if m == media && media != nil {
			return mt, m
		}
	}
	return "", nil
}

// decodeBody reads a JSON or form body into the values JSON Schema checks:
// a form's parameter is its string, or the array of its strings when it is
// repeated (which RFC 6749 §3.1 forbids, and a string schema refuses).
func decodeBody(contentType string, body []byte) (any, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("Content-Type %q: %w", contentType, err)
	}
	switch {
	case mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("the form: %w", err)
		}
		obj := make(map[string]any, len(form))
		for k, vs := range form {
			if len(vs) == 1 {
				obj[k] = vs[0]
				continue
			}
			arr := make([]any, len(vs))
			for i, v := range vs {
				arr[i] = v
			}
			obj[k] = arr
		}
		return obj, nil
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("the body is not JSON: %w", err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("cannot check a %s body", mt)
}

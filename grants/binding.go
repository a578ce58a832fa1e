package grants

import (
	"context"
	"errors"
	"net/http"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/clientjwt"
	"github.com/bridgekeeper/bridgekeeper/dpop"
)

// The error codes of RFC 8707 (§2) and RFC 9449 (§5), which go-oauth2 does
// not know.
var (
	errInvalidTarget    = errors.New("invalid_target")
	errInvalidDPoPProof = errors.New("invalid_dpop_proof")
)

// Proofs verifies DPoP proofs (dpop.Verifier).
type Proofs interface {
	Verify(ctx context.Context, proof, method, url, accessToken string) (dpop.Proof, error)
	Algs() []string
}

// Assertions verifies private_key_jwt client assertions
// (clientjwt.Verifier).
type Assertions interface {
	Verify(ctx context.Context, clientID string, keys clientjwt.Keys, assertion string) error
	Algs() []string
}

// binding checks what a token request binds its tokens to: a resource the
// client may ask for (RFC 8707), and the DPoP proof, which a client
// registered with RequireDPoP must send (RFC 9449).
func (p *Pipeline) binding(ctx context.Context, c broker.Client, caller Caller, resource string) (broker.Binding, error) {
	if err := broker.CheckResource(c, resource); err != nil {
		return broker.Binding{}, withCode(errInvalidTarget, err)
	}
	jkt, err := p.ProofKey(ctx, caller, "")
	if err == nil && jkt == "" && c.RequireDPoP {
		err = broker.ErrDPoPRequired
	}
	if err != nil {
		return broker.Binding{}, withCode(errInvalidDPoPProof, err)
	}
	return broker.Binding{Resource: resource, JKT: jkt}, nil
}

// ProofKey verifies the caller's DPoP proof, if any, for a call that
// presents accessToken ("" at the token endpoint, the token at the
// broker's own protected resources such as /userinfo), and returns its
// key's thumbprint; "" without a proof. A bad proof is Invalid, field
// "DPoP".
func (p *Pipeline) ProofKey(ctx context.Context, caller Caller, accessToken string) (string, error) {
	if caller.DPoP == "" {
		return "", nil
	}
	if p.Proofs == nil {
		return "", broker.Invalid("DPoP", "DPoP is not enabled on this server")
	}
	method := caller.Method
	if method == "" {
		method = http.MethodPost
	}
	proof, err := p.Proofs.Verify(ctx, caller.DPoP, method, caller.URL, accessToken)
	if err != nil {
		return "", err
	}
	return proof.JKT, nil
}

// authenticateAssertion authenticates a private_key_jwt client (RFC 7523
// §2.2): the client is the client_id, or the assertion's issuer when the
// request names none; it must have registered keys, and the assertion must
// verify with them.
func (p *Pipeline) authenticateAssertion(ctx context.Context, caller Caller) (broker.Client, error) {
	refuse := func(description string, cause error) (broker.Client, error) {
		return broker.Client{}, broker.Unauthenticated(description, cause)
	}
	switch {
	case caller.AssertionType != clientjwt.AssertionType:
		return refuse("client_assertion_type must be "+clientjwt.AssertionType, nil)
	case caller.Assertion == "":
		return refuse("client_assertion is required", nil)
	case caller.Secret != "":
		return refuse("a client authenticates one way only: a secret or an assertion", nil)
	case p.Assertions == nil:
		return refuse("private_key_jwt is not enabled on this server", nil)
	}
	id, err := clientjwt.ClientID(caller.Assertion)
	if err != nil {
		return refuse("client_assertion is not a JWT naming its client", err)
	}
	if caller.ID != "" && caller.ID != id {
		return refuse("client_assertion names another client than client_id", nil)
	}
	c, err := p.Clients.Client(ctx, id)
	switch {
	case errors.Is(err, broker.ErrNotFound):
		return refuse("client authentication failed", nil)
	case err != nil:
		return broker.Client{}, err
	case c.JWKS == "" && c.JWKSURI == "":
		return refuse("the client has no registered keys for private_key_jwt", nil)
	}
	if err := p.Assertions.Verify(ctx, c.ID, clientjwt.Keys{JWKS: []byte(c.JWKS), JWKSURI: c.JWKSURI}, caller.Assertion); err != nil {
		return broker.Client{}, err
	}
	return c, nil
}

// bindingRefusal gives a grant's refusal of its binding its RFC 8707 or
// 9449 code; nil when the refusal is about something else.
func bindingRefusal(e *broker.Error) error {
	switch {
	case e.Kind == broker.KindInvalid && e.Reason == broker.ReasonTarget:
		return errInvalidTarget
	case e.Kind == broker.KindInvalid && e.Field == "DPoP":
		return errInvalidDPoPProof
	}
	return nil
}

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

// Proofs verifies DPoP proofs (dpop.Verifier): Check without spending the
// proof's jti, Spend to spend it.
type Proofs interface {
	Check(proof, method, url, accessToken string) (dpop.Proof, error)
	Spend(ctx context.Context, once broker.Once) error
	Algs() []string
}

// proofSpender is a grant whose write spends the DPoP proof's jti itself
// (Binding.Proof), with the token it issues: the refresh rotation does, in
// its one statement, which saves a round trip to the store on the request
// a bound session makes most (issue 13 item 6). For every other grant the
// pipeline spends it first.
type proofSpender interface{ spendsProof() }

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
	proof, err := p.checkProof(caller, "")
	if err == nil && proof.JKT == "" && c.RequireDPoP {
		err = broker.ErrDPoPRequired
	}
	if err != nil {
		return broker.Binding{}, withCode(errInvalidDPoPProof, err)
	}
	return broker.Binding{Resource: resource, JKT: proof.JKT, Proof: proof.Once}, nil
}

// spendProof spends the binding's proof unless grant does so itself.
func (p *Pipeline) spendProof(ctx context.Context, grant Grant, bind *broker.Binding) error {
	if _, ok := grant.(proofSpender); ok || bind.Proof == (broker.Once{}) {
		return nil
	}
	if err := p.Proofs.Spend(ctx, bind.Proof); err != nil {
		return withCode(errInvalidDPoPProof, err)
	}
	bind.Proof = broker.Once{}
	return nil
}

// ProofKey verifies the caller's DPoP proof, if any, for a call that
// presents accessToken ("" at the token endpoint, the token at the
// broker's own protected resources such as /userinfo), spends it, and
// returns its key's thumbprint; "" without a proof. A bad proof is
// Invalid, field "DPoP".
func (p *Pipeline) ProofKey(ctx context.Context, caller Caller, accessToken string) (string, error) {
	proof, err := p.checkProof(caller, accessToken)
	if err == nil && proof.JKT != "" {
		err = p.Proofs.Spend(ctx, proof.Once)
	}
	if err != nil {
		return "", err
	}
	return proof.JKT, nil
}

// checkProof checks the caller's DPoP proof, if any, without spending it;
// the zero Proof without one.
func (p *Pipeline) checkProof(caller Caller, accessToken string) (dpop.Proof, error) {
	if caller.DPoP == "" {
		return dpop.Proof{}, nil
	}
	if p.Proofs == nil {
		return dpop.Proof{}, broker.Invalid("DPoP", "DPoP is not enabled on this server")
	}
	method := caller.Method
	if method == "" {
		method = http.MethodPost
	}
	return p.Proofs.Check(caller.DPoP, method, caller.URL, accessToken)
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

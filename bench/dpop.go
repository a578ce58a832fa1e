package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// DPoP's benchmark (issue 13 item 6): refresh-token rotation where every
// request carries a fresh RFC 9449 proof, against the same broker's plain
// rotation. The broker's extra work per request is one ES256 verification
// and one insert of the proof's jti (its replay record).

// tokenTypeDPoP is the token_type of an access token bound to a DPoP key.
const tokenTypeDPoP = "DPoP"

// prover makes DPoP proofs with one P-256 key: a client session's key. It is
// used by one worker goroutine only.
type prover struct {
	signer jose.Signer
	htu    string
	// jtis are prefix.0, prefix.1, ...: unique without a random draw per
	// proof, the prefix being random per prover.
	prefix string
	n      uint64
	// ready are proofs signed before the round, sent first (see prepare).
	ready []string
}

func newProver(htu string) (*prover, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: key.Public()})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("DPoP signer: %w", err)
	}
	return &prover{signer: signer, htu: htu, prefix: rand.Text()}, nil
}

// proofClaims are RFC 9449 §4.2's claims of a proof at the token endpoint.
type proofClaims struct {
	JTI string `json:"jti"`
	HTM string `json:"htm"`
	HTU string `json:"htu"`
	IAT int64  `json:"iat"`
}

// proof is the next proof for a POST to the token endpoint: one signed
// before the round while any is left, else one signed now. Each is sent
// once, so no jti is ever replayed.
func (p *prover) proof() (string, error) {
	if n := len(p.ready); n > 0 {
		proof := p.ready[n-1]
		p.ready = p.ready[:n-1]
		return proof, nil
	}
	return p.sign()
}

// sign signs a new proof now.
func (p *prover) sign() (string, error) {
	claims, err := json.Marshal(proofClaims{
		JTI: p.prefix + "." + strconv.FormatUint(p.n, 36),
		HTM: http.MethodPost,
		HTU: p.htu,
		IAT: time.Now().Unix(),
	})
	if err != nil {
		return "", err
	}
	p.n++
	jws, err := p.signer.Sign(claims)
	if err != nil {
		return "", fmt.Errorf("sign DPoP proof: %w", err)
	}
	return jws.CompactSerialize()
}

// dpopRefreshWorker is refreshWorker with a DPoP proof by its session's key
// on every request, the seeding login included. The proofs of a round are
// signed before it (prepare), as the exchange scenario's ID tokens are:
// the issue charges DPoP with the broker's proof check, and signing on the
// same two CPUs as the servers would charge it with the client's work too
// (measured both ways in BENCHMARKS.md).
type dpopRefreshWorker struct {
	ep    *endpoint
	seed  []byte
	token string
	p     *prover
	// wantDPoP: the answer's token_type must be DPoP, which shows that the
	// broker verified the proof rather than ignored it. A limit server
	// standing in for the broker knows no DPoP and answers Bearer.
	wantDPoP bool
}

// maxPresignRate bounds the proofs signed ahead per worker and second of
// a round: more than a worker sends on this machine (about 20 a second).
const maxPresignRate = 40

// prepare signs the round's proofs ahead, when the round is short enough
// for them to stay fresh (the broker accepts an iat up to a minute old);
// any it runs out of are signed when sent.
func (w *dpopRefreshWorker) prepare(lc loadConfig) {
	round := lc.Warmup + lc.Duration
	if round > 50*time.Second {
		return
	}
	n := int(round/time.Second+1) * maxPresignRate
	w.p.ready = w.p.ready[:0]
	for range n {
		proof, err := w.p.sign()
		if err != nil {
			return
		}
		w.p.ready = append(w.p.ready, proof)
	}
}

func newDPoPRefreshWorker(ctx context.Context, ep *endpoint, s side, i int, _ runConfig) (worker, error) {
	// htu is the URL posted to, which is the broker's issuer followed by
	// /oauth2/token when the broker was started here (--issuer is its base
	// URL); a --broker-url must likewise be the broker's issuer.
	p, err := newProver(ep.url)
	if err != nil {
		return nil, err
	}
	w := &dpopRefreshWorker{ep: ep, seed: customIDForm("bench-dpop-refresh-"+strconv.Itoa(i), s.Limit), p: p, wantDPoP: !s.Limit}
	if err := w.reseed(ctx); err != nil {
		return nil, fmt.Errorf("seed DPoP refresh chain %d on %s: %w", i, s.Name, err)
	}
	return w, nil
}

// post sends form with a fresh proof and checks the answer's token_type.
func (w *dpopRefreshWorker) post(ctx context.Context, form []byte, what string) (refreshAnswer, error) {
	var a refreshAnswer
	proof, err := w.p.proof()
	if err != nil {
		return a, err
	}
	if err := w.ep.postProof(ctx, form, proof, &a); err != nil {
		return a, err
	}
	if a.RefreshToken == "" {
		return a, fmt.Errorf("%s returned no refresh_token", what)
	}
	if w.wantDPoP && a.TokenType != tokenTypeDPoP {
		return a, fmt.Errorf("%s with a DPoP proof returned token_type %q, not %s", what, a.TokenType, tokenTypeDPoP)
	}
	return a, nil
}

// reseed starts a new chain with a custom-ID login of the worker's own
// user, with a proof by the worker's key.
func (w *dpopRefreshWorker) reseed(ctx context.Context) error {
	a, err := w.post(ctx, w.seed, "custom-ID login")
	if err != nil {
		return err
	}
	w.token = a.RefreshToken
	return nil
}

func (w *dpopRefreshWorker) do(ctx context.Context) error {
	form := url.Values{"grant_type": {grantRefreshToken}, "refresh_token": {w.token}}.Encode()
	a, err := w.post(ctx, []byte(form), "refresh")
	if err != nil {
		// As refreshWorker: a fresh chain, the error still counted.
		if rerr := w.reseed(ctx); rerr != nil {
			return errors.Join(err, fmt.Errorf("reseed: %w", rerr))
		}
		return err
	}
	w.token = a.RefreshToken
	return nil
}

package bench

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
)

// side is one server a scenario is measured against.
type side struct {
	Name    string // "broker" or "limit"
	BaseURL string // e.g. http://127.0.0.1:8080
	ID      string // client_id
	Secret  string // client_secret
	// Limit marks a limit server, which needs paramIssueRefresh to seed a
	// refresh chain.
	Limit bool
}

// endpoint returns the side's token endpoint with RFC 6749 §2.3.1 Basic
// credentials: each part form-urlencoded, then base64.
func (s side) endpoint(c *http.Client) *endpoint {
	cred := url.QueryEscape(s.ID) + ":" + url.QueryEscape(s.Secret)
	return &endpoint{
		client: c,
		url:    s.BaseURL + "/oauth2/token",
		auth:   "Basic " + base64.StdEncoding.EncodeToString([]byte(cred)),
	}
}

// scenario is one grant measured on the broker and on its limit server.
type scenario struct {
	Key  string // --only value
	Name string // printed name
	// LimitKind is the limit server that bounds this grant.
	LimitKind string
	// MinRatio is the target broker/limit requests per second.
	MinRatio float64
	// MaxP99Ratio is the target broker/limit p99; zero means no target.
	MaxP99Ratio float64
	// durable marks a scenario whose both sides write to PostgreSQL though
	// its limit is not the durable limit server (LimitKind "durable" is
	// always so): each side then starts after a checkpoint, as there.
	durable bool
	// setup runs before the clock starts, e.g. to create users.
	setup setupFunc
	// worker builds worker i of cfg.Concurrency.
	worker workerFunc
	// limitSetup and limitWorker, when set, stand in for setup and worker
	// on the limit side: a scenario whose limit is the broker's own rate
	// for another grant (LimitKind "broker").
	limitSetup  setupFunc
	limitWorker workerFunc
}

type (
	setupFunc  func(ctx context.Context, ep *endpoint, s side, cfg runConfig) error
	workerFunc func(ctx context.Context, ep *endpoint, s side, i int, cfg runConfig) (worker, error)
)

// scenarios is the run order: (a) client_credentials, (b) refresh rotation,
// (c) custom-ID logins of existing users, then two measured against the
// broker's own rate for another grant: token exchange against (c), and
// DPoP-bound refresh rotation against (b). Targets are the issues' latest:
// issue 10 item 9 for (a)-(c), issues 12 and 13 for the other two.
func scenarios() []scenario {
	return []scenario{
		{
			Key: "cc", Name: "client_credentials", LimitKind: "cpu", MinRatio: 0.8,
			worker: func(_ context.Context, ep *endpoint, _ side, _ int, _ runConfig) (worker, error) {
				return &formWorker{ep: ep, form: []byte("grant_type=client_credentials")}, nil
			},
		},
		{
			Key: "refresh", Name: "refresh_token", LimitKind: "durable", MinRatio: 0.85, MaxP99Ratio: 2,
			worker: newRefreshWorker,
		},
		{
			Key: "customid", Name: "server_custom_id", LimitKind: "durable", MinRatio: 0.85, MaxP99Ratio: 2,
			setup:  loginUsers(customIDLogin),
			worker: loginWorker(customIDLogin),
		},
		{
			// Issue 12: an ID-token sign-in of an existing player against
			// the broker's own custom-ID login of one; the extra work is
			// one signature check.
			Key: "exchange", Name: "token_exchange (id_token) / server_custom_id", LimitKind: "broker", MinRatio: 0.8, MaxP99Ratio: 2,
			setup: loginUsers(exchangeLogin), worker: loginWorker(exchangeLogin),
			limitSetup: loginUsers(customIDLogin), limitWorker: loginWorker(customIDLogin),
		},
		{
			// Issue 13 item 6: refresh rotation with a fresh DPoP proof on
			// every request against the broker's own plain rotation; the
			// extra work is one ES256 verification and the proof's replay
			// record.
			Key: "dpop-refresh", Name: "refresh_token (DPoP) / refresh_token", LimitKind: "broker", MinRatio: 0.85,
			durable: true,
			worker:  newDPoPRefreshWorker, limitWorker: newRefreshWorker,
		},
	}
}

// login is the form that signs user u in.
type login func(cfg runConfig, u int) ([]byte, error)

func customIDLogin(_ runConfig, u int) ([]byte, error) { return customIDForm(userID(u), false), nil }

// exchangeLogin trades an ID token of user u, from the benchmark's own
// issuer, for the broker's tokens.
func exchangeLogin(cfg runConfig, u int) ([]byte, error) {
	tok, err := cfg.issuer.token(userID(u))
	if err != nil {
		return nil, err
	}
	return []byte(url.Values{"grant_type": {grantExchange}, "provider": {benchIDPName},
		"subject_token_type": {tokenTypeIDToken}, "subject_token": {tok}}.Encode()), nil
}

// formWorker posts the same form every time and discards the answer.
type formWorker struct {
	ep   *endpoint
	form []byte
}

func (w *formWorker) do(ctx context.Context) error { return w.ep.post(ctx, w.form, nil) }

// customIDForm is the form of a custom-ID login.
func customIDForm(id string, issueRefresh bool) []byte {
	v := url.Values{"grant_type": {grantServerCustomID}, paramServerCustomID: {id}}
	if issueRefresh {
		v.Set(paramIssueRefresh, "1")
	}
	return []byte(v.Encode())
}

// userID names the i-th pre-created custom-ID user.
func userID(i int) string { return "bench-user-" + strconv.Itoa(i) }

// loginUsers logs every user in once, so that the measured logins are of
// existing users (the common case: a returning player), not sign-ups.
func loginUsers(form login) setupFunc {
	return func(ctx context.Context, ep *endpoint, s side, cfg runConfig) error {
		return createUsers(ctx, ep, s, cfg, form)
	}
}

func createUsers(ctx context.Context, ep *endpoint, s side, cfg runConfig, form login) error {
	next := make(chan int)
	errs := make([]error, cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Go(func() {
			for i := range next {
				if errs[w] != nil {
					continue
				}
				f, err := form(cfg, i)
				if err == nil {
					err = ep.post(ctx, f, nil)
				}
				if err != nil {
					errs[w] = fmt.Errorf("create user %d on %s: %w", i, s.Name, err)
				}
			}
		})
	}
	for i := range cfg.users() {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := cmp.Or(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// customIDWorker logs in the users i, i+N, i+2N, ... in turn, N being the
// concurrency: workers never log in the same user at the same moment, as
// distinct players would not, so row locks do not serialize them. Its
// forms are made before the clock starts.
type customIDWorker struct {
	ep    *endpoint
	forms [][]byte
	next  int
}

func loginWorker(form login) workerFunc {
	return func(_ context.Context, ep *endpoint, s side, i int, cfg runConfig) (worker, error) {
		w := &customIDWorker{ep: ep}
		for u := i; u < cfg.users(); u += cfg.Concurrency {
			f, err := form(cfg, u)
			if err != nil {
				return nil, err
			}
			if s.Limit && cfg.LimitStoresRefresh {
				f = append(f, "&"+paramIssueRefresh+"=1"...)
			}
			w.forms = append(w.forms, f)
		}
		return w, nil
	}
}

func (w *customIDWorker) do(ctx context.Context) error {
	f := w.forms[w.next]
	w.next = (w.next + 1) % len(w.forms)
	return w.ep.post(ctx, f, nil)
}

// refreshWorker rotates its own refresh-token chain: each answer's
// refresh_token is the next request's, as a client following RFC 6749 §6
// with rotation does.
type refreshWorker struct {
	ep    *endpoint
	seed  []byte
	token string
}

type refreshAnswer struct {
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
}

func newRefreshWorker(ctx context.Context, ep *endpoint, s side, i int, _ runConfig) (worker, error) {
	w := &refreshWorker{ep: ep, seed: customIDForm("bench-refresh-"+strconv.Itoa(i), s.Limit)}
	if err := w.reseed(ctx); err != nil {
		return nil, fmt.Errorf("seed refresh chain %d on %s: %w", i, s.Name, err)
	}
	return w, nil
}

// reseed starts a new chain with a custom-ID login of the worker's own user.
func (w *refreshWorker) reseed(ctx context.Context) error {
	var a refreshAnswer
	if err := w.ep.post(ctx, w.seed, &a); err != nil {
		return err
	}
	if a.RefreshToken == "" {
		return errors.New("custom-ID login returned no refresh_token")
	}
	w.token = a.RefreshToken
	return nil
}

func (w *refreshWorker) do(ctx context.Context) error {
	form := url.Values{"grant_type": {grantRefreshToken}, "refresh_token": {w.token}}.Encode()
	var a refreshAnswer
	err := w.ep.post(ctx, []byte(form), &a)
	if err == nil && a.RefreshToken == "" {
		err = errors.New("refresh returned no refresh_token")
	}
	if err != nil {
		// The old token may or may not be spent now; a fresh chain keeps
		// the worker measuring rotation instead of failing forever. The
		// error is still counted.
		if rerr := w.reseed(ctx); rerr != nil {
			return errors.Join(err, fmt.Errorf("reseed: %w", rerr))
		}
		return err
	}
	w.token = a.RefreshToken
	return nil
}

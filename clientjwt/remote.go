package clientjwt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

const (
	// cacheTTL is how long a fetched key set is used without asking again.
	cacheTTL = 5 * time.Minute
	// refetchInterval bounds the refetches an unknown kid may cause: enough
	// to pick up a rotation promptly, too few for anyone sending made-up
	// kids to turn the broker against the client's server.
	refetchInterval = time.Minute
	// sweepAt is the cache size above which stale entries are dropped, so
	// that clients that stopped calling do not stay in memory.
	sweepAt = 1024
)

// cached is one jwks_uri's usable keys and when they were fetched.
type cached struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

// remoteKeys are uri's keys, from the cache when it may be used. force asks
// for a refetch, which happens only when the last fetch is at least
// refetchInterval old. fetched reports that this call (or the one it joined)
// asked the server, so that the caller knows asking again would not help.
func (v *Verifier) remoteKeys(ctx context.Context, uri string, force bool) (keys []jose.JSONWebKey, fetched bool, err error) {
	if keys, ok := v.cached(uri, force); ok {
		return keys, false, nil
	}
	// Waiters on one URI share a fetch, which runs without their
	// cancellation: one caller going away must not fail the others.
	ch := v.fetches.DoChan(uri, func() (any, error) {
		// A flight that began just after another ended finds its keys.
		if keys, ok := v.cached(uri, force); ok {
			return flight{keys: keys}, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.timeout)
		defer cancel()
		keys, err := v.fetch(fctx, uri)
		if err != nil {
			return nil, err
		}
		v.store(uri, keys)
		return flight{keys: keys, fetched: true}, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, false, unavailable(r.Err)
		}
		f := r.Val.(flight)
		return f.keys, f.fetched, nil
	case <-ctx.Done():
		return nil, false, unavailable(ctx.Err())
	}
}

type flight struct {
	keys    []jose.JSONWebKey
	fetched bool
}

// cached are uri's cached keys when they may be used without a fetch:
// younger than cacheTTL, or, when a refetch is asked for, younger than
// refetchInterval.
func (v *Verifier) cached(uri string, force bool) ([]jose.JSONWebKey, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.cache[uri]
	if e == nil {
		return nil, false
	}
	age := v.now().Sub(e.fetched)
	if age < refetchInterval || (!force && age < cacheTTL) {
		return e.keys, true
	}
	return nil, false
}

func (v *Verifier) store(uri string, keys []jose.JSONWebKey) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	if len(v.cache) >= sweepAt {
		for u, e := range v.cache {
			if now.Sub(e.fetched) >= cacheTTL {
				delete(v.cache, u)
			}
		}
	}
	v.cache[uri] = &cached{keys: keys, fetched: now}
}

// unavailable is how every jwks_uri failure is reported: not the client's
// fault as far as the broker can tell, and worth a retry.
func unavailable(cause error) error {
	return &broker.Error{Kind: broker.KindUnavailable, Description: "the client's jwks_uri is unavailable; retry", Err: cause}
}

// fetch GETs uri and reads its usable keys. Errors name the URI without
// its query, which may carry a credential of the client's.
func (v *Verifier) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	where := redact(uri)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("clientjwt: jwks_uri %s: cannot make the request", where)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("clientjwt: jwks_uri %s: %w", where, withoutURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("clientjwt: jwks_uri %s answered %s", where, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return nil, fmt.Errorf("clientjwt: jwks_uri %s: reading: %w", where, withoutURL(err))
	}
	keys, err := parseKeySet(body)
	if err != nil {
		return nil, fmt.Errorf("clientjwt: jwks_uri %s: %w", where, err)
	}
	return keys, nil
}

// withoutURL drops the *url.Error wrapper, whose text is the full URL.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// redact is uri as scheme, host and path: enough to tell which client's
// server failed, with no query or user that could hold a secret.
func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "(unparsable)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

package gamecenter

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
)

const (
	// maxCachedCerts bounds the cache: Apple serves one or two keys at a
	// time (the current one and, around a rotation, the next).
	maxCachedCerts = 16
	// maxCertAge is how long a fetched certificate is kept at most, so that
	// one Apple withdraws stops being used within a day.
	maxCertAge = 24 * time.Hour
	// maxCertSize bounds what is read of the answer; Apple's are about
	// 1.5 KB (DER).
	maxCertSize = 64 << 10
)

// keyUnusable refuses a key URL that answers, but not with a
// certificate: 404 and other 4xx, a redirect, a body that is no
// certificate. Retrying would not help. (A function, not a variable: a
// *broker.Error shared between requests could be changed by one of them.)
func keyUnusable() error { return platforms.Refused("the Game Center key could not be used") }

// certificate answers the certificate at rawURL (already checked), from the
// cache or fetched. Callers verify it on every use: the cache holds what
// was served, not a judgement of it, so a certificate that expires or a
// root that is removed takes effect at once.
func (v *Verifier) certificate(ctx context.Context, rawURL string) (*x509.Certificate, error) {
	now := v.now()
	if c := v.certs.get(rawURL, now); c != nil {
		return c, nil
	}
	// One fetch per URL however many verifications wait for it. The fetch
	// runs on a context that outlives any one caller (the first one could
	// give up and fail the others), bounded by v.timeout; each caller waits
	// only as long as its own context allows.
	ch := v.fetches.DoChan(rawURL, func() (any, error) {
		// Again: a fetch may have finished between our look and now.
		if c := v.certs.get(rawURL, v.now()); c != nil {
			return c, nil
		}
		c, err := v.fetch(context.WithoutCancel(ctx), rawURL)
		if err == nil {
			v.certs.put(rawURL, c, v.now())
		}
		return c, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			if e := broker.Refusal(r.Err); e != nil && r.Shared {
				// Each waiter gets its own copy (see keyUnusable).
				c := *e
				return nil, &c
			}
			return nil, r.Err
		}
		return r.Val.(*x509.Certificate), nil
	case <-ctx.Done():
		return nil, platforms.Unavailable(v.label, fmt.Errorf("waiting for the Game Center key: %w", ctx.Err()))
	}
}

// fetch gets and parses the certificate at rawURL.
func (v *Verifier) fetch(ctx context.Context, rawURL string) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, keyUnusable()
	}
	req.Header.Set("Accept", "application/pkix-cert, application/x-x509-ca-cert, application/x-pem-file, */*;q=0.1")
	resp, err := v.client.Do(req)
	if err != nil {
		// A *url.Error: it quotes the key URL, which is no secret.
		return nil, platforms.Unavailable(v.label, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, platforms.Unavailable(v.label, fmt.Errorf("GET %s: status %d", rawURL, resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return nil, keyUnusable()
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCertSize+1))
	if err != nil {
		return nil, platforms.Unavailable(v.label, fmt.Errorf("GET %s: %w", rawURL, err))
	}
	if len(body) > maxCertSize {
		return nil, keyUnusable()
	}
	c, err := parseCertificate(body)
	if err != nil {
		return nil, keyUnusable()
	}
	return c, nil
}

// parseCertificate reads one certificate, DER as Apple serves it or the
// first CERTIFICATE block of a PEM file.
func parseCertificate(b []byte) (*x509.Certificate, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "CERTIFICATE" {
			return nil, errors.New("the PEM block is not a certificate")
		}
		b = blk.Bytes
	}
	return x509.ParseCertificate(b)
}

// certCache keeps fetched certificates by URL, each until the earlier of
// its NotAfter and maxCertAge after the fetch. When full, the entry that
// would expire first makes room.
type certCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]cachedCert
}

type cachedCert struct {
	cert    *x509.Certificate
	expires time.Time
}

func newCertCache(max int) *certCache {
	return &certCache{max: max, entries: make(map[string]cachedCert)}
}

func (c *certCache) get(url string, now time.Time) *x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[url]
	if !ok {
		return nil
	}
	if !now.Before(e.expires) {
		delete(c.entries, url)
		return nil
	}
	return e.cert
}

func (c *certCache) put(url string, cert *x509.Certificate, now time.Time) {
	expires := now.Add(maxCertAge)
	if cert.NotAfter.Before(expires) {
		expires = cert.NotAfter
	}
	if !now.Before(expires) {
		// Expired already: Verify refuses it, and a later fetch may find
		// its successor.
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[url]; !ok && len(c.entries) >= c.max {
		var first string
		for u, e := range c.entries {
			if !now.Before(e.expires) {
				first = u
				break
			}
			if first == "" || e.expires.Before(c.entries[first].expires) {
				first = u
			}
		}
		delete(c.entries, first)
	}
	c.entries[url] = cachedCert{cert: cert, expires: expires}
}

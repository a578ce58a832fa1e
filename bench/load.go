package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// worker sends one request per call to do and reads the whole response, so
// that the keep-alive connection is reused. It returns an error for a
// transport failure or a non-2xx response. A worker is used by one goroutine
// only, so it may keep state such as its refresh-token chain.
type worker interface {
	do(ctx context.Context) error
}

// preparer is a worker with work to do before each round, off the clock.
type preparer interface {
	prepare(lc loadConfig)
}

// prepareRound lets every worker that has work to do before a round do
// it, on all CPUs, before the warm-up starts.
func prepareRound(ws []worker, lc loadConfig) {
	var wg sync.WaitGroup
	for _, w := range ws {
		if p, ok := w.(preparer); ok {
			wg.Go(func() { p.prepare(lc) })
		}
	}
	wg.Wait()
}

// loadConfig is how hard and how long to push one side of a scenario.
type loadConfig struct {
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
}

// runLoad runs one worker per goroutine in a closed loop (each sends its
// next request when the previous one is answered) for the warm-up and then
// for the measuring window, and summarizes the requests that completed inside
// the window. Counting by completion time makes the count per window
// unbiased; requests still in flight when the window closes are let finish,
// not cancelled, so that a cut-off never shows up as an error.
func runLoad(ctx context.Context, cfg loadConfig, workers []worker) window {
	start := time.Now()
	from := start.Add(cfg.Warmup)
	to := from.Add(cfg.Duration)

	lat := make([][]time.Duration, len(workers))
	errs := make([]int, len(workers))
	firstErr := make([]string, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			// Preallocate for a few thousand requests per worker so that
			// append rarely copies while the clock runs.
			samples := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(to) {
					break
				}
				err := w.do(ctx)
				t1 := time.Now()
				if t1.Before(from) || !t1.Before(to) {
					continue
				}
				if err != nil {
					if errs[i] == 0 {
						firstErr[i] = err.Error()
					}
					errs[i]++
					continue
				}
				samples = append(samples, t1.Sub(t0))
			}
			lat[i] = samples
		})
	}
	wg.Wait()

	elapsed := cfg.Duration
	if ctx.Err() != nil {
		elapsed = max(0, min(time.Since(from), cfg.Duration))
	}
	out := window{elapsed: elapsed}
	for i := range workers {
		out.add(window{lat: lat[i], errs: errs[i], firstErr: firstErr[i]})
	}
	return out
}

// newWorkers builds n workers concurrently, since building one may cost a
// round trip (seeding a refresh-token chain). It returns the first error and
// how many more there were: 64 copies of one failure say nothing more.
func newWorkers(n int, build func(i int) (worker, error)) ([]worker, error) {
	ws := make([]worker, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ws[i], errs[i] = build(i) })
	}
	wg.Wait()
	var first error
	failed := 0
	for _, err := range errs {
		if err != nil {
			first = cmp.Or(first, err)
			failed++
		}
	}
	switch {
	case failed == 1:
		return nil, first
	case failed > 1:
		return nil, fmt.Errorf("%w (and %d more workers failed)", first, failed-1)
	}
	return ws, nil
}

// newHTTPClient returns a keep-alive client that can hold one idle
// connection per worker: with Go's default of two idle connections per host,
// 64 workers would close and re-dial connections all the time and the run
// would measure TCP handshakes instead of the token endpoint.
func newHTTPClient(concurrency int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * concurrency,
			MaxIdleConnsPerHost: 2 * concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// statusError is a non-2xx answer; the body is kept short for the report.
type statusError struct {
	Status int
	Body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// endpoint is one side's token endpoint with the client's credentials
// already encoded as an RFC 6749 §2.3.1 Basic header.
type endpoint struct {
	client *http.Client
	url    string
	auth   string
}

// post sends a form to the token endpoint, reads the whole answer and, when
// out is non-nil, decodes a 2xx JSON answer into it.
func (e *endpoint) post(ctx context.Context, form []byte, out any) error {
	return e.postProof(ctx, form, "", out)
}

// postProof is post with a DPoP header (RFC 9449 §4.1) carrying proof,
// unless proof is "".
func (e *endpoint) postProof(ctx context.Context, form []byte, proof string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(form))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", e.auth)
	req.Header.Set("Accept", "application/json")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{Status: resp.StatusCode, Body: string(body[:min(len(body), 200)])}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}

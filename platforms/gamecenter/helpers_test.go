package gamecenter_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter/gamecentertest"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
)

const (
	bundle      = "com.example.game"
	otherBundle = "com.example.other"
	player      = "T:_5a0a3ef1b33b4fa3b3c1c9b0e5b6b0f1"
	otherPlayer = "T:_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
)

// fixture is a fresh key server and the time the verifier's clock reads:
// when the server started (to the millisecond, as timestamps are), unless
// a case moves it.
type fixture struct {
	srv *gamecentertest.KeyServer
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := gamecentertest.NewKeyServer(t)
	return &fixture{srv: srv, now: srv.Started().Truncate(time.Millisecond)}
}

// config reaches the fixture's server, for bundle, on the fixture's clock.
func (f *fixture) config() gamecenter.Config {
	cfg := f.srv.Config(bundle)
	cfg.Now = func() time.Time { return f.now }
	return cfg
}

// items is a fresh signature of player in bundle, made now with key k.
func (f *fixture) items(k gamecentertest.Key) gamecentertest.Items {
	return f.srv.Items(k, player, bundle, f.now)
}

// edited is the fixture's Good token after edit.
func (f *fixture) edited(edit func(it *gamecentertest.Items)) string {
	it := f.items(gamecentertest.Good)
	edit(&it)
	return it.JSON()
}

// rewritten is the fixture's Good token decoded into a map, changed by
// edit and encoded again, for changes Items cannot express.
func (f *fixture) rewritten(t *testing.T, edit func(m map[string]any)) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(f.items(gamecentertest.Good).JSON()))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// flipped is b64 with one bit of its decoded bytes flipped.
func flipped(t *testing.T, b64 string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Clone(b)
	b[len(b)/2] ^= 0x01
	return base64.StdEncoding.EncodeToString(b)
}

func verify(t *testing.T, cfg gamecenter.Config, token string) (platforms.Identity, error) {
	t.Helper()
	v, err := gamecenter.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v.Verify(t.Context(), platforms.Request{Token: token, TokenType: platforms.TokenTypeGameCenter})
}

// wantRefusal checks that err is a refusal of kind, whose description
// holds desc, and that no part of it quotes the token's signature.
func wantRefusal(t *testing.T, id platforms.Identity, err error, kind broker.Kind, desc, token string) {
	t.Helper()
	var secrets []string
	var w struct{ Signature string }
	if json.Unmarshal([]byte(token), &w) == nil && len(w.Signature) >= 16 {
		// A prefix too: a truncated quote is a leak all the same.
		secrets = append(secrets, w.Signature, w.Signature[:16])
	}
	platformtest.WantRefusal(t, id, err, kind, desc, secrets...)
}

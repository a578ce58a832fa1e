package oauth2token

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// Config configures one platform. For Discord:
//
//	TokenInfoURL:     https://discord.com/api/oauth2/@me
//	ApplicationField: application.id
//	ApplicationID:    the application's client ID
//	UserinfoURL:      https://discord.com/api/users/@me
//	UserIDField:      id
//
// or UserinfoURL the token-info URL and UserIDField user.id, which saves a
// call: one answer then serves both.
type Config struct {
	// Name labels the platform in "… is unavailable" errors; the user-info
	// URL's host when empty.
	Name string
	// UserinfoURL is the API that describes the token's user.
	UserinfoURL string
	// UserIDField is where the user ID is in the user-info JSON: a key,
	// or keys joined by "." to descend into objects ("data.user.id"); a
	// key of digits indexes an array. The value must be a non-empty string
	// or an integer.
	UserIDField string
	// TokenInfoURL is the API that describes the token itself, and
	// ApplicationField where in its JSON (dotted, as UserIDField) the
	// application it was issued to is, which must be ApplicationID. All
	// three are required.
	TokenInfoURL, ApplicationField, ApplicationID string
	// Timeout bounds each call; platforms.DefaultTimeout when 0.
	Timeout time.Duration
	// Client sends the calls; nil means a client of its own that follows
	// no redirect.
	Client *http.Client
}

// Validate reports every problem with c at once, one line each, naming the
// setting by its configuration key.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("oauth2token platform %q: "+format, append([]any{c.Name}, args...)...))
	}
	for _, u := range []struct{ key, value string }{{"userinfo_url", c.UserinfoURL}, {"token_info_url", c.TokenInfoURL}} {
		if u.value == "" {
			add("%s must not be empty", u.key)
		} else if _, err := platforms.CheckURL(u.value); err != nil {
			add("%s: %v", u.key, err)
		}
	}
	for _, f := range []struct{ key, value string }{{"user_id_field", c.UserIDField}, {"application_field", c.ApplicationField}} {
		if f.value == "" {
			add("%s must not be empty", f.key)
		} else if slices.Contains(strings.Split(f.value, "."), "") {
			add("%s %q has an empty key; want keys joined by \".\", such as data.user.id", f.key, f.value)
		}
	}
	if c.ApplicationID == "" {
		// Without it any application's token would sign the player in.
		add("application_id must not be empty")
	}
	if c.Timeout < 0 {
		add("timeout %v is negative", c.Timeout)
	}
	return errors.Join(errs...)
}

// Verifier checks access tokens with one platform. It is safe for
// concurrent use.
type Verifier struct {
	label        string
	userinfoURL  string
	idPath       []string
	tokenInfoURL string
	appPath      []string
	appID        string
	timeout      time.Duration
	client       *http.Client
}

var _ platforms.Verifier = (*Verifier)(nil)

// New validates cfg and returns its verifier; it makes no request. cfg is
// not modified or retained.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		label:        cfg.Name,
		userinfoURL:  cfg.UserinfoURL,
		idPath:       strings.Split(cfg.UserIDField, "."),
		tokenInfoURL: cfg.TokenInfoURL,
		appPath:      strings.Split(cfg.ApplicationField, "."),
		appID:        cfg.ApplicationID,
		timeout:      cfg.Timeout,
		client:       cfg.Client,
	}
	if v.label == "" {
		u, _ := url.Parse(cfg.UserinfoURL) // Validate parsed it
		v.label = u.Hostname()
	}
	if v.client == nil {
		v.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return v, nil
}

// TokenTypes is the access token type alone (RFC 8693 §3).
func (v *Verifier) TokenTypes() []string { return []string{platforms.TokenTypeAccessToken} }

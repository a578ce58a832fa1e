package steam

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// DefaultAPIURL is Valve's partner Web API host: ISteamUserAuth is a
// publisher method, and a publisher key is only to be sent there.
const DefaultAPIURL = "https://partner.steam-api.com"

// What to do with a family-shared copy, where the player (steamid) borrows
// the game from the account that owns it (ownersteamid).
const (
	// FamilySharingPlayer links the player's own account: the default,
	// since the borrower is the one at the keyboard.
	FamilySharingPlayer = "player"
	// FamilySharingOwner links the owner's account, for games whose
	// progress belongs to the licence.
	FamilySharingOwner = "owner"
	// FamilySharingRefuse refuses family-shared copies.
	FamilySharingRefuse = "refuse"
)

// Config configures one Steam platform.
type Config struct {
	// Name labels the platform in "… is unavailable" errors; "steam" when
	// empty.
	Name string
	// AppID is the game's Steam AppID (a uint32, in decimal).
	AppID string
	// PublisherKey is the publisher Web API key of the game's publisher.
	PublisherKey string
	// Identity is the identity string the game passes to
	// GetAuthTicketForWebApi, sent along so that Steam refuses tickets
	// minted for another service; empty sends none.
	Identity string
	// APIURL is the Web API's base URL; DefaultAPIURL when empty. It must
	// be https, except on a loopback host (tests), since the key travels in
	// its query.
	APIURL string
	// RejectVACBanned refuses accounts with a VAC ban on record for the
	// game. Off by default: a VAC ban bars secured servers, not sign-in.
	RejectVACBanned bool
	// RejectPublisherBanned refuses accounts the publisher has banned
	// from the game.
	RejectPublisherBanned bool
	// FamilySharing is FamilySharingPlayer (when empty),
	// FamilySharingOwner or FamilySharingRefuse.
	FamilySharing string
	// Timeout bounds one call to Steam; platforms.DefaultTimeout when 0.
	Timeout time.Duration
	// Client sends the calls; nil means a client of its own that follows
	// no redirect (a redirect would carry the key to another URL).
	Client *http.Client
}

// Validate reports every problem with c at once, one line each, naming the
// setting by its configuration key. It never prints the key.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("steam platform %q: "+format, append([]any{c.Name}, args...)...))
	}
	if c.AppID == "" {
		add("app_id must not be empty")
	} else if n, err := strconv.ParseUint(c.AppID, 10, 32); err != nil || n == 0 || strconv.FormatUint(n, 10) != c.AppID {
		add("app_id %q is not a Steam AppID (a positive 32-bit decimal number)", c.AppID)
	}
	if c.PublisherKey == "" {
		add("publisher_key must not be empty")
	}
	if c.APIURL != "" {
		if u, err := platforms.CheckURL(c.APIURL); err != nil {
			add("api_url: %v", err)
		} else if u.RawQuery != "" {
			// The verifier adds the query; a key there would be sent twice.
			add("api_url %q must have no query", c.APIURL)
		}
	}
	switch c.FamilySharing {
	case "", FamilySharingPlayer, FamilySharingOwner, FamilySharingRefuse:
	default:
		add("family_sharing %q is not one of %s, %s, %s", c.FamilySharing, FamilySharingPlayer, FamilySharingOwner, FamilySharingRefuse)
	}
	if c.Timeout < 0 {
		add("timeout %v is negative", c.Timeout)
	}
	return errors.Join(errs...)
}

// Verifier checks Steam Web API tickets. It is safe for concurrent use.
type Verifier struct {
	label           string
	endpoint        url.URL // AuthenticateUserTicket, without its query
	appID, key      string
	identity        string
	rejectVAC       bool
	rejectPublisher bool
	sharing         string
	timeout         time.Duration
	client          *http.Client
}

var _ platforms.Verifier = (*Verifier)(nil)

// New validates cfg and returns its verifier; it makes no request. cfg is
// not modified or retained.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base := cfg.APIURL
	if base == "" {
		base = DefaultAPIURL
	}
	u, err := url.Parse(base)
	if err != nil { // Validate parsed it already
		return nil, fmt.Errorf("steam platform %q: api_url: %w", cfg.Name, err)
	}
	v := &Verifier{
		label:           cfg.Name,
		endpoint:        *u.JoinPath("ISteamUserAuth", "AuthenticateUserTicket", "v1/"),
		appID:           cfg.AppID,
		key:             cfg.PublisherKey,
		identity:        cfg.Identity,
		rejectVAC:       cfg.RejectVACBanned,
		rejectPublisher: cfg.RejectPublisherBanned,
		sharing:         cfg.FamilySharing,
		timeout:         cfg.Timeout,
		client:          cfg.Client,
	}
	if v.label == "" {
		v.label = "steam"
	}
	if v.sharing == "" {
		v.sharing = FamilySharingPlayer
	}
	if v.client == nil {
		v.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return v, nil
}

// TokenTypes is the Steam ticket type alone.
func (v *Verifier) TokenTypes() []string { return []string{platforms.TokenTypeSteamTicket} }

package steam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// maxTicket bounds the hex ticket: the SDK's GetTicketForWebApiResponse_t
// holds at most k_nCubTicketMaxLength = 2560 bytes, two hex digits each.
// Real tickets are a few hundred bytes, but their size grows with the
// account's licences, so the cap is the SDK's, not a typical size.
const maxTicket = 2 * 2560

// answer is AuthenticateUserTicket's JSON: params on success, error on a
// refusal.
type answer struct {
	Response struct {
		Params *struct {
			Result          string `json:"result"`
			SteamID         string `json:"steamid"`
			OwnerSteamID    string `json:"ownersteamid"`
			VACBanned       bool   `json:"vacbanned"`
			PublisherBanned bool   `json:"publisherbanned"`
		} `json:"params"`
		Error *struct {
			Code int    `json:"errorcode"`
			Desc string `json:"errordesc"`
		} `json:"error"`
	} `json:"response"`
}

// refusals words Steam's error codes in our own terms: errordesc is
// Steam's text, and a caller is shown only what we wrote. 3 is EResult's
// InvalidParam, which Steam answers for a ticket it cannot parse; 100 and
// up are ISteamUserAuth's own.
var refusals = map[int]string{
	3:   "malformed ticket",
	100: "malformed ticket",
	101: "invalid ticket",
	102: "ticket for another game",
	103: "expired ticket",
}

// unavailable are the error codes (EResult values) that say Steam itself
// could not answer: Busy, Timeout, ServiceUnavailable, RateLimitExceeded.
// The ticket may be good, so the caller should retry rather than be told
// it is invalid.
var unavailable = map[int]bool{10: true, 16: true, 20: true, 84: true}

// Verify checks r.Token, the hex ticket, with AuthenticateUserTicket and
// answers the SteamID it belongs to (or, for a family-shared copy, the
// owner's when so configured). A ticket that is not plausible hex is
// refused without asking Steam.
func (v *Verifier) Verify(ctx context.Context, r platforms.Request) (platforms.Identity, error) {
	if r.TokenType != "" && r.TokenType != platforms.TokenTypeSteamTicket {
		return platforms.Identity{}, platforms.Refused("the subject_token_type is not a Steam ticket")
	}
	if err := checkTicket(r.Token); err != nil {
		return platforms.Identity{}, err
	}
	q := url.Values{"key": {v.key}, "appid": {v.appID}, "ticket": {r.Token}}
	if v.identity != "" {
		q.Set("identity", v.identity)
	}
	u := v.endpoint
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		// Not err itself: it would quote the URL.
		return platforms.Identity{}, platforms.Unavailable(v.label, errors.New("cannot build the AuthenticateUserTicket request"))
	}
	var a answer
	if err := platforms.GetJSON(ctx, v.client, v.timeout, v.label, req, &a); err != nil {
		var se *platforms.StatusError
		switch {
		case !errors.As(err, &se):
			return platforms.Identity{}, v.scrub(err, r.Token)
		case se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden:
			// Our configuration, not the ticket: the player should retry
			// later and the operator should see it in the log.
			return platforms.Identity{}, platforms.Unavailable(v.label, fmt.Errorf("AuthenticateUserTicket answered %d: the publisher key is wrong or may not use app %s", se.Status, v.appID))
		case a.Response.Error == nil:
			return platforms.Identity{}, platforms.Unavailable(v.label, fmt.Errorf("AuthenticateUserTicket answered %d", se.Status))
		}
		// A 4xx that still says why in Steam's JSON: judge that.
	}
	return v.judge(a)
}

// judge turns Steam's answer into an identity or a refusal.
func (v *Verifier) judge(a answer) (platforms.Identity, error) {
	if e := a.Response.Error; e != nil {
		if unavailable[e.Code] {
			return platforms.Identity{}, platforms.Unavailable(v.label, fmt.Errorf("AuthenticateUserTicket error code %d", e.Code))
		}
		if words, ok := refusals[e.Code]; ok {
			return platforms.Identity{}, platforms.Refused(fmt.Sprintf("Steam refused the ticket: %s (%d)", words, e.Code))
		}
		return platforms.Identity{}, platforms.Refused(fmt.Sprintf("Steam refused the ticket (code %d)", e.Code))
	}
	p := a.Response.Params
	if p == nil {
		return platforms.Identity{}, platforms.Unavailable(v.label, errors.New("AuthenticateUserTicket answered neither params nor error"))
	}
	if p.Result != "OK" {
		return platforms.Identity{}, platforms.Refused("Steam did not accept the ticket")
	}
	if !isSteamID(p.SteamID) {
		return platforms.Identity{}, platforms.Unavailable(v.label, errors.New("AuthenticateUserTicket answered a steamid that is not a 64-bit decimal number"))
	}
	if p.VACBanned && v.rejectVAC {
		return platforms.Identity{}, platforms.Refused("the Steam account is VAC banned")
	}
	if p.PublisherBanned && v.rejectPublisher {
		return platforms.Identity{}, platforms.Refused("the Steam account is banned from this game")
	}
	owner := p.OwnerSteamID
	if owner == "" || owner == "0" || owner == p.SteamID {
		return platforms.Identity{UserID: p.SteamID}, nil
	}
	if !isSteamID(owner) {
		return platforms.Identity{}, platforms.Unavailable(v.label, errors.New("AuthenticateUserTicket answered an ownersteamid that is not a 64-bit decimal number"))
	}
	switch v.sharing {
	case FamilySharingOwner:
		return platforms.Identity{UserID: owner}, nil
	case FamilySharingRefuse:
		return platforms.Identity{}, platforms.Refused("the game is family-shared; sign in with the Steam account that owns it")
	}
	return platforms.Identity{UserID: p.SteamID}, nil
}

// checkTicket refuses what cannot be a Web API ticket, before it costs a
// call to Steam (and a place in its rate limit).
func checkTicket(t string) error {
	switch {
	case t == "":
		return platforms.Refused("the Steam ticket is empty")
	case len(t) > maxTicket:
		return platforms.Refused("the Steam ticket is too long")
	case len(t)%2 != 0 || strings.IndexFunc(t, notHex) >= 0:
		return platforms.Refused("the Steam ticket is not hexadecimal")
	}
	return nil
}

func notHex(r rune) bool {
	return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F')
}

// isSteamID reports whether s is a SteamID64 in canonical decimal: the
// identity is a link key, so "076561…" must not pass as another spelling.
func isSteamID(s string) bool {
	n, err := strconv.ParseUint(s, 10, 64)
	return err == nil && n != 0 && strconv.FormatUint(n, 10) == s
}

// scrub rebuilds GetJSON's Unavailable without the request URL. A
// transport failure or timeout is a *url.Error, whose text is the whole URL
// — publisher key and ticket included — and that text would be logged.
func (v *Verifier) scrub(err error, ticket string) error {
	e := broker.Refusal(err)
	if e == nil || e.Err == nil {
		return platforms.Unavailable(v.label, errors.New("AuthenticateUserTicket failed"))
	}
	cause := e.Err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = fmt.Errorf("%s %s: %w", ue.Op, v.endpoint.Redacted(), ue.Err)
	}
	// Belt and braces for causes we did not foresee (a custom Client's
	// transport, a redirect policy's error).
	if s := cause.Error(); strings.Contains(s, v.key) || strings.Contains(s, ticket) {
		cause = errors.New("AuthenticateUserTicket failed (detail withheld: it quoted the key or ticket)")
	}
	return platforms.Unavailable(v.label, cause)
}

package steamtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
	"github.com/bridgekeeper/bridgekeeper/platforms/steam"
)

// Path is where the fake serves AuthenticateUserTicket.
const Path = "/ISteamUserAuth/AuthenticateUserTicket/v1/"

// Forbidden is the body Steam answers, as text/html with status 403, to a
// call with a wrong or missing key.
const Forbidden = "<html><head><title>Forbidden</title></head><body><h1>Forbidden</h1>Access is denied. Retrying will not help. Please verify your <pre>key=</pre> parameter.</body></html>"

// Steam's error codes (errorcode, with its errordesc) that the fake
// answers.
const (
	ErrInvalidParameter = 3   // "Invalid parameter": appid or ticket missing or unparsable
	ErrInvalidTicket    = 101 // "Invalid ticket": unknown, or minted for another identity
	ErrTicketOtherApp   = 102 // "Ticket for other app"
	ErrTicketExpired    = 103 // "Ticket has expired"
)

var errorDescs = map[int]string{
	ErrInvalidParameter: "Invalid parameter",
	ErrInvalidTicket:    "Invalid ticket",
	ErrTicketOtherApp:   "Ticket for other app",
	ErrTicketExpired:    "Ticket has expired",
}

// TicketOptions is what Steam knows of a ticket besides its player.
type TicketOptions struct {
	// OwnerSteamID is the account that owns the game; empty means the
	// player does. Another ID makes the copy family-shared.
	OwnerSteamID    string
	VACBanned       bool
	PublisherBanned bool
	// ErrorCode, when not 0, is answered instead of the ticket's params,
	// with its errordesc (e.g. ErrTicketExpired).
	ErrorCode int
	// AppID is the game the ticket was minted for; the server's AppID
	// when empty. A call with another appid gets ErrTicketOtherApp.
	AppID string
	// Identity is the identity the game passed to GetAuthTicketForWebApi;
	// when set, a call naming another identity (or none) gets
	// ErrInvalidTicket.
	Identity string
}

// Server is a fake Steam Web API for one publisher key and one game.
type Server struct {
	srv    *httptest.Server
	faults *platformtest.Faults
	appID  string
	key    string

	mu      sync.Mutex
	tickets map[string]ticket
}

type ticket struct {
	steamID string
	opts    TicketOptions
}

// NewServer starts a fake Steam Web API on loopback that accepts key and
// knows the game appID; it is closed when t ends.
func NewServer(t testing.TB, appID, key string) *Server {
	t.Helper()
	s := &Server{appID: appID, key: key, tickets: map[string]ticket{}}
	s.srv, s.faults = platformtest.Serve(t, false, nil, s.serve)
	return s
}

// URL is the fake's base URL, for steam.Config.APIURL.
func (s *Server) URL() string { return s.srv.URL }

// Config is a steam.Config that reaches this fake with its key and AppID;
// the caller adds the rest.
func (s *Server) Config() steam.Config {
	return steam.Config{AppID: s.appID, PublisherKey: s.key, APIURL: s.srv.URL}
}

// Issue registers a new ticket of the player steamID, with opts, and
// returns it as the SDK hands it to a game: hex. steamID is answered as
// given, so a malformed one can be served.
func (s *Server) Issue(steamID string, opts TicketOptions) string {
	if opts.AppID == "" {
		opts.AppID = s.appID
	}
	// A Web API ticket starts with its length (0x14 = 20, little endian)
	// and is a few hundred bytes; the content here is random.
	b := make([]byte, 232)
	rand.Read(b)
	copy(b, []byte{0x14, 0, 0, 0})
	t := hex.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickets[t] = ticket{steamID: steamID, opts: opts}
	return t
}

// SetOutage switches how the fake fails; platformtest.Up restores it.
func (s *Server) SetOutage(o platformtest.Outage) { s.faults.Set(o) }

// Requests is how many calls the fake has received.
func (s *Server) Requests() int { return s.faults.Requests() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if q.Get("key") != s.key {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, Forbidden)
		return
	}
	appID, hexTicket := q.Get("appid"), q.Get("ticket")
	if _, err := hex.DecodeString(hexTicket); err != nil || hexTicket == "" || appID == "" {
		writeError(w, ErrInvalidParameter)
		return
	}
	s.mu.Lock()
	tk, ok := s.tickets[strings.ToLower(hexTicket)] // hex is hex in either case
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, ErrInvalidTicket)
	case tk.opts.AppID != appID:
		writeError(w, ErrTicketOtherApp)
	case tk.opts.Identity != "" && tk.opts.Identity != q.Get("identity"):
		writeError(w, ErrInvalidTicket)
	case tk.opts.ErrorCode != 0:
		writeError(w, tk.opts.ErrorCode)
	default:
		owner := tk.opts.OwnerSteamID
		if owner == "" {
			owner = tk.steamID
		}
		writeJSON(w, map[string]any{"response": map[string]any{"params": map[string]any{
			"result":          "OK",
			"steamid":         tk.steamID,
			"ownersteamid":    owner,
			"vacbanned":       tk.opts.VACBanned,
			"publisherbanned": tk.opts.PublisherBanned,
		}}})
	}
}

// writeError answers Steam's error shape, with status 200 as Steam does.
func writeError(w http.ResponseWriter, code int) {
	desc, ok := errorDescs[code]
	if !ok {
		desc = fmt.Sprintf("Error %d", code)
	}
	writeJSON(w, map[string]any{"response": map[string]any{"error": map[string]any{"errorcode": code, "errordesc": desc}}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

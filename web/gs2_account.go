package web

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/gs2"
)

// GS2-Account: accounts created anonymously with a random password, whose
// authentication issues the body/signature pair that GS2-Auth's
// loginBySignature trades for an access token.

// gs2AccountJSON is GS2-Account's Account model.
type gs2AccountJSON struct {
	AccountID           string             `json:"accountId"`
	UserID              string             `json:"userId"`
	Password            string             `json:"password,omitempty"` // createAccount and doTakeOver only
	TimeOffset          int                `json:"timeOffset"`
	BanStatuses         []gs2BanStatusJSON `json:"banStatuses"`
	Banned              bool               `json:"banned"`
	LastAuthenticatedAt int64              `json:"lastAuthenticatedAt,omitempty"`
	CreatedAt           int64              `json:"createdAt"`
	Revision            int64              `json:"revision"`
}

// gs2BanStatusJSON is GS2-Account's BanStatus model.
type gs2BanStatusJSON struct {
	Name             string `json:"name"`
	Reason           string `json:"reason"`
	ReleaseTimestamp int64  `json:"releaseTimestamp"`
}

func gs2BanStatuses(bans []broker.Ban) []gs2BanStatusJSON {
	out := make([]gs2BanStatusJSON, 0, len(bans))
	for _, b := range bans {
		out = append(out, gs2BanStatusJSON{Name: b.Name, Reason: b.Reason, ReleaseTimestamp: b.ReleaseAt.UnixMilli()})
	}
	return out
}

// gs2Account is the Account model of a; bans are its active bans.
func (s *Server) gs2Account(ns string, a broker.Account, bans []broker.Ban, password string) gs2AccountJSON {
	j := gs2AccountJSON{
		AccountID: s.gs2GRN("account:" + ns + ":account:" + a.UserID), UserID: a.UserID, Password: password,
		TimeOffset: a.TimeOffset, BanStatuses: gs2BanStatuses(bans), Banned: len(bans) > 0,
		CreatedAt: a.CreatedAt.UnixMilli(),
	}
	if !a.LastAuthenticatedAt.IsZero() {
		j.LastAuthenticatedAt = a.LastAuthenticatedAt.UnixMilli()
	}
	return j
}

// gs2AccountWithBans is the Account model of a with its active bans.
func (s *Server) gs2AccountWithBans(r *http.Request, ns string, a broker.Account) (gs2AccountJSON, error) {
	bans, err := s.gs2Accounts.ActiveBans(r.Context(), a.UserID)
	if err != nil {
		return gs2AccountJSON{}, err
	}
	return s.gs2Account(ns, a, bans, ""), nil
}

// gs2GRN is a GS2 resource name in the configured region and owner.
func (s *Server) gs2GRN(rest string) string {
	return "grn:gs2:" + s.gs2Region + ":" + s.gs2Owner + ":" + rest
}

// gs2Namespace authenticates the project token of a client allowed
// allowance (see gs2Client) and resolves {ns}: a client sees only its own
// namespace; any other is not found.
func (s *Server) gs2Namespace(r *http.Request, allowance string) (broker.Client, string, error) {
	c, err := s.gs2Client(r, allowance)
	if err != nil {
		return c, "", err
	}
	name := mux.Vars(r)["ns"]
	ns, err := s.broker.NamespaceByName(r.Context(), name)
	if errors.Is(err, broker.ErrNotFound) || (err == nil && ns.ID != c.NamespaceID) {
		return c, "", gs2Refuse(http.StatusNotFound, "namespace", "namespaceName", "notFound")
	}
	return c, name, err
}

// gs2CreateAccount is GS2-Account's createAccount.
func (s *Server) gs2CreateAccount(w http.ResponseWriter, r *http.Request) error {
	c, ns, err := s.gs2Namespace(r, "")
	if err != nil {
		return err
	}
	a, password, err := s.gs2Accounts.CreateAccount(r.Context(), c.NamespaceID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"item": s.gs2Account(ns, a, nil, password)})
	return nil
}

// gs2GetAccount is GS2-Account's getAccount.
func (s *Server) gs2GetAccount(w http.ResponseWriter, r *http.Request) error {
	c, ns, err := s.gs2Namespace(r, trusted)
	if err != nil {
		return err
	}
	a, err := s.gs2Accounts.Account(r.Context(), c.NamespaceID, mux.Vars(r)["userId"])
	if err != nil {
		return gs2NotFoundAs(err, "account", "userId")
	}
	item, err := s.gs2AccountWithBans(r, ns, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"item": item})
	return nil
}

// gs2DescribeAccounts is GS2-Account's describeAccounts: keyset pages by
// user ID; the page token is the last user ID of the page, base64url.
func (s *Server) gs2DescribeAccounts(w http.ResponseWriter, r *http.Request) error {
	const model = "account"
	c, ns, err := s.gs2Namespace(r, trusted)
	if err != nil {
		return err
	}
	after, limit, err := gs2Page(r, model)
	if err != nil {
		return err
	}
	// One more than asked tells whether a next page exists.
	as, err := s.gs2Accounts.Accounts(r.Context(), c.NamespaceID, after, limit+1)
	if err != nil {
		return err
	}
	items := make([]gs2AccountJSON, 0, min(len(as), limit))
	for _, a := range as[:min(len(as), limit)] {
		item, err := s.gs2AccountWithBans(r, ns, a)
		if err != nil {
			return err
		}
		items = append(items, item)
	}
	resp := map[string]any{"items": items}
	if len(as) > limit {
		resp["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte(as[limit-1].UserID))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// gs2Page reads pageToken and limit (1..1000, default 30). A literal "null"
// is GS2's SDKs' way of sending nothing.
func gs2Page(r *http.Request, model string) (after string, limit int, err error) {
	q := r.URL.Query()
	limit = 30
	if l := q.Get("limit"); l != "" && l != "null" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 1000 {
			return "", 0, gs2Refuse(http.StatusBadRequest, model, "limit", "invalid")
		}
	}
	if t := q.Get("pageToken"); t != "" && t != "null" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil {
			return "", 0, gs2Refuse(http.StatusBadRequest, model, "pageToken", "invalid")
		}
		after = string(b)
	}
	return after, limit, nil
}

// gs2Authenticate is GS2-Account's authentication.
func (s *Server) gs2Authenticate(w http.ResponseWriter, r *http.Request) error {
	const model = "account"
	c, ns, err := s.gs2Namespace(r, "")
	if err != nil {
		return err
	}
	body, err := s.readGS2Body(w, r, model)
	if err != nil {
		return err
	}
	keyID, _, err1 := body.str("keyId")
	password, _, err2 := body.str("password")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if keyID, err = s.gs2Key(keyID); err != nil {
		return err
	}
	userID := mux.Vars(r)["userId"]
	var (
		a                 broker.Account
		signed, signature string
	)
	err = s.pipeline.Guarded(r.Context(), s.caller(r), "account:"+c.NamespaceID+":"+userID, func() (err error) {
		a, signed, signature, err = s.gs2Accounts.Authenticate(r.Context(), c.NamespaceID, userID, password, keyID)
		return err
	})
	if err != nil {
		return gs2NotFoundAs(err, model, "userId")
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"item": s.gs2Account(ns, a, nil, ""), "banStatuses": []any{}, "body": signed, "signature": signature,
	})
	return nil
}

// gs2LoginBySignature is GS2-Auth's loginBySignature.
func (s *Server) gs2LoginBySignature(w http.ResponseWriter, r *http.Request) error {
	const model = "accessToken"
	c, err := s.gs2Client(r, "")
	if err != nil {
		return err
	}
	body, err := s.readGS2Body(w, r, model)
	if err != nil {
		return err
	}
	keyID, _, err1 := body.str("keyId")
	signed, _, err2 := body.str("body")
	signature, _, err3 := body.str("signature")
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	if keyID, err = s.gs2Key(keyID); err != nil {
		return err
	}
	if len(signed) > 524288 || len(signature) > 1024 {
		return gs2Refuse(http.StatusBadRequest, model, "signature", "tooLong")
	}
	var tok broker.Token
	err = s.pipeline.Guarded(r.Context(), s.caller(r), "", func() (err error) {
		tok, err = s.gs2Accounts.LoginBySignature(r.Context(), c, keyID, signed, signature)
		return err
	})
	if errors.Is(err, gs2.ErrSignature) || errors.Is(err, broker.ErrNotFound) {
		err = gs2Refuse(http.StatusUnauthorized, model, "signature", "invalid")
	}
	return gs2TokenAnswer(w, tok, err)
}

// gs2Key resolves a keyId to a key the broker holds: only the default key
// (grn:gs2:{region}:{owner}:key:default:key:default) exists, and an absent
// keyId means it.
func (s *Server) gs2Key(keyID string) (string, error) {
	def := s.gs2GRN("key:default:key:default")
	if keyID != "" && keyID != def {
		return "", gs2Refuse(http.StatusNotFound, "key", "keyId", "notFound")
	}
	return def, nil
}

// gs2NotFoundAs turns the store's not-found into GS2's 404 for the model.
func gs2NotFoundAs(err error, model, field string) error {
	if errors.Is(err, broker.ErrNotFound) {
		return gs2Refuse(http.StatusNotFound, model, field, "notFound")
	}
	return err
}

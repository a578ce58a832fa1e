package web

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// GS2-Account takeovers: the broker's takeover links, with a password. The
// /account/me/ calls name the player by X-GS2-ACCESS-TOKEN, the
// /account/{userId}/ ones by the path; both need the project token.

// gs2TakeOverJSON is GS2-Account's TakeOver model (never the password).
type gs2TakeOverJSON struct {
	TakeOverID     string `json:"takeOverId"`
	UserID         string `json:"userId"`
	Type           int    `json:"type"`
	UserIdentifier string `json:"userIdentifier"`
	CreatedAt      int64  `json:"createdAt"`
	Revision       int64  `json:"revision"`
}

func (s *Server) gs2TakeOver(ns string, l broker.Link) gs2TakeOverJSON {
	return gs2TakeOverJSON{
		TakeOverID: s.gs2GRN("account:" + ns + ":takeOver:" + strconv.Itoa(l.Slot) + ":" + l.Identifier),
		UserID:     l.UserID, Type: l.Slot, UserIdentifier: l.Identifier,
		CreatedAt: l.CreatedAt.UnixMilli(), Revision: l.Revision,
	}
}

// gs2TakeOverActions are the policy actions of the /me/ calls: a federated
// player token may only do what its policy allows on its account.
const (
	actionCreateTakeOver    = "Gs2Account:CreateTakeOver"
	actionDescribeTakeOvers = "Gs2Account:DescribeTakeOvers"
	actionGetTakeOver       = "Gs2Account:GetTakeOver"
	actionUpdateTakeOver    = "Gs2Account:UpdateTakeOver"
	actionDeleteTakeOver    = "Gs2Account:DeleteTakeOver"
)

// gs2TakeOverCall is what every takeover call resolves first: the client,
// the namespace name, and the user the call is about.
type gs2TakeOverCall struct {
	client broker.Client
	ns     string
	userID string
}

// gs2TakeOverUser authenticates the call and names its user: {userId} from
// the path, or for "me" the player of X-GS2-ACCESS-TOKEN, whose token must
// be of this namespace and, when federated, allowed action on the account.
func (s *Server) gs2TakeOverUser(r *http.Request, action string) (gs2TakeOverCall, error) {
	userID := mux.Vars(r)["userId"]
	allowance := ""
	if userID != "me" {
		allowance = trusted // a ...ByUserId call
	}
	c, ns, err := s.gs2Namespace(r, allowance)
	if err != nil {
		return gs2TakeOverCall{}, err
	}
	call := gs2TakeOverCall{client: c, ns: ns, userID: userID}
	if call.userID != "me" {
		return call, nil
	}
	refuse := gs2Refuse(http.StatusUnauthorized, "accessToken", "accessToken", "invalid")
	token := r.Header.Get("X-GS2-ACCESS-TOKEN")
	if token == "" {
		return call, gs2Refuse(http.StatusUnauthorized, "accessToken", "accessToken", "required")
	}
	claims, err := s.broker.VerifyAccess(r.Context(), token)
	if broker.Unavailable(err) {
		return call, err
	}
	if err != nil || claims.UserID == "" || claims.Namespace != c.NamespaceID {
		s.log.DebugContext(r.Context(), "gs2 player token refused", "err", err)
		return call, refuse
	}
	call.userID = claims.UserID
	ok, err := s.gs2Auth.PolicyAllows(r.Context(), claims.FederationPolicy, action,
		s.gs2GRN("account:"+ns+":account:"+call.userID))
	if err != nil {
		return call, err
	}
	if !ok {
		return call, gs2Refuse(http.StatusUnauthorized, "accessToken", "policy", "denied")
	}
	return call, nil
}

// gs2Slot reads the {type} path segment; a literal "null" is the SDKs'
// missing value.
func gs2Slot(r *http.Request) (int, error) {
	slot, err := strconv.Atoi(mux.Vars(r)["type"])
	if err != nil || slot < broker.MinSlot || slot > broker.MaxSlot {
		return 0, gs2Refuse(http.StatusBadRequest, "takeOver", "type", "invalid")
	}
	return slot, nil
}

// gs2TakeOverError names the takeover refusals in GS2's terms.
func gs2TakeOverError(err error) error {
	switch {
	case errors.Is(err, broker.ErrAlreadyExists):
		return gs2Refuse(http.StatusConflict, "takeOver", "userIdentifier", "duplicate")
	case errors.Is(err, broker.ErrConflict):
		return gs2Refuse(http.StatusConflict, "takeOver", "revision", "conflict")
	case errors.Is(err, broker.ErrLinkConflict):
		// The identity (an OpenID Connect takeover's) is another player's.
		return gs2Refuse(http.StatusConflict, "takeOver", "userIdentifier", "duplicate")
	case errors.Is(err, broker.ErrSlotTaken):
		return gs2Refuse(http.StatusConflict, "takeOver", "type", "duplicate")
	case errors.Is(err, broker.ErrLastLink):
		return gs2Refuse(http.StatusConflict, "takeOver", "type", "lastLink")
	case errors.Is(err, broker.ErrNotFound):
		return gs2Refuse(http.StatusNotFound, "takeOver", "type", "notFound")
	}
	return err
}

// gs2TakeOverHandler serves a takeover call: its error is named in
// takeover terms (gs2TakeOverError), then written by the one GS2 writer.
func (s *Server) gs2TakeOverHandler(call func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return s.gs2Handler("takeOver", func(w http.ResponseWriter, r *http.Request) error {
		return gs2TakeOverError(call(w, r))
	})
}

// gs2CreateTakeOver is createTakeOver and createTakeOverByUserId.
func (s *Server) gs2CreateTakeOver(w http.ResponseWriter, r *http.Request) error {
	const model = "takeOver"
	call, err := s.gs2TakeOverUser(r, actionCreateTakeOver)
	if err != nil {
		return err
	}
	body, err := s.readGS2Body(w, r, model)
	if err != nil {
		return err
	}
	slot, hasSlot, err1 := body.int("type")
	identifier, _, err2 := body.str("userIdentifier")
	password, _, err3 := body.str("password")
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	if !hasSlot {
		return gs2Refuse(http.StatusBadRequest, model, "type", "required")
	}
	l, err := s.gs2Accounts.CreateTakeOver(r.Context(), call.client.NamespaceID, call.userID, slot, identifier, password)
	if err != nil {
		return gs2NotFoundAs(err, "account", "userId")
	}
	writeJSON(w, http.StatusOK, map[string]any{"item": s.gs2TakeOver(call.ns, l)})
	return nil
}

// gs2DescribeTakeOvers is describeTakeOvers and describeTakeOversByUserId:
// pages by slot; the page token is the last slot of the page, base64url.
func (s *Server) gs2DescribeTakeOvers(w http.ResponseWriter, r *http.Request) error {
	const model = "takeOver"
	call, err := s.gs2TakeOverUser(r, actionDescribeTakeOvers)
	if err != nil {
		return err
	}
	after, limit, err := gs2Page(r, model)
	if err != nil {
		return err
	}
	afterSlot := -1
	if after != "" {
		if afterSlot, err = strconv.Atoi(after); err != nil {
			return gs2Refuse(http.StatusBadRequest, model, "pageToken", "invalid")
		}
	}
	links, err := s.gs2Accounts.TakeOvers(r.Context(), call.client.NamespaceID, call.userID, afterSlot, limit+1)
	if err != nil {
		return gs2NotFoundAs(err, "account", "userId")
	}
	items := make([]gs2TakeOverJSON, 0, min(len(links), limit))
	for _, l := range links[:min(len(links), limit)] {
		items = append(items, s.gs2TakeOver(call.ns, l))
	}
	resp := map[string]any{"items": items}
	if len(links) > limit {
		resp["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(links[limit-1].Slot)))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// gs2GetTakeOver is getTakeOver and getTakeOverByUserId.
func (s *Server) gs2GetTakeOver(w http.ResponseWriter, r *http.Request) error {
	return s.gs2OneTakeOver(w, r, actionGetTakeOver, func(call gs2TakeOverCall, slot int) (broker.Link, error) {
		return s.gs2Accounts.TakeOver(r.Context(), call.client.NamespaceID, call.userID, slot)
	})
}

// gs2DeleteTakeOver is deleteTakeOver and deleteTakeOverByUserId; the
// answer is the deleted takeover.
func (s *Server) gs2DeleteTakeOver(w http.ResponseWriter, r *http.Request) error {
	return s.gs2OneTakeOver(w, r, actionDeleteTakeOver, func(call gs2TakeOverCall, slot int) (broker.Link, error) {
		return s.gs2Accounts.DeleteTakeOver(r.Context(), call.client.NamespaceID, call.userID, slot)
	})
}

// gs2UpdateTakeOver is updateTakeOver and updateTakeOverByUserId: the old
// password must match (PasswordIncorrect otherwise).
func (s *Server) gs2UpdateTakeOver(w http.ResponseWriter, r *http.Request) error {
	return s.gs2OneTakeOver(w, r, actionUpdateTakeOver, func(call gs2TakeOverCall, slot int) (broker.Link, error) {
		body, err := s.readGS2Body(w, r, "takeOver")
		if err != nil {
			return broker.Link{}, err
		}
		oldPassword, _, err1 := body.str("oldPassword")
		password, _, err2 := body.str("password")
		if err := errors.Join(err1, err2); err != nil {
			return broker.Link{}, err
		}
		var l broker.Link
		err = s.pipeline.Guarded(r.Context(), s.caller(r), "takeover:"+call.userID+":"+strconv.Itoa(slot), func() (err error) {
			l, err = s.gs2Accounts.UpdateTakeOver(r.Context(), call.client.NamespaceID, call.userID, slot, oldPassword, password)
			return err
		})
		return l, err
	})
}

// gs2OneTakeOver runs a call about one takeover of a user, named by {type}.
func (s *Server) gs2OneTakeOver(w http.ResponseWriter, r *http.Request, action string,
	do func(call gs2TakeOverCall, slot int) (broker.Link, error),
) error {
	call, err := s.gs2TakeOverUser(r, action)
	if err != nil {
		return err
	}
	slot, err := gs2Slot(r)
	if err != nil {
		return err
	}
	l, err := do(call, slot)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"item": s.gs2TakeOver(call.ns, l)})
	return nil
}

// gs2DeleteTakeOverByIdentifier is deleteTakeOverByUserIdentifier.
func (s *Server) gs2DeleteTakeOverByIdentifier(w http.ResponseWriter, r *http.Request) error {
	c, ns, err := s.gs2Namespace(r, trusted)
	if err != nil {
		return err
	}
	slot, err := gs2Slot(r)
	if err != nil {
		return err
	}
	l, err := s.gs2Accounts.DeleteTakeOverByIdentifier(r.Context(), c.NamespaceID, slot, mux.Vars(r)["userIdentifier"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"item": s.gs2TakeOver(ns, l)})
	return nil
}

// gs2DoTakeOver is doTakeOver: slot + userIdentifier + password give the
// account, with a new password (see broker.DoTakeOver).
func (s *Server) gs2DoTakeOver(w http.ResponseWriter, r *http.Request) error {
	c, ns, err := s.gs2Namespace(r, "")
	if err != nil {
		return err
	}
	slot, err := gs2Slot(r)
	if err != nil {
		return err
	}
	body, err := s.readGS2Body(w, r, "takeOver")
	if err != nil {
		return err
	}
	identifier, _, err1 := body.str("userIdentifier")
	password, _, err2 := body.str("password")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	// Keyed by what was asked for, whether or not it exists.
	var (
		a           broker.Account
		newPassword string
	)
	err = s.pipeline.Guarded(r.Context(), s.caller(r), "takeover:"+c.NamespaceID+":"+strconv.Itoa(slot)+":"+identifier, func() (err error) {
		a, newPassword, err = s.gs2Accounts.DoTakeOver(r.Context(), c.NamespaceID, slot, identifier, password)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"item": s.gs2Account(ns, a, nil, newPassword)})
	return nil
}

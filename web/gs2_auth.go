package web

import (
	"errors"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// gs2Version is the service version getServiceVersion answers.
const gs2Version = "2024-04-25"

// gs2ServiceVersion answers getServiceVersion of every GS2 service. The SDKs
// disagree on the field (item or status), so both are sent.
func (s *Server) gs2ServiceVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"item": gs2Version, "status": gs2Version})
}

// gs2ProjectLogin is GS2-Identifier's projectToken/login: a client_credentials
// login of a confidential broker client, whose token later calls send as
// their project token.
func (s *Server) gs2ProjectLogin(w http.ResponseWriter, r *http.Request) {
	const model = "projectToken"
	fail := func(err error) { s.writeGS2Error(w, r, model, err) }
	body, err := s.readGS2Body(w, r, model)
	if err != nil {
		fail(err)
		return
	}
	id, _, err1 := body.str("client_id")
	secret, _, err2 := body.str("client_secret")
	if err := errors.Join(err1, err2); err != nil {
		fail(err)
		return
	}
	if id == "" {
		fail(gs2Refuse(http.StatusBadRequest, model, "clientId", "required"))
		return
	}
	c, err := s.broker.AuthenticateClient(r.Context(), id, secret)
	if err != nil {
		fail(err)
		return
	}
	// The same policy as the token endpoint's client_credentials grant: a
	// public client has no secret to prove it is the trusted server.
	if c.Public || !slices.Contains(c.Grants, broker.GrantClientCredentials) {
		fail(gs2Refuse(http.StatusUnauthorized, model, "clientId", "unauthorized"))
		return
	}
	tok, err := s.broker.IssueClientToken(r.Context(), c, c.Scopes)
	if err != nil {
		fail(err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok.AccessToken, "token_type": "Bearer", "expires_in": tok.ExpiresIn,
		// GS2's owner ID is not configured yet; the namespace is the owner.
		"owner_id": c.NamespaceID,
	})
}

// gs2UserRequest reads what login and issueTimeOffsetTokenByUserId share: the
// project token, userId (required, at most 128 characters) and timeOffset
// (optional, 0..315360000 seconds, default 0). The broker checks these again; checking here names the field.
func (s *Server) gs2UserRequest(w http.ResponseWriter, r *http.Request, model string) (c broker.Client, userID string, offset int, err error) {
	if c, err = s.gs2Client(r); err != nil {
		return c, "", 0, err
	}
	body, err := s.readGS2Body(w, r, model)
	if err != nil {
		return c, "", 0, err
	}
	userID, _, err = body.str("userId")
	switch {
	case err != nil:
		return c, "", 0, err
	case userID == "":
		return c, "", 0, gs2Refuse(http.StatusBadRequest, model, "userId", "required")
	case utf8.RuneCountInString(userID) > broker.MaxGS2UserIDLen:
		return c, "", 0, gs2Refuse(http.StatusBadRequest, model, "userId", "tooLong")
	case !broker.ValidIdentifier(userID, broker.MaxGS2UserIDLen):
		return c, "", 0, gs2Refuse(http.StatusBadRequest, model, "userId", "invalid")
	}
	offset, _, err = body.int("timeOffset")
	switch {
	case err != nil:
		return c, "", 0, err
	case offset < 0:
		return c, "", 0, gs2Refuse(http.StatusBadRequest, model, "timeOffset", "tooSmall")
	case offset > broker.MaxTimeOffset:
		return c, "", 0, gs2Refuse(http.StatusBadRequest, model, "timeOffset", "tooLarge")
	}
	return c, userID, offset, nil
}

// gs2Login is GS2-Auth's login: the trusted server names the user, who is
// created in its client's namespace on first sight. A time-offset token in
// X-GS2-TIME-OFFSET-TOKEN must be this user's, and its offset wins over the
// body's.
func (s *Server) gs2Login(w http.ResponseWriter, r *http.Request) {
	const model = "accessToken"
	fail := func(err error) { s.writeGS2Error(w, r, model, err) }
	c, userID, offset, err := s.gs2UserRequest(w, r, model)
	if err != nil {
		fail(err)
		return
	}
	if tok := r.Header.Get("X-GS2-TIME-OFFSET-TOKEN"); tok != "" {
		if offset, err = s.broker.TimeOffsetFor(c.NamespaceID, userID, tok); err != nil {
			s.log.DebugContext(r.Context(), "time offset token refused", "err", err)
			fail(gs2Refuse(http.StatusBadRequest, model, "timeOffsetToken", "invalid"))
			return
		}
	}
	tok, err := s.broker.LoginUser(r.Context(), c, userID, offset)
	if isBrokerCode(err, broker.ErrUserElsewhere) {
		fail(gs2Refuse(http.StatusConflict, model, "userId", "conflict"))
		return
	}
	if err != nil {
		fail(err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok.AccessToken, "userId": tok.UserID, "expire": tok.Expire.UnixMilli()})
}

// gs2IssueTimeOffsetToken is GS2-Auth's issueTimeOffsetTokenByUserId.
func (s *Server) gs2IssueTimeOffsetToken(w http.ResponseWriter, r *http.Request) {
	const model = "timeOffsetToken"
	fail := func(err error) { s.writeGS2Error(w, r, model, err) }
	c, userID, offset, err := s.gs2UserRequest(w, r, model)
	if err != nil {
		fail(err)
		return
	}
	tok, exp, err := s.broker.IssueTimeOffsetToken(c, userID, offset)
	if err != nil {
		fail(err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "userId": userID, "expire": exp.UnixMilli()})
}

// isBrokerCode reports whether err is a broker.Error with that code.
func isBrokerCode(err, code error) bool {
	var be *broker.Error
	return errors.As(err, &be) && be.Code == code
}

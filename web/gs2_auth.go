package web

import (
	"errors"
	"net/http"
	"slices"
	"unicode/utf8"

	oauth2errors "github.com/go-oauth2/oauth2/v4/errors"

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
func (s *Server) gs2ProjectLogin(w http.ResponseWriter, r *http.Request) error {
	const model = "projectToken"
	body, err := s.readGS2Body(w, r, model)
	if err != nil {
		return err
	}
	id, _, err1 := body.str("client_id")
	secret, _, err2 := body.str("client_secret")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if id == "" {
		return gs2Refuse(http.StatusBadRequest, model, "clientId", "required")
	}
	g := s.guess(r, "")
	if err := s.allowed(g); err != nil {
		return err
	}
	c, err := s.broker.AuthenticateClient(r.Context(), id, secret)
	if isBrokerCode(err, oauth2errors.ErrInvalidClient) {
		s.failed(g)
	}
	if err != nil {
		return err
	}
	// The same policy as the token endpoint's client_credentials grant: a
	// public client has no secret to prove it is the trusted server.
	if c.Public || !slices.Contains(c.Grants, broker.GrantClientCredentials) {
		return gs2Refuse(http.StatusUnauthorized, model, "clientId", "unauthorized")
	}
	tok, err := s.broker.IssueClientToken(r.Context(), c, c.Scopes)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok.AccessToken, "token_type": "Bearer", "expires_in": tok.ExpiresIn,
		// The owner of GS2 resource names (gs2.owner_id), as in every GRN.
		"owner_id": s.gs2Owner,
	})
	return nil
}

// gs2UserRequest reads what login, federation and
// issueTimeOffsetTokenByUserId share: the project token, userId (required,
// at most 128 characters) and timeOffset (optional, 0..315360000 seconds,
// default 0), and returns the body for the rest. The broker checks these
// again; checking here names the field.
func (s *Server) gs2UserRequest(w http.ResponseWriter, r *http.Request, model string) (c broker.Client, body gs2Body, userID string, offset int, err error) {
	if c, err = s.gs2Client(r); err != nil {
		return c, body, "", 0, err
	}
	if body, err = s.readGS2Body(w, r, model); err != nil {
		return c, body, "", 0, err
	}
	userID, offset, err = gs2UserFields(body, model)
	return c, body, userID, offset, err
}

func gs2UserFields(body gs2Body, model string) (userID string, offset int, err error) {
	if userID, err = gs2UserID(body, model, "userId"); err != nil {
		return "", 0, err
	}
	offset, _, err = body.int("timeOffset")
	switch {
	case err != nil:
		return "", 0, err
	case offset < 0:
		return "", 0, gs2Refuse(http.StatusBadRequest, model, "timeOffset", "tooSmall")
	case offset > broker.MaxTimeOffset:
		return "", 0, gs2Refuse(http.StatusBadRequest, model, "timeOffset", "tooLarge")
	}
	return userID, offset, nil
}

// gs2UserID reads a required user ID field.
func gs2UserID(body gs2Body, model, field string) (string, error) {
	userID, _, err := body.str(field)
	switch {
	case err != nil:
		return "", err
	case userID == "":
		return "", gs2Refuse(http.StatusBadRequest, model, field, "required")
	case utf8.RuneCountInString(userID) > broker.MaxGS2UserIDLen:
		return "", gs2Refuse(http.StatusBadRequest, model, field, "tooLong")
	case !broker.ValidIdentifier(userID, broker.MaxGS2UserIDLen):
		return "", gs2Refuse(http.StatusBadRequest, model, field, "invalid")
	}
	return userID, nil
}

// gs2TimeOffset is the offset a login-like call uses: that of the
// X-GS2-TIME-OFFSET-TOKEN when one is sent (it must be this user's and wins
// over the body's), else the body's.
func (s *Server) gs2TimeOffset(r *http.Request, model string, c broker.Client, userID string, offset int) (int, error) {
	tok := r.Header.Get("X-GS2-TIME-OFFSET-TOKEN")
	if tok == "" {
		return offset, nil
	}
	offset, err := s.broker.TimeOffsetFor(c.NamespaceID, userID, tok)
	if err != nil {
		s.log.DebugContext(r.Context(), "time offset token refused", "err", err)
		return 0, gs2Refuse(http.StatusBadRequest, model, "timeOffsetToken", "invalid")
	}
	return offset, nil
}

// gs2Login is GS2-Auth's login: the trusted server names the user, who is
// created in its client's namespace on first sight. A time-offset token in
// X-GS2-TIME-OFFSET-TOKEN must be this user's, and its offset wins over the
// body's.
func (s *Server) gs2Login(w http.ResponseWriter, r *http.Request) error {
	const model = "accessToken"
	c, _, userID, offset, err := s.gs2UserRequest(w, r, model)
	if err == nil {
		offset, err = s.gs2TimeOffset(r, model, c, userID, offset)
	}
	if err != nil {
		return err
	}
	tok, err := s.broker.LoginUser(r.Context(), c, userID, offset)
	return gs2TokenAnswer(w, tok, err)
}

// gs2TokenAnswer answers login, loginBySignature and federation: the
// token, its user and expiry in ms, or the refusal to write.
func gs2TokenAnswer(w http.ResponseWriter, tok broker.Token, err error) error {
	if isBrokerCode(err, broker.ErrUserElsewhere) {
		return gs2Refuse(http.StatusConflict, "accessToken", "userId", "conflict")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok.AccessToken, "userId": tok.UserID, "expire": tok.Expire.UnixMilli()})
	return nil
}

// gs2Federation is GS2-Auth's federation: originalUserId acts as userId,
// restricted by policyDocument when one is given. A time-offset token, when
// sent, must be userId's.
func (s *Server) gs2Federation(w http.ResponseWriter, r *http.Request) error {
	const model = "accessToken"
	c, body, userID, offset, err := s.gs2UserRequest(w, r, model)
	var original, policy string
	if err == nil {
		original, err = gs2UserID(body, model, "originalUserId")
	}
	if err == nil {
		policy, _, err = body.str("policyDocument")
	}
	if err == nil {
		offset, err = s.gs2TimeOffset(r, model, c, userID, offset)
	}
	if err != nil {
		return err
	}
	tok, err := s.broker.Federate(r.Context(), c, original, userID, policy, offset)
	if errors.Is(err, broker.ErrInvalidPolicy) {
		// The broker names every problem of the document; GS2 names the field.
		s.log.DebugContext(r.Context(), "federation refused", "err", err)
		err = gs2Refuse(http.StatusBadRequest, model, "policyDocument", "invalid")
	}
	return gs2TokenAnswer(w, tok, err)
}

// gs2IssueTimeOffsetToken is GS2-Auth's issueTimeOffsetTokenByUserId.
func (s *Server) gs2IssueTimeOffsetToken(w http.ResponseWriter, r *http.Request) error {
	const model = "timeOffsetToken"
	c, _, userID, offset, err := s.gs2UserRequest(w, r, model)
	if err != nil {
		return err
	}
	tok, exp, err := s.broker.IssueTimeOffsetToken(c, userID, offset)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "userId": userID, "expire": exp.UnixMilli()})
	return nil
}

// isBrokerCode reports whether err is a broker.Error with that code.
func isBrokerCode(err, code error) bool {
	var be *broker.Error
	return errors.As(err, &be) && be.Code == code
}

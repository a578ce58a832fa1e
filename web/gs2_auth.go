package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/gs2"
)

// gs2Version is the service version getServiceVersion answers.
const gs2Version = "2024-04-25"

// gs2ServiceVersion answers getServiceVersion of every GS2 service. The SDKs
// disagree on the field (item or status), so both are sent.
func (s *Server) gs2ServiceVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"item": gs2Version, "status": gs2Version})
}

// gs2ProjectLogin is GS2-Identifier's projectToken/login: the
// client_credentials grant of a confidential broker client, whose token
// later calls send as their project token.
func (s *Server) gs2ProjectLogin(w http.ResponseWriter, r *http.Request) error {
	const model = "projectToken"
	body, err := s.readGS2Body(w, r, model)
	if err != nil {
		return err
	}
	who := s.caller(r)
	var err1, err2 error
	who.ID, _, err1 = body.str("client_id")
	who.Secret, _, err2 = body.str("client_secret")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if who.ID == "" {
		return gs2Refuse(http.StatusBadRequest, model, "clientId", "required")
	}
	tok, err := s.pipeline.Token(r.Context(), who, url.Values{"grant_type": {broker.GrantClientCredentials}})
	if broker.KindOf(err) == broker.KindForbidden {
		// A client not allowed the grant is no trusted server.
		return gs2Refuse(http.StatusUnauthorized, model, "clientId", "unauthorized")
	}
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
// issueTimeOffsetTokenByUserId share: the project token, userId and
// timeOffset, and the X-GS2-TIME-OFFSET-TOKEN header; it returns the body
// for the rest.
func (s *Server) gs2UserRequest(w http.ResponseWriter, r *http.Request, model string) (c broker.Client, body gs2Body, u gs2.User, err error) {
	if c, err = s.gs2Client(r, trusted); err != nil {
		return c, body, u, err
	}
	if body, err = s.readGS2Body(w, r, model); err != nil {
		return c, body, u, err
	}
	var err1, err2 error
	u.UserID, _, err1 = body.str("userId")
	u.TimeOffset, _, err2 = body.int("timeOffset")
	u.TimeOffsetToken = r.Header.Get("X-GS2-TIME-OFFSET-TOKEN")
	return c, body, u, errors.Join(err1, err2)
}

// gs2Login is GS2-Auth's login: the trusted server names the user, who is
// created in its client's namespace on first sight.
func (s *Server) gs2Login(w http.ResponseWriter, r *http.Request) error {
	c, _, u, err := s.gs2UserRequest(w, r, "accessToken")
	if err != nil {
		return err
	}
	tok, err := s.gs2Auth.LoginUser(r.Context(), c, u)
	return gs2TokenAnswer(w, tok, err)
}

// gs2TokenAnswer answers login, loginBySignature and federation: the
// token, its user and expiry in ms, or the refusal to write.
func gs2TokenAnswer(w http.ResponseWriter, tok broker.Token, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok.AccessToken, "userId": tok.UserID, "expire": tok.Expire.UnixMilli()})
	return nil
}

// gs2Federation is GS2-Auth's federation: originalUserId acts as userId,
// restricted by policyDocument when one is given.
func (s *Server) gs2Federation(w http.ResponseWriter, r *http.Request) error {
	c, body, u, err := s.gs2UserRequest(w, r, "accessToken")
	var original, policy string
	if err == nil {
		var err1, err2 error
		original, _, err1 = body.str("originalUserId")
		policy, _, err2 = body.str("policyDocument")
		err = errors.Join(err1, err2)
	}
	if err != nil {
		return err
	}
	tok, err := s.gs2Auth.Federate(r.Context(), c, original, u, policy)
	return gs2TokenAnswer(w, tok, err)
}

// gs2IssueTimeOffsetToken is GS2-Auth's issueTimeOffsetTokenByUserId.
func (s *Server) gs2IssueTimeOffsetToken(w http.ResponseWriter, r *http.Request) error {
	c, _, u, err := s.gs2UserRequest(w, r, "timeOffsetToken")
	if err != nil {
		return err
	}
	tok, exp, err := s.gs2Auth.IssueTimeOffsetToken(c, u.UserID, u.TimeOffset)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "userId": u.UserID, "expire": exp.UnixMilli()})
	return nil
}

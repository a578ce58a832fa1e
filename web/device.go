package web

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/providers"
)

// The device authorization grant (RFC 8628). A console posts to
// /oauth2/device_authorization and shows the player a user code and
// /device; on a phone the player types the code there, signs in at an
// upstream provider and approves "Sign in on <client>?"; the console polls
// the token endpoint (grants.DeviceCode).
//
// The approval is bound to the browser that signed in, by double submit as
// the link confirmation is (link_confirm.go): deviceCookie carries the held
// sign-in's ID, the form its MAC. Typing a code only starts a sign-in; a
// wrong code is a failed guess for the caller address's guard, and every
// wrong, used or expired code gets the same answer.

const (
	devicePath        = "/device"
	deviceConfirmPath = "/device/confirm"
	deviceCookie      = "bk_device"
)

type deviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// deviceAuthorization is RFC 8628 §3.1-3.2.
func (s *Server) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	form, who, ok := s.clientRequest(w, r)
	if !ok {
		return
	}
	c, scope, err := s.pipeline.Device(r.Context(), who, form.Get("scope"), form.Get("resource"))
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	da, err := s.devices.StartDevice(r.Context(), c, scope, form.Get("resource"))
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	verify := s.broker.Issuer() + devicePath
	writeJSON(w, http.StatusOK, deviceAuthorizationResponse{
		DeviceCode: da.DeviceCode, UserCode: da.UserCode, VerificationURI: verify,
		VerificationURIComplete: verify + "?user_code=" + url.QueryEscape(da.UserCode),
		ExpiresIn:               int64(da.ExpiresIn / time.Second), Interval: int64(da.Interval / time.Second),
	})
}

// devicePage is where the player types the code: the verification URI.
func (s *Server) devicePage(w http.ResponseWriter, r *http.Request) {
	s.deviceForm(w, r, http.StatusOK, r.URL.Query().Get("user_code"), "")
}

func (s *Server) deviceForm(w http.ResponseWriter, r *http.Request, status int, code, problem string) {
	if len(code) > 12 {
		code = ""
	}
	d := pageData{Code: code, Message: problem, formAction: "'self'"}
	for _, up := range s.upstreamList {
		d.Choices = append(d.Choices, choice{Name: up.Name})
		// The form's POST answers with a redirect to the upstream's
		// sign-in, which form-action must allow (browsers check redirects).
		if u, err := url.Parse(up.AuthCodeURL(providers.Login{})); err == nil && u.Host != "" {
			d.formAction += " " + u.Scheme + "://" + u.Host
		}
	}
	if len(d.Choices) == 0 {
		s.errorPage(w, r, http.StatusServiceUnavailable, "No sign-in provider is configured.")
		return
	}
	s.page(w, r, status, "device", d)
}

// startDevice is the code form's POST: a pending code starts the sign-in
// at the chosen provider.
func (s *Server) startDevice(w http.ResponseWriter, r *http.Request) {
	form, err := s.readForm(w, r)
	if err != nil {
		s.deviceForm(w, r, http.StatusBadRequest, "", "That did not work. Please type the code again.")
		return
	}
	typed := form.Get("user_code")
	up, ok := s.upstreams[form.Get("provider")]
	if !ok {
		s.deviceForm(w, r, http.StatusBadRequest, typed, "Choose how you want to sign in.")
		return
	}
	var (
		d broker.DeviceCode
		c broker.Client
	)
	err = s.pipeline.Guarded(r.Context(), s.caller(r), "", func() error {
		var err error
		d, c, err = s.devices.DeviceForUserCode(r.Context(), typed)
		if errors.Is(err, broker.ErrNotFound) {
			return broker.NotFound("no pending sign-in has this code", err)
		}
		return err
	})
	switch kind := broker.KindOf(err); {
	case err == nil:
	case kind == broker.KindNotFound:
		s.deviceForm(w, r, http.StatusBadRequest, typed, "That code is not valid, or it has expired. Check the code on your device.")
		return
	case kind == broker.KindRateLimited:
		setRetryAfter(w, http.StatusTooManyRequests, err)
		s.deviceForm(w, r, http.StatusTooManyRequests, "", "Too many wrong codes. Please wait a minute and try again.")
		return
	default:
		s.log.ErrorContext(r.Context(), "device code lookup", "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "The sign-in could not start. Please try again.")
		return
	}
	id, err := s.devices.StartDeviceLogin(r.Context(), c, d, up.Name)
	if err != nil {
		s.log.ErrorContext(r.Context(), "start device login", "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "The sign-in could not start. Please try again.")
		return
	}
	s.toUpstream(w, r, up, id)
}

// holdDevice answers the upstream's return of a device sign-in with the
// approval page. It approves nothing.
func (s *Server) holdDevice(w http.ResponseWriter, r *http.Request, req broker.AuthRequest, up Upstream, subject string) {
	id, u, err := s.devices.HoldDevice(r.Context(), req, up.Slot, subject)
	var c broker.Client
	if err == nil {
		c, err = s.broker.Client(r.Context(), req.ClientID)
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "hold device sign-in", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "The sign-in could not be completed. Please start again on your device.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookie, Value: id, Path: deviceConfirmPath, MaxAge: int(broker.PendingLinkTTL / time.Second),
		HttpOnly: true, Secure: strings.HasPrefix(s.broker.Issuer(), "https://"), SameSite: http.SameSiteStrictMode,
	})
	s.page(w, r, http.StatusOK, "confirm_device", pageData{
		Client: c.Name, Player: cmp.Or(u.Nickname, u.ID), Token: s.devices.DeviceConfirmToken(id), formAction: "'self'",
	})
}

// confirmDevice is the approval form's POST: action=approve signs the
// device in, action=deny refuses it.
func (s *Server) confirmDevice(w http.ResponseWriter, r *http.Request) {
	form, err := s.readForm(w, r)
	cookie, cerr := r.Cookie(deviceCookie)
	action := form.Get("action")
	switch {
	case err != nil || (action != "approve" && action != "deny"):
		s.errorPage(w, r, http.StatusBadRequest, "This approval is malformed. Nothing was approved.")
		return
	case cerr != nil || !s.devices.ConfirmsDevice(cookie.Value, form.Get("token")):
		s.errorPage(w, r, http.StatusForbidden, "This approval is not valid in this browser. Nothing was approved. Please start again on your device.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: deviceCookie, Path: deviceConfirmPath, MaxAge: -1})
	_, err = s.devices.DecideDevice(r.Context(), cookie.Value, action == "approve")
	switch {
	case errors.Is(err, broker.ErrNotFound):
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in has expired or was already decided. Please start again on your device.")
	case err != nil:
		s.log.ErrorContext(r.Context(), "decide device sign-in", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "The sign-in could not be completed. Please try again.")
	case action == "approve":
		s.page(w, r, http.StatusOK, "device_done", pageData{Message: "Your device is signed in"})
	default:
		s.page(w, r, http.StatusOK, "device_done", pageData{Message: "Sign-in denied"})
	}
}

package grants

import (
	"context"

	oauth2errors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// DevicePoller polls a device authorization (broker.Broker).
type DevicePoller interface {
	PollDevice(ctx context.Context, c broker.Client, deviceCode string, bind broker.Binding) (broker.Token, error)
}

// DeviceCode is RFC 8628 §3.4's grant: the device polls with its
// device_code until the player approved or denied the sign-in.
type DeviceCode struct {
	Poller DevicePoller
}

var _ Grant = DeviceCode{}

func (DeviceCode) Type() string { return broker.GrantDeviceCode }

func (g DeviceCode) Exchange(ctx context.Context, r Request) (broker.Token, error) {
	code := r.Form.Get("device_code")
	if code == "" {
		return broker.Token{}, missing("device_code")
	}
	return g.Poller.PollDevice(ctx, r.Client, code, r.Binding)
}

// Device admits the client of a device authorization request (RFC 8628
// §3.1): a public client by its client_id, a confidential one by its
// credentials, allowed the device_code grant, asking for a scope and a
// resource it may have. It returns the client and the scope (the client's
// when none was asked).
func (p *Pipeline) Device(ctx context.Context, caller Caller, scopeParam, resource string) (broker.Client, []string, error) {
	c, err := p.endpoint(ctx, caller, true)
	if err != nil {
		return broker.Client{}, nil, err
	}
	if err := allowed(c, broker.GrantDeviceCode); err != nil {
		return broker.Client{}, nil, withCode(oauth2errors.ErrUnauthorizedClient, err)
	}
	scope, err := broker.ParseScope(scopeParam)
	if err == nil {
		err = withinClient(c, scope)
	}
	if err != nil {
		return broker.Client{}, nil, withCode(oauth2errors.ErrInvalidScope, err)
	}
	if err := broker.CheckResource(c, resource); err != nil {
		return broker.Client{}, nil, withCode(errInvalidTarget, err)
	}
	if scope == nil {
		scope = c.Scopes
	}
	return c, scope, nil
}

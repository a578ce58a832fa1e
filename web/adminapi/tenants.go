package adminapi

import (
	"net/http"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
)

// tenants serves namespaces, clients, keys and the audit trail.
type tenants struct {
	svc *admin.Tenants
	alg string
}

func (t tenants) listNamespaces(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	out, err := t.svc.Namespaces(r.Context(), a, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(out.Namespaces, namespaceOut, out.Next))
	return nil
}

func (t tenants) createNamespace(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	ns, err := t.svc.CreateNamespace(r.Context(), a, in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, namespaceOut(ns))
	return nil
}

func (t tenants) getNamespace(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	ns, err := t.svc.Namespace(r.Context(), a, vars(r)["namespace"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, namespaceOut(ns))
	return nil
}

func (t tenants) listClients(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	nsID := ""
	if name := r.URL.Query().Get("namespace"); name != "" {
		ns, err := t.svc.Namespace(r.Context(), a, name)
		if err != nil {
			return err
		}
		nsID = ns.ID
	}
	out, err := t.svc.Clients(r.Context(), a, nsID, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(out.Clients, func(c broker.Client) clientJSON { return clientOut(c, "") }, out.Next))
	return nil
}

func (t tenants) createClient(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	var in clientIn
	if err := decode(r, &in); err != nil {
		return err
	}
	c, secret, err := t.svc.CreateClient(r.Context(), a, in.spec())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, clientOut(c, secret))
	return nil
}

func (t tenants) getClient(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	c, err := t.svc.Client(r.Context(), a, vars(r)["client"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, clientOut(c, ""))
	return nil
}

func (t tenants) updateClient(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	var in clientIn
	if err := decode(r, &in); err != nil {
		return err
	}
	ch, err := in.change()
	if err != nil {
		return err
	}
	c, _, err := t.svc.UpdateClient(r.Context(), a, vars(r)["client"], ch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, clientOut(c, ""))
	return nil
}

func (t tenants) deleteClient(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	if err := t.svc.DeleteClient(r.Context(), a, vars(r)["client"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateSecret answers the new secret, once; the old one stops working.
func (t tenants) rotateSecret(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	c, secret, err := t.svc.UpdateClient(r.Context(), a, vars(r)["client"], broker.ClientChange{RotateSecret: true})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, clientOut(c, secret))
	return nil
}

func (t tenants) listKeys(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	ks, err := t.svc.Keys(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(ks, keyOut, ""))
	return nil
}

func (t tenants) rotateKey(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	var in struct {
		Alg               string `json:"alg"`
		PublishForSeconds int64  `json:"publish_for_seconds"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	if in.Alg == "" {
		in.Alg = t.alg
	}
	if in.PublishForSeconds < 0 {
		return broker.Invalid("publish_for_seconds", "publish_for_seconds must not be negative")
	}
	k, err := t.svc.RotateKey(r.Context(), a, in.Alg, time.Duration(in.PublishForSeconds)*time.Second)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, keyOut(k))
	return nil
}

func (t tenants) listAudit(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := admin.AuditFilter{UserID: q.Get("user"), Type: q.Get("type")}
	if s := q.Get("since"); s != "" {
		if f.Since, err = time.Parse(time.RFC3339, s); err != nil {
			return broker.Invalid("since", "since must be an RFC 3339 time, such as 2026-12-01T00:00:00Z")
		}
	}
	out, err := t.svc.Audit(r.Context(), a, f, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(out.Events, auditOut, out.Next))
	return nil
}

func auditOut(e broker.AuditEvent) auditJSON {
	return auditJSON{ID: e.ID, At: e.At.UTC(), Type: e.Type, Actor: e.Actor, Address: e.Address,
		NamespaceID: e.NamespaceID, UserID: e.UserID, Target: e.Target, Detail: e.Detail}
}

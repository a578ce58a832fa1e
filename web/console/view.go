package console

import (
	"cmp"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

//go:embed templates/*.html static/console.css
var files embed.FS

// stylesheetCSS is the console's one stylesheet, served from the console
// itself so that the CSP can forbid inline style.
var stylesheetCSS = func() []byte {
	b, err := files.ReadFile("static/console.css")
	if err != nil {
		panic(err)
	}
	return b
}()

var funcs = template.FuncMap{
	// seg escapes one path segment (a user ID may hold '?', '#' or '%').
	"seg":  url.PathEscape,
	"when": when,
	"join": strings.Join,
}

// when formats a time for staff: UTC, to the second.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// pages are parsed once; each is the layout around its own content.
var pages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"login", "signed_in", "problem", "search", "player", "confirm", "clients",
		"client_new", "keys", "audit"} {
		m[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/partials.html", "templates/"+name+".html"))
	}
	return m
}()

// view is what the layout shows around a page's Body.
type view struct {
	Title string
	// Actor is who is signed in; "" shows no navigation.
	Actor, CSRF string
	// Section is the navigation entry to mark as current.
	Section string
	Flash   *flash
	// Refresh, when set, is where the page moves on to by itself.
	Refresh string
	Body    any
}

// render writes a page. Pages carry no token but the form's CSRF token
// and, once, a new client secret; the guard marks them no-store.
func (c *site) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if err := pages[name].ExecuteTemplate(w, "layout", v); err != nil {
		c.cfg.Log.ErrorContext(r.Context(), "console: render page", "page", name, "err", err)
	}
}

// show renders a signed-in page with the session's flash.
func (c *site) show(w http.ResponseWriter, r *http.Request, v visit, name, title, section string, body any) {
	c.render(w, r, http.StatusOK, name, view{Title: title, Actor: v.actorID, CSRF: v.csrf, Section: section,
		Flash: c.sessions.takeFlash(v.key), Body: body})
}

// problem is a page that says what went wrong, to anyone.
func (c *site) problem(w http.ResponseWriter, r *http.Request, status int, msg string) {
	v := view{Title: http.StatusText(status), Body: problemBody{Message: msg}}
	if s, ok := c.session(r); ok {
		v.Actor, v.CSRF = s.actorID, s.csrf
	}
	c.render(w, r, status, "problem", v)
}

type problemBody struct {
	Message string
	// Detail is a hint for the signed-out, such as the identity that
	// was refused.
	Detail string
}

// fail shows a service error readably: its kind as the status, its safe
// description (and the field at fault) as the message. Anything without
// a kind is logged once and shown without detail.
func (c *site) fail(w http.ResponseWriter, r *http.Request, v visit, err error) {
	status, msg := explain(err)
	if status == http.StatusInternalServerError {
		c.cfg.Log.ErrorContext(r.Context(), "console", "path", r.URL.Path, "err", err)
	}
	c.render(w, r, status, "problem", view{Title: http.StatusText(status), Actor: v.actorID, CSRF: v.csrf,
		Body: problemBody{Message: msg}})
}

// explain maps an error to a status and a message fit for staff.
func explain(err error) (int, string) {
	desc := ""
	if e := broker.Refusal(err); e != nil {
		desc = e.Description
		if e.Field != "" {
			desc = e.Field + ": " + desc
		}
	}
	switch broker.KindOf(err) {
	case broker.KindInvalid:
		return http.StatusBadRequest, "Invalid " + cmp.Or(desc, "input") + "."
	case broker.KindNotFound:
		return http.StatusNotFound, "Not found: " + cmp.Or(desc, "it does not exist") + "."
	case broker.KindForbidden:
		return http.StatusForbidden, "Not allowed: " + cmp.Or(desc, "forbidden") + "."
	case broker.KindConflict:
		return http.StatusConflict, "Conflict: " + cmp.Or(desc, "it already exists") + "."
	case broker.KindUnauthenticated:
		return http.StatusUnauthorized, "Refused: " + cmp.Or(desc, "unauthenticated") + "."
	case broker.KindRateLimited:
		return http.StatusTooManyRequests, "Too many requests; try again shortly."
	case broker.KindUnavailable:
		return http.StatusServiceUnavailable, "The database is unavailable; try again shortly."
	}
	return http.StatusInternalServerError, "Something went wrong; it has been logged."
}

// stylesheet serves the console's CSS.
func (c *site) stylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	// The guard said no-store; a stylesheet holds nothing private.
	w.Header().Set("Cache-Control", "public, max-age=3600")
	if r.Method != http.MethodHead {
		_, _ = w.Write(stylesheetCSS)
	}
}

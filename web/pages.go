package web

import (
	"cmp"
	"embed"
	"html/template"
	"net/http"
	"net/url"
)

//go:embed templates/*.html
var templateFiles embed.FS

// pages are parsed once; each is the layout around its own content.
var pages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"login", "error", "conflict", "linked", "confirm_link", "device", "confirm_device", "device_done"} {
		m[name] = template.Must(template.ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html"))
	}
	return m
}()

var pageTitles = map[string]string{
	"login": "Sign in", "error": "Sign-in problem", "conflict": "Already linked", "linked": "Account linked",
	"confirm_link": "Link account?", "device": "Sign in on your device", "confirm_device": "Approve sign-in?",
	"device_done": "Device sign-in",
}

type pageData struct {
	Title    string
	Message  string
	Provider string
	Choices  []choice
	// Player and Token are the confirmation pages': the player an identity
	// is to be linked to, or a device signed in as, and the form's
	// anti-CSRF token. Code is the device page's user code.
	Player, Token, Code string
	// Client is the application a device sign-in is for.
	Client string
	// formAction is the page's CSP form-action, 'none' when empty: where
	// its form posts, and where that answer may redirect to (browsers
	// check form-action on the redirects too).
	formAction string
}

type choice struct{ Name, URL string }

// page renders a page; pages never carry tokens or secrets (but for a
// form's anti-CSRF token), and are never cached or framed.
func (s *Server) page(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.Title = pageTitles[name]
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action "+cmp.Or(d.formAction, "'none'"))
	w.WriteHeader(status)
	if err := pages[name].ExecuteTemplate(w, "layout", d); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
	}
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.page(w, r, status, "error", pageData{Message: msg})
}

// loginPage lists the providers; each choice is the same authorization
// request naming its provider.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, q url.Values) {
	d := pageData{}
	for _, up := range s.upstreamList {
		q.Set("provider", up.Name)
		d.Choices = append(d.Choices, choice{Name: up.Name, URL: "/oauth2/authorize?" + q.Encode()})
	}
	if len(d.Choices) == 0 {
		s.errorPage(w, r, http.StatusServiceUnavailable, "No sign-in provider is configured.")
		return
	}
	s.page(w, r, http.StatusOK, "login", d)
}

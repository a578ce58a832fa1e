package console

import (
	"net/http"
	"net/url"
)

// action is a change staff make. Its URL asks first: a GET shows what will
// happen and a form to confirm it, and changes nothing; only that form's
// POST, with the session's CSRF token, makes the change, and answers with
// a redirect to a page that shows the outcome (POST-redirect-GET), so that
// reloading it repeats nothing.
type action struct {
	// params are the fields the action takes: the GET's query, echoed
	// into the confirmation form as hidden fields, and the POST's form.
	params []string
	// back is where Cancel and the outcome lead.
	back func(r *http.Request) string
	// prepare checks the request and says what will happen; it changes
	// nothing. It runs again on the POST, on what the form sent.
	prepare func(r *http.Request, v visit, in url.Values) (confirmation, error)
	// do makes the change and says how it went.
	do func(r *http.Request, v visit, in url.Values) (flash, error)
}

// confirmation is the question a confirmation page asks.
type confirmation struct {
	Question string
	// Details say what the change does, one point each.
	Details []string
	// Button is the confirming button's label; Danger marks a change that
	// takes something away from a player or a game.
	Button string
	Danger bool
}

type confirmBody struct {
	confirmation
	// Action is where the form posts: the page's own path.
	Action, Back string
	Fields       []field
}

type field struct{ Name, Value string }

// confirm serves an action's GET: the confirmation page.
func (c *site) confirm(a action) http.Handler {
	return c.signedIn(func(w http.ResponseWriter, r *http.Request, v visit) error {
		in := r.URL.Query()
		conf, err := a.prepare(r, v, in)
		if err != nil {
			return err
		}
		body := confirmBody{confirmation: conf, Action: r.URL.EscapedPath(), Back: a.back(r)}
		for _, p := range a.params {
			for _, val := range in[p] {
				body.Fields = append(body.Fields, field{Name: p, Value: val})
			}
		}
		c.show(w, r, v, "confirm", conf.Question, "", body)
		return nil
	})
}

// perform serves an action's POST. Without a live session, from another
// origin or without the session's CSRF token it changes nothing and says
// so on a page of its own (a redirect would hide the refusal).
func (c *site) perform(a action) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := c.session(r)
		if !ok {
			c.clearCookie(w, sessionCookie)
			c.problem(w, r, http.StatusForbidden, "You are not signed in, or your console session has ended. Nothing was changed: sign in and try again.")
			return
		}
		if err := r.ParseForm(); err != nil {
			c.problem(w, r, http.StatusBadRequest, "The form could not be read. Nothing was changed.")
			return
		}
		if !c.sameOrigin(r) || !v.checkCSRF(r.PostForm.Get("csrf")) {
			c.problem(w, r, http.StatusForbidden, "This form did not come from your console session. Nothing was changed: go back, reload the page and confirm again.")
			return
		}
		in := r.PostForm
		conf, err := a.prepare(r, v, in)
		var f flash
		if err == nil {
			f, err = a.do(r, v, in)
		}
		if err != nil {
			// The service changes nothing when it refuses: each action
			// commits with its audit event or not at all.
			status, msg := explain(err)
			if status == http.StatusInternalServerError {
				c.cfg.Log.ErrorContext(r.Context(), "console action", "path", r.URL.Path, "err", err)
			}
			f = flash{Error: true, Text: cmpLabel(conf.Button) + " failed. " + msg}
		}
		c.sessions.setFlash(v.key, f)
		http.Redirect(w, r, a.back(r), http.StatusSeeOther)
	})
}

// cmpLabel names an action in a failure message.
func cmpLabel(button string) string {
	if button == "" {
		return "The action"
	}
	return button
}

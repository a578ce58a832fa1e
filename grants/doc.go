// Package grants implements the token endpoint's grants, one type per file,
// behind one pipeline (Dispatcher): client authentication, grant allowance and
// scope policy run once, before any grant.
//
// go-oauth2's server runs its own, non-atomic refresh rotation without reuse
// detection and rejects grant types it does not know, so the pipeline is ours;
// go-oauth2 supplies the vocabulary (grant type names and RFC error values).
package grants

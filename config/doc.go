// Package config is Bridgekeeper's configuration: one strict YAML file,
// overridden by BRIDGEKEEPER_* environment variables, overridden in turn by
// command-line flags (DESIGN §7).
//
// The package never reads the process environment or the command line
// itself: cmd/ passes os.Environ() and the flags the user actually set to
// [Load], which decodes the file (unknown keys are errors), applies the
// environment and the flags, fills in defaults and runs [Config.Validate].
// Every problem found on the way is reported at once, one line each, naming
// the setting, the environment variable or the flag at fault.
//
// The key-encryption key is a secret: it is decoded only by [Config.KEK],
// no error message contains it, and [Config.Redacted] (also used by
// [Config.String]) replaces it, provider client secrets and database
// passwords with "REDACTED".
package config

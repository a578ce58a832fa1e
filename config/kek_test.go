package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testKEK is the base64 of 32 bytes 0x00..0x1f.
var testKEK = base64.StdEncoding.EncodeToString(testKEKBytes)

var testKEKBytes = func() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

func TestKEK(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	notB64 := "s3cr3t-not-base64!!" + testKEK[:20]
	tests := []struct {
		name    string
		inline  string
		file    *string // contents of key_encryption_key_file, when set
		missing bool    // key_encryption_key_file names a missing file
		want    []byte
		wantErr string
		secret  string // must not appear in the error
	}{
		{name: "inline", inline: testKEK, want: testKEKBytes},
		{name: "inline with whitespace", inline: " " + testKEK + "\n", want: testKEKBytes},
		{name: "file", file: ptr(testKEK + "\n"), want: testKEKBytes},
		{name: "file with CRLF and spaces", file: ptr("  " + testKEK + "\r\n\r\n"), want: testKEKBytes},
		{name: "bad base64", inline: notB64, wantErr: "key_encryption_key: is not valid standard base64", secret: notB64},
		{name: "url-safe base64 rejected", inline: strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))), wantErr: "is not valid standard base64"},
		{name: "wrong length", inline: short, wantErr: "key_encryption_key: decodes to 16 bytes, want exactly 32", secret: short},
		{name: "too long", inline: base64.StdEncoding.EncodeToString(append(testKEKBytes, 1)), wantErr: "decodes to 33 bytes", secret: testKEK[:40]},
		{name: "file wrong length", file: ptr(short), wantErr: `key_encryption_key_file "`, secret: short},
		{name: "file bad base64", file: ptr(notB64), wantErr: "is not valid standard base64", secret: notB64},
		{name: "file empty", file: ptr(" \n"), wantErr: "is empty"},
		{name: "file missing", missing: true, wantErr: "key_encryption_key_file: open "},
		{name: "missing", wantErr: "set BRIDGEKEEPER_KEY_ENCRYPTION_KEY or key_encryption_key_file"},
		{name: "both", inline: testKEK, file: ptr(testKEK), wantErr: "both set", secret: testKEK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{KeyEncryptionKey: tt.inline}
			if tt.file != nil {
				c.KeyEncryptionKeyFile = writeFile(t, "kek", *tt.file)
			}
			if tt.missing {
				c.KeyEncryptionKeyFile = filepath.Join(t.TempDir(), "nope")
			}
			got, err := c.KEK()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("KEK: %v", err)
				}
				if !bytes.Equal(got, tt.want) {
					t.Fatalf("KEK = %x, want %x", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("KEK = %x, want an error containing %q", got, tt.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("error %q does not contain %q", msg, tt.wantErr)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line", msg)
			}
			if tt.secret != "" && strings.Contains(msg, tt.secret) {
				t.Errorf("error %q leaks the key material", msg)
			}
			if tt.missing && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v does not wrap fs.ErrNotExist", err)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestSecretsNeverPrinted checks that neither Load's errors nor the printed
// configuration contain a secret.
func TestSecretsNeverPrinted(t *testing.T) {
	const bad = "dGhpcyBpcyBub3QgMzIgYnl0ZXMgbG9uZw==" // "this is not 32 bytes long"
	for _, env := range [][]string{
		{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + bad},
		{"BRIDGEKEEPER_KEY_ENCRYPTON_KEY=" + bad}, // misspelt: unknown variable
		{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + bad, "BRIDGEKEEPER_KEY_ENCRYPTION_KEY_FILE=/kek"},
	} {
		_, err := Load("", env, nil)
		if err == nil || strings.Contains(err.Error(), bad) {
			t.Errorf("Load(%q) error = %v, want an error without the key", env[0][:30], err)
		}
	}

	c, err := Load("", []string{
		"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + testKEK,
		"BRIDGEKEEPER_DATABASE=postgres://bk:pa55word@db/bk?sslmode=require",
		"BRIDGEKEEPER_RATE_LIMIT_STORE=redis://bk:l1mits@limits:6379/0",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Providers = []Provider{{Name: "g", Type: "oidc", ClientSecret: "client-s3cret", Scopes: []string{"openid"}}}
	r := c.Redacted()
	if r.KeyEncryptionKey != "REDACTED" || r.Providers[0].ClientSecret != "REDACTED" ||
		r.Database != "postgres://bk:REDACTED@db/bk?sslmode=require" || r.RateLimitStore != "redis://bk:REDACTED@limits:6379/0" {
		t.Errorf("Redacted = %+v", r)
	}
	if c.KeyEncryptionKey != testKEK || c.Providers[0].ClientSecret != "client-s3cret" || !strings.Contains(c.Database, "pa55word") ||
		!strings.Contains(c.RateLimitStore, "l1mits") {
		t.Errorf("Redacted modified its receiver: %+v", c)
	}
	for _, s := range []string{c.String(), r.String()} {
		for _, secret := range []string{testKEK, "client-s3cret", "pa55word", "l1mits"} {
			if strings.Contains(s, secret) {
				t.Errorf("String() = %s\ncontains %q", s, secret)
			}
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"":                               "",
		"sqlite://data/bridgekeeper.db":  "sqlite://data/bridgekeeper.db",
		"postgres://bk@db/bk":            "postgres://bk@db/bk",
		"postgres://bk:pw@db/bk":         "postgres://bk:REDACTED@db/bk",
		"postgres://db/bk?password=pw&x": "postgres://db/bk?password=REDACTED&x=",
		"postgres://bk:p%zz@db":          "REDACTED", // does not parse
	} {
		if got := redactDSN(in); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", in, got, want)
		}
	}
	// A password in a bad database URL must not reach Validate's message.
	c := valid()
	c.Database = "mysql://bk:pw@db/bk"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), ":pw@") {
		t.Errorf("Validate() = %v, want an error without the password", err)
	}
}

// TestSettingsCoverEveryKey keeps the environment table in step with the
// YAML keys: every scalar key has exactly one BRIDGEKEEPER_ variable.
func TestSettingsCoverEveryKey(t *testing.T) {
	var keys []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for f := range typ.Fields() {
			key := prefix + strings.Split(f.Tag.Get("yaml"), ",")[0]
			switch f.Type.Kind() {
			case reflect.Struct:
				walk(key+".", f.Type)
			case reflect.Slice, reflect.Map: // providers, xsolla: file only
			default:
				keys = append(keys, key)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	var got, flags []string
	for _, s := range settings {
		got = append(got, s.key)
		if s.flag != "" {
			flags = append(flags, s.flag)
		}
	}
	if !reflect.DeepEqual(got, keys) {
		t.Errorf("settings keys = %v\nyaml keys     = %v", got, keys)
	}
	wantFlags := []string{"addr", "issuer", "database", "data-dir", "signing-alg", "key-encryption-key-file", "log-level"}
	if !reflect.DeepEqual(flags, wantFlags) {
		t.Errorf("flags = %v, want %v", flags, wantFlags)
	}
}

package main

import (
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/config"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter/gamecentertest"
)

// TestPlatformSignInsReadTheirFiles covers what platformSignIns reads
// besides the configuration: key and certificate files.
func TestPlatformSignInsReadTheirFiles(t *testing.T) {
	keys := gamecentertest.NewKeyServer(t)
	root, intermediate, _ := keys.PEM()
	rootFile, interFile := writeFile(t, "root.pem", string(root)), writeFile(t, "inter.pem", string(intermediate))
	keyFile := writeFile(t, "steam.key", "  publisher-key-from-a-file\n")
	notPEM := writeFile(t, "not.pem", "this is no certificate")
	missing := t.TempDir() + "/missing.pem"
	steam := func(edit func(*config.Provider)) config.Provider {
		p := config.Provider{Name: "steam", Type: "steam", Slot: 20, AppID: "480"}
		edit(&p)
		return p
	}
	gc := func(edit func(*config.Provider)) config.Provider {
		p := config.Provider{Name: "gc", Type: "gamecenter", Slot: 23, BundleIDs: []string{"com.example.game"}}
		edit(&p)
		return p
	}
	for _, tc := range []struct {
		name     string
		provider config.Provider
		want     string // "" for success
	}{
		{"a publisher key from a file", steam(func(p *config.Provider) { p.PublisherKeyFile = keyFile }), ""},
		{"should fail because the publisher key is given twice",
			steam(func(p *config.Provider) { p.PublisherKey, p.PublisherKeyFile = "k", keyFile }), "set only one"},
		{"should fail because the publisher key file is missing",
			steam(func(p *config.Provider) { p.PublisherKeyFile = missing }), "publisher_key_file"},
		{"Game Center roots and intermediates from files",
			gc(func(p *config.Provider) { p.RootsFile, p.IntermediatesFile = rootFile, interFile }), ""},
		{"should fail because the roots file is missing",
			gc(func(p *config.Provider) { p.RootsFile = missing }), "roots_file"},
		{"should fail because the intermediates file holds no certificate",
			gc(func(p *config.Provider) { p.IntermediatesFile = notPEM }), "intermediates_file"},
		{"should fail because the roots file holds no certificate",
			gc(func(p *config.Provider) { p.RootsFile = notPEM }), "holds no PEM certificate"},
		{"should fail because an organization is empty",
			gc(func(p *config.Provider) { p.Organizations = []string{""} }), "organization"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := platformSignIns(config.Config{Providers: []config.Provider{tc.provider}})
			if tc.want == "" {
				if err != nil || len(got) != 1 || got[0].Name != tc.provider.Name {
					t.Fatalf("platformSignIns = %+v, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("platformSignIns error %v, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "publisher-key-from-a-file") {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
}

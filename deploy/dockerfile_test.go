package deploy

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	op, args string
}

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cur += line
		if strings.HasSuffix(cur, `\`) {
			cur = strings.TrimSuffix(cur, `\`) + " "
			continue
		}
		op, args, _ := strings.Cut(cur, " ")
		out = append(out, instruction{strings.ToUpper(op), strings.TrimSpace(args)})
		cur = ""
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The image's rules (issue 15 item 5), checked on the file itself since no
// Docker daemon runs here: a multi-stage build whose final stage is
// distroless or scratch, a CGO_ENABLED=0 binary, a non-root user, and a
// HEALTHCHECK that asks /readyz through the binary.
func TestDockerfile(t *testing.T) {
	ins := readDockerfile(t)
	var froms []string
	var final []instruction // instructions of the last stage
	for _, in := range ins {
		if in.op == "FROM" {
			froms = append(froms, in.args)
			final = nil
		}
		final = append(final, in)
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %v", froms)
	}
	if base := froms[len(froms)-1]; !strings.Contains(base, "distroless") && base != "scratch" {
		t.Errorf("final stage FROM %q: want distroless or scratch", base)
	}
	var build, user, health, entry string
	for _, in := range ins {
		if in.op == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	for _, in := range final {
		switch in.op {
		case "USER":
			user = in.args
		case "HEALTHCHECK":
			health = in.args
		case "ENTRYPOINT":
			entry = in.args
		}
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "./cmd/bridgekeeper") {
		t.Errorf("build step %q: want CGO_ENABLED=0 go build ./cmd/bridgekeeper", build)
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("final stage USER %q: want a non-root user", user)
	}
	if !regexp.MustCompile(`CMD \["/bridgekeeper", "healthcheck"\]`).MatchString(health) {
		t.Errorf("HEALTHCHECK %q: want the binary's healthcheck command (GET /readyz)", health)
	}
	if entry != `["/bridgekeeper"]` {
		t.Errorf("ENTRYPOINT %q: want the binary", entry)
	}

	// The build step, run here as the image's build stage runs it, must
	// give a static binary: no ELF interpreter, no shared libraries. It
	// compiles everything again without cgo, so it is make test-ha's.
	if os.Getenv("BRIDGEKEEPER_TEST_HA") == "" {
		t.Log("static build not checked: set BRIDGEKEEPER_TEST_HA=1 (make test-ha)")
		return
	}
	const built = "/out/bridgekeeper" // where the build stage writes it, which COPY takes
	if !strings.Contains(build, "-o "+built) {
		t.Fatalf("build step %q does not write %s", build, built)
	}
	out := filepath.Join(t.TempDir(), "bridgekeeper")
	cmd := exec.Command("sh", "-c", strings.Replace(build, built, out, 1))
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has an ELF interpreter: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
}

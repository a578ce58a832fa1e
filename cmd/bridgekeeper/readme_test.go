package main

// The README's shell examples are run here, in order, in one bash session
// against the real binary, so that what a newcomer pastes works: each
// example may use only what an example before it set.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// readmeBase and readmeAdmin are the addresses the README's examples
// name: make run's public and admin listeners. The test serves on free
// ports and reads these as those ports' URLs.
const (
	readmeBase  = "http://127.0.0.1:8080"
	readmeAdmin = "http://127.0.0.1:8081"
)

// fence is one fenced code block of a Markdown file.
type fence struct {
	lang  string   // the info string's first word
	attrs []string // its further words: no-run, allow-4xx, a file name
	line  int      // the line of the block's first line of code, 1-based
	body  string
}

// parseFences returns the ``` blocks of a Markdown document in order.
func parseFences(doc []byte) ([]fence, error) {
	var out []fence
	var cur *fence
	var body strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(doc))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(text, "```"):
			words := strings.Fields(strings.TrimPrefix(text, "```"))
			cur = &fence{line: n + 1}
			if len(words) > 0 {
				cur.lang, cur.attrs = words[0], words[1:]
			}
			body.Reset()
		case cur != nil && strings.TrimSpace(text) == "```":
			cur.body = body.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(text + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: code block never closed", cur.line-1)
	}
	return out, nil
}

// readmeExamples sorts the README's blocks: the sh blocks to run, and the
// configuration file the examples assume (the yaml block named
// bridgekeeper.yaml). A shell block in any other dialect, or with an
// attribute the test does not know, is an error: it would silently not run.
func readmeExamples(blocks []fence) (run []fence, config string, err error) {
	var errs []error
	for _, b := range blocks {
		switch b.lang {
		case "sh":
			skip := false
			for _, a := range b.attrs {
				switch a {
				case "no-run":
					skip = true
				case "allow-4xx":
				default:
					errs = append(errs, fmt.Errorf("README.md:%d: unknown attribute %q of an sh block (no-run, allow-4xx)", b.line-1, a))
				}
			}
			if !skip {
				run = append(run, b)
			}
		case "bash", "shell", "console", "shell-session", "zsh":
			errs = append(errs, fmt.Errorf("README.md:%d: a %s block; fence shell examples as sh (run by this test) or sh no-run", b.line-1, b.lang))
		case "yaml":
			if slices.Contains(b.attrs, "bridgekeeper.yaml") {
				config = b.body
			}
		}
	}
	if config == "" {
		errs = append(errs, errors.New("README.md: no yaml block named bridgekeeper.yaml: the configuration the examples assume"))
	}
	if len(run) == 0 {
		errs = append(errs, errors.New("README.md: no sh block to run"))
	}
	return run, config, errors.Join(errs...)
}

// readmeDriver is the bash script that runs the examples. Each is sourced
// into the one shell, so that its variables carry over, with its output in
// a file of its own. The ERR trap ends an example at its first failed
// command (a failed command, and with pipefail a failed pipeline, as set -e
// would), naming its README line. set -u makes a variable that no example
// set an error, and jq -e a filter that finds nothing (jq -r would print
// "null" and carry on). curl fails on an HTTP answer of 400 or more, unless
// the example is allowed 4xx answers, and then also shows the answer on
// stderr, since an example often pipes it into jq; -q keeps a developer's
// .curlrc out, and --show-error goes last because a later -s cancels it.
const readmeDriver = `set -u -o pipefail
readme_strict=1
curl() {
	local answer rc=0
	answer=$(mktemp)
	if [ "$readme_strict" = 1 ]; then
		command curl -q --max-time 20 --fail-with-body "$@" --show-error >"$answer" || rc=$?
	else
		command curl -q --max-time 20 "$@" --show-error >"$answer" || rc=$?
	fi
	cat "$answer"
	if [ "$rc" != 0 ]; then
		echo "README test: curl failed (exit status $rc); the answer:" >&2
		cat "$answer" >&2
		echo >&2
	fi
	rm -f "$answer"
	return "$rc"
}
jq() { command jq -e "$@"; }
trap 'readme_rc=$?; if [[ ${BASH_SOURCE[0]} == "$readme_block" ]]; then echo "README test: exit status $readme_rc from the command ending at README.md:$((readme_line + LINENO - 1))" >&2; return $readme_rc; fi' ERR
for readme_i in "${!readme_blocks[@]}"; do
	readme_block=${readme_blocks[$readme_i]}
	readme_line=${readme_lines[$readme_i]}
	readme_strict=${readme_stricts[$readme_i]}
	source "$readme_block" >"$readme_block.out" 2>&1 </dev/null
	echo $? >"$readme_block.status"
done
`

// readmeResult is what one example did.
type readmeResult struct {
	fence
	status string // exit status; "" when it never finished
	output string
}

// runREADMEExamples runs the examples in one bash session in dir, with
// the README's addresses read as urls gives them (readmeBase, then
// readmeAdmin), and returns what each did.
func runREADMEExamples(t *testing.T, dir string, urls *strings.Replacer, examples []fence, env []string) []readmeResult {
	t.Helper()
	scripts := t.TempDir()
	var blocks, lines, stricts []string
	for i, ex := range examples {
		path := filepath.Join(scripts, fmt.Sprintf("example-%02d.sh", i))
		if err := os.WriteFile(path, []byte(urls.Replace(ex.body)), 0o600); err != nil {
			t.Fatal(err)
		}
		strict := "1"
		if slices.Contains(ex.attrs, "allow-4xx") {
			strict = "0"
		}
		blocks, lines, stricts = append(blocks, path), append(lines, fmt.Sprint(ex.line)), append(stricts, strict)
	}
	array := func(name string, vs []string) string {
		quoted := make([]string, len(vs))
		for i, v := range vs {
			quoted[i] = "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
		}
		return name + "=(" + strings.Join(quoted, " ") + ")\n"
	}
	driver := filepath.Join(scripts, "driver.sh")
	script := array("readme_blocks", blocks) + array("readme_lines", lines) + array("readme_stricts", stricts) + readmeDriver
	if err := os.WriteFile(driver, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", driver)
	cmd.Dir, cmd.Env, cmd.WaitDelay = dir, env, 5*time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("bash: %v (context: %v)\n%s", err, ctx.Err(), out)
	}

	results := make([]readmeResult, len(examples))
	for i, ex := range examples {
		results[i].fence = ex
		status, _ := os.ReadFile(blocks[i] + ".status")
		output, _ := os.ReadFile(blocks[i] + ".out")
		results[i].status, results[i].output = strings.TrimSpace(string(status)), readmeLines(string(output), blocks, examples)
	}
	return results
}

// bashLine is where bash's own messages (a syntax error, an unbound
// variable) point: a line of an example's script.
var bashLine = regexp.MustCompile(`(\S*example-\d+\.sh): line (\d+)`)

// readmeLines rewrites the script lines bash names into README lines.
func readmeLines(output string, scripts []string, examples []fence) string {
	return bashLine.ReplaceAllStringFunc(output, func(m string) string {
		sub := bashLine.FindStringSubmatch(m)
		i := slices.Index(scripts, sub[1])
		n, err := strconv.Atoi(sub[2])
		if i < 0 || err != nil {
			return m
		}
		return fmt.Sprintf("README.md:%d", examples[i].line+n-1)
	})
}

// TestREADMEExamples runs every sh block of README.md as written, in
// order, against a broker started as make run starts it (a fresh data
// directory with a development KEK, BRIDGEKEEPER_DEMO=true) with the
// README's bridgekeeper.yaml as its configuration, from a directory laid
// out like the repository's after make run: bin/bridgekeeper, data/.
func TestREADMEExamples(t *testing.T) {
	t.Parallel()
	requireTools(t, "bash", "curl", "jq", "sqlite3")
	doc, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseFences(doc)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	examples, config, err := readmeExamples(blocks)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	data, bin := filepath.Join(dir, "data"), filepath.Join(dir, "bin")
	kek := filepath.Join(data, "dev.kek")
	for _, d := range []string{data, bin} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(kek, []byte(proctest.NewKEK()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bridgekeeper.yaml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binary, filepath.Join(bin, "bridgekeeper")); err != nil {
		t.Fatal(err)
	}
	addr, adminAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	base := "http://" + addr
	startProcess(t, base, []string{"BRIDGEKEEPER_DEMO=true", "BRIDGEKEEPER_CONFIG=" + filepath.Join(dir, "bridgekeeper.yaml"),
		"BRIDGEKEEPER_ADMIN_ADDR=" + adminAddr},
		"serve", "--addr", addr, "--issuer", base, "--data-dir", data, "--key-encryption-key-file", kek)
	urls := strings.NewReplacer(readmeBase, base, readmeAdmin, "http://"+adminAddr)

	start := time.Now()
	env := slices.DeleteFunc(baseEnviron(), func(kv string) bool { return strings.HasPrefix(kv, "BASH_ENV=") })
	results := runREADMEExamples(t, dir, urls, examples, env)
	for i, r := range results {
		switch {
		case r.status == "0":
			if testing.Verbose() {
				t.Logf("README.md:%d ran:\n%s", r.line, r.output)
			}
		case r.status == "":
			t.Errorf("README.md:%d: the example did not finish (the shell exited or timed out; later examples did not run):\n%s\n--- output:\n%s",
				r.line, r.body, r.output)
			return
		default:
			t.Errorf("README.md:%d: the example failed (exit status %s):\n%s\n--- output:\n%s", r.line, r.status, r.body, r.output)
			if i+1 < len(results) {
				t.Logf("the examples after README.md:%d ran on; some may fail for want of what this one would have set", r.line)
			}
		}
	}
	t.Logf("%d examples of README.md ran in %s (%d blocks not run)", len(examples), time.Since(start).Round(time.Millisecond), countNoRun(blocks))
}

func countNoRun(blocks []fence) int {
	n := 0
	for _, b := range blocks {
		if b.lang == "sh" && slices.Contains(b.attrs, "no-run") {
			n++
		}
	}
	return n
}

// requireTools skips the test when a tool is not on PATH, unless CI is set:
// make test installs them (scripts/test.sh), and under CI a skip would pass
// while proving nothing.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required when CI is set: %v", tool, err)
			}
			t.Skipf("%s is not installed (%v); make test installs it; set CI to make this a failure", tool, err)
		}
	}
}

// TestREADMEBlocks: the test refuses a README whose blocks it would
// misread, and runs the sh blocks in order from their own lines.
func TestREADMEBlocks(t *testing.T) {
	t.Parallel()
	const config = "```yaml bridgekeeper.yaml\naddr: 127.0.0.1:8080\n```\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"should fail because an attribute is unknown", config + "```sh norun\necho\n```\n", `unknown attribute "norun"`},
		{"should fail because a bash block would not run", config + "```bash\necho\n```\n", "bash block"},
		{"should fail because no configuration is named", "```yaml\naddr: x\n```\n```sh\necho\n```\n", "bridgekeeper.yaml"},
		{"should fail because nothing would run", config + "```sh no-run\necho\n```\n", "no sh block"},
		{"should fail because a block is never closed", config + "```sh\necho\n", "never closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks, err := parseFences([]byte(tc.doc))
			if err == nil {
				_, _, err = readmeExamples(blocks)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error naming %q; got %v", tc.want, err)
			}
		})
	}
	// What runs: the sh blocks in order, each with the README line of its
	// first line of code and its attributes.
	blocks, err := parseFences([]byte("# x\n" + config + "```sh\na\n```\n```sh no-run\nb\n```\n```text\nc\n```\n```sh allow-4xx\nd\ne\n```\n"))
	if err != nil {
		t.Fatal(err)
	}
	run, cfg, err := readmeExamples(blocks)
	if err != nil || cfg != "addr: 127.0.0.1:8080\n" || len(run) != 2 ||
		run[0].body != "a\n" || run[0].line != 6 || run[1].body != "d\ne\n" || run[1].line != 15 || !slices.Equal(run[1].attrs, []string{"allow-4xx"}) {
		t.Errorf("readmeExamples: %+v, %q, %v", run, cfg, err)
	}
}

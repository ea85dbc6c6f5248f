package conffile

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestAPI(t *testing.T) {
	src := `# knockclient.conf
Remote = 192.0.2.1
port   = 22 # ssh
allow  10.0.0.1
ALLOW  10.0.0.2
verbose
<Profile SSH>
    key = "my secret "
</Profile>
<profile web/>
`
	b, err := Parse("knock.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "" || b.Pos != (Pos{File: "knock.conf"}) {
		t.Errorf("root = %q %v", b.Name, b.Pos)
	}
	if v := b.Values("REMOTE"); len(v) != 1 || v[0].Value != "192.0.2.1" || v[0].Key != "remote" || v[0].Pos.String() != "knock.conf:2" {
		t.Errorf("Values(REMOTE) = %+v", v)
	}
	if v := b.Values("port"); len(v) != 1 || v[0].Value != "22" {
		t.Errorf("Values(port) = %+v", v)
	}
	if v := b.Values("allow"); len(v) != 2 || v[0].Value != "10.0.0.1" || v[1].Value != "10.0.0.2" || v[1].Pos.Line != 5 {
		t.Errorf("Values(allow) = %+v", v)
	}
	if v := b.Values("verbose"); len(v) != 1 || !v[0].Bare || v[0].Value != "" {
		t.Errorf("Values(verbose) = %+v", v)
	}
	if v := b.Values("profile"); len(v) != 0 {
		t.Errorf("Values(profile) = %+v, want no plain values", v)
	}
	ps := b.Blocks("Profile")
	if len(ps) != 2 {
		t.Fatalf("Blocks(Profile) = %d blocks", len(ps))
	}
	if p := ps[0]; p.Name != "profile" || p.Label != "SSH" || !p.Named || p.Pos.Line != 7 {
		t.Errorf("first profile = %+v", p)
	}
	if v := ps[0].Values("key"); len(v) != 1 || v[0].Value != "my secret " {
		t.Errorf("key = %+v", v)
	}
	if p := ps[1]; p.Label != "web" || len(p.Items) != 0 {
		t.Errorf("second profile = %+v", p)
	}
	want := map[string]any{
		"remote":  "192.0.2.1",
		"port":    "22",
		"allow":   []any{"10.0.0.1", "10.0.0.2"},
		"verbose": nil,
		"profile": map[string]any{
			"SSH": map[string]any{"key": "my secret "},
			"web": map[string]any{},
		},
	}
	if got := b.Map(); !reflect.DeepEqual(got, want) {
		t.Errorf("Map() = %#v\nwant %#v", got, want)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"<profile>\nx = 1\n", `knock.conf:1: block "profile" opened here is never closed`},
		{"x = 1\n</profile>\n", `knock.conf:2: unexpected "</profile>": no block is open`},
		{"<a>\n</b>\n", `knock.conf:2: "</b>" does not close block "a" opened at knock.conf:1`},
		{"x <<EOF\n", `knock.conf:1: here-document "x" opened here is never closed (no line "EOF" follows)`},
		{"a\n/* x\n", `knock.conf:2: comment "/*" opened here is never closed`},
		{"a = b */\n", `knock.conf:1: "*/" ends a comment that was never started`},
		{"a = b \\\n", `knock.conf:1: line continued here with a trailing backslash, but the file ends`},
		{"x = 1\n<x>\n</x>\n", `knock.conf:2: block "x" clashes with the value "x" set at knock.conf:1`},
		{"<<include x.conf>>\n", `knock.conf:1: include "x.conf": no file system to read includes from (use WithFS or WithIncludeFunc)`},
	} {
		_, err := Parse("knock.conf", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) error = %v\nwant %s", tc.src, err, tc.want)
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Pos.File != "knock.conf" || e.Pos.Line < 1 {
			t.Errorf("Parse(%q) error %#v has no position", tc.src, err)
		}
	}
}

func TestEmptyInput(t *testing.T) {
	for _, src := range []string{"", "\n", "# only a comment\n", "   \n\t\n", "/* c */\n"} {
		b, err := Parse("empty.conf", []byte(src))
		if err != nil || len(b.Items) != 0 || len(b.Map()) != 0 {
			t.Errorf("Parse(%q) = %+v, %v", src, b, err)
		}
	}
}

func TestIncludeFS(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/knock.conf":         {Data: []byte("a = 1\n<<include conf.d/*.conf>>\n<<include /etc/common.conf>>\n<<include ../../../etc/common.conf>>\n")},
		"etc/conf.d/10-x.conf":   {Data: []byte("x = 10\n<<include ../common.conf>>\n")},
		"etc/conf.d/20-y.conf":   {Data: []byte("y = 20\n")},
		"etc/conf.d/notes.txt":   {Data: []byte("not included\n")},
		"etc/conf.d/.hide.conf":  {Data: []byte("hidden = 1\n")},
		"etc/conf.d/dir.conf/x":  {Data: []byte("a directory matching the glob is skipped\n")},
		"etc/common.conf":        {Data: []byte("common = yes\n")},
		"etc/missing-inner.conf": {Data: []byte("<<include nope.conf>>\n")},
	}
	data, _ := fs.ReadFile(fsys, "etc/knock.conf")
	b, err := Parse("etc/knock.conf", data, WithFS(fsys))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "1", "x": "10", "y": "20", "common": "yes"}
	if got := b.Map(); !reflect.DeepEqual(got, want) {
		t.Errorf("Map() = %v, want %v", got, want)
	}
	if v := b.Values("common"); len(v) != 1 || v[0].Pos != (Pos{"etc/common.conf", 1}) {
		t.Errorf("common = %+v", v)
	}

	_, err = Parse("etc/knock.conf", []byte("<<include missing-inner.conf>>\n"), WithFS(fsys))
	if err == nil || err.Error() != `etc/missing-inner.conf:1: include "nope.conf": open etc/nope.conf: file does not exist` {
		t.Errorf("missing include: %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing include: %v does not wrap fs.ErrNotExist", err)
	}
}

func TestIncludeFunc(t *testing.T) {
	files := map[string]string{
		"conf/a.conf":     "a = 1\n<<include sub/b.conf>>\n",
		"conf/sub/b.conf": "b = 2\n",
	}
	var asked []string
	read := func(name string) ([]byte, error) {
		asked = append(asked, name)
		s, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
		}
		return []byte(s), nil
	}
	b, err := Parse("conf/main.conf", []byte("<<include a.conf>>\n"), WithIncludeFunc(read))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Map(); !reflect.DeepEqual(got, map[string]any{"a": "1", "b": "2"}) {
		t.Errorf("Map() = %v", got)
	}
	if !reflect.DeepEqual(asked, []string{"conf/a.conf", "conf/sub/b.conf"}) {
		t.Errorf("asked for %q", asked)
	}
	_, err = Parse("main.conf", []byte("<<include x.conf>>\n"), WithIncludeFunc(read))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	_, err = Parse("main.conf", []byte("<<include *.conf>>\n"), WithIncludeFunc(read))
	if err == nil || !strings.Contains(err.Error(), "glob patterns need a file system") {
		t.Errorf("glob: %v", err)
	}
}

func TestIncludeOnce(t *testing.T) {
	fsys := fstest.MapFS{
		"a.conf": {Data: []byte("a = 1\n<<include b.conf>>\n")},
		"b.conf": {Data: []byte("b = 1\n<<include a.conf>>\n<<include b.conf>>\n")},
	}
	// Each file is read once, so the loop ends, as in Config::General.
	b, err := Parse("main.conf", []byte("<<include a.conf>>\n<<include b.conf>>\n<<include a.conf>>\n"), WithFS(fsys))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Map(); !reflect.DeepEqual(got, map[string]any{"a": "1", "b": "1"}) {
		t.Errorf("Map() = %v", got)
	}
}

// TestIncludeLoop: a file including itself under a name that grows each
// time round is an include loop (Config::General follows it until the
// name is too long for the file system).
func TestIncludeLoop(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "d/self.conf", "x = 1\n<<include ../d/self.conf>>\n")
	_, err := ParseFile(filepath.Join(dir, "d/self.conf"))
	want := fmt.Sprintf("include loop: %[1]s/d/self.conf -> %[1]s/d/self.conf", dir)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestLimits(t *testing.T) {
	fsys := fstest.MapFS{}
	for i := 1; i <= 12; i++ {
		fsys[fmt.Sprintf("d%d.conf", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("d%d = 1\n<<include d%d.conf>>\n", i, i+1))}
	}
	fsys["d12.conf"] = &fstest.MapFile{Data: []byte("last = 1\n")}
	_, err := Parse("main.conf", []byte("<<include d1.conf>>\n"), WithFS(fsys))
	if err == nil || err.Error() != `d10.conf:2: include "d11.conf": includes nested more than 10 deep` {
		t.Errorf("default include depth: %v", err)
	}
	if _, err := Parse("main.conf", []byte("<<include d1.conf>>\n"), WithFS(fsys), WithMaxIncludeDepth(12)); err != nil {
		t.Errorf("depth 12: %v", err)
	}

	big := []byte(strings.Repeat("x = 1\n", 200))
	fsys["big.conf"] = &fstest.MapFile{Data: big}
	if _, err := Parse("main.conf", big, WithMaxFileSize(100)); err == nil || err.Error() != "main.conf: file is larger than 100 bytes" {
		t.Errorf("size limit: %v", err)
	}
	_, err = Parse("main.conf", []byte("<<include big.conf>>\n"), WithFS(fsys), WithMaxFileSize(1000))
	if err == nil || err.Error() != `main.conf:1: include "big.conf": file is larger than 1000 bytes` {
		t.Errorf("size limit of an include: %v", err)
	}
	if _, err := Parse("main.conf", make([]byte, DefaultMaxFileSize+1)); err == nil {
		t.Errorf("default size limit: no error")
	}

	deep := strings.Repeat("<a>\n", 5) + strings.Repeat("</a>\n", 5)
	if _, err := Parse("main.conf", []byte(deep), WithMaxNesting(4)); err == nil || err.Error() != `main.conf:5: block "a" nested more than 4 deep` {
		t.Errorf("nesting limit: %v", err)
	}
	if _, err := Parse("main.conf", []byte(deep), WithMaxNesting(5)); err != nil {
		t.Errorf("nesting 5: %v", err)
	}
}

// hostileInputs are large inputs built to make a parser slow: each
// near the size limit, aimed at one construct.
func hostileInputs() map[string][]byte {
	const size = DefaultMaxFileSize - 100
	fill := func(unit string) []byte {
		return []byte(strings.Repeat(unit, size/len(unit)))
	}
	return map[string][]byte{
		"continuations":    fill("a \\\n"),
		"here-document":    append([]byte("x << E\n"), fill("  \n")...),
		"long line":        fill("a = b "),
		"comment":          append([]byte("/*\n"), fill("/* x\n")...),
		"one-line comment": fill("/* x */ "),
		"blocks":           fill("<a>\n</a>\n"),
		"named blocks":     fill("<a b>\n</a>\n"),
		"keys":             fill("k\n"),
		"distinct keys":    []byte(distinctKeys(size)),
		"globs":            fill("<<include */*/*.c*nf>>\n"),
		"many globs":       []byte(manyGlobs(size)),
		"includes":         fill("<<include knockclient.conf>>\n"),
		"empty blocks":     fill("<a/>\n"),
		"quotes":           fill(`"`),
		"less-than":        fill("<"),
		"escapes":          fill(`\#`),
		"brace expansion":  []byte("<<include " + strings.Repeat("{a,b}", 2000) + ">>\n"),
		"nested braces":    []byte("<<include " + strings.Repeat("{a,", 100000) + strings.Repeat("}", 100000) + ">>\n"),
		"long pattern":     []byte("<<include " + strings.Repeat("*", 500000) + "x>>\n"),
	}
}

// TestHostile parses every hostile input to its end. It asserts no time:
// a parser that went quadratic on one of them would run for hours and
// hit the test binary's timeout; BenchmarkHostile measures each.
func TestHostile(t *testing.T) {
	fsys := os.DirFS("testdata/corpus")
	for name, data := range hostileInputs() {
		start := time.Now()
		Parse("hostile.conf", data, WithFS(fsys))
		t.Logf("%s: %v", name, time.Since(start))
	}
}

// BenchmarkHostile: the time to parse each hostile input.
//
//	go test -run NONE -bench Hostile -benchtime 3x ./conffile
func BenchmarkHostile(b *testing.B) {
	fsys := os.DirFS("testdata/corpus")
	inputs := hostileInputs()
	for _, name := range slices.Sorted(maps.Keys(inputs)) {
		b.Run(strings.ReplaceAll(name, " ", "-"), func(b *testing.B) {
			for b.Loop() {
				Parse("hostile.conf", inputs[name], WithFS(fsys))
			}
		})
	}
}

func distinctKeys(size int) string {
	var b strings.Builder
	for i := 0; b.Len() < size-20; i++ {
		fmt.Fprintf(&b, "k%d = %d\n", i, i)
	}
	return b.String()
}

func manyGlobs(size int) string {
	var b strings.Builder
	for i := 0; b.Len() < size-40; i++ {
		fmt.Fprintf(&b, "<<include */*/*%d*>>\n", i)
	}
	return b.String()
}

func TestMapOfChangedTree(t *testing.T) {
	b := &Block{Items: []Item{
		{Key: "x", Value: "1"},
		{Key: "x", Block: &Block{Name: "x"}},
		{Key: "y", Value: "2"},
	}}
	if got := b.Map(); !reflect.DeepEqual(got, map[string]any{"x": "1", "y": "2"}) {
		t.Errorf("Map() = %v", got)
	}
}

func TestParseFileErrors(t *testing.T) {
	_, err := ParseFile("testdata/no-such.conf")
	var e *Error
	if !errors.As(err, &e) || e.Pos.File != "testdata/no-such.conf" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %#v", err)
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big.conf")
	if err := os.WriteFile(big, make([]byte, 2000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(big, WithMaxFileSize(1000)); err == nil || !strings.HasSuffix(err.Error(), "file is larger than 1000 bytes") {
		t.Errorf("big file: %v", err)
	}
}

// TestConfigPath: with an absolute path, ParseFile also looks for an
// include in the top-level file's directory, as Config::General does.
func TestConfigPath(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "main.conf", "<<include sub/a.conf>>\n")
	write(t, dir, "sub/a.conf", "a = 1\n<<include common.conf>>\n<<include g*.conf>>\n")
	write(t, dir, "common.conf", "common = top\n")
	write(t, dir, "glob.conf", "glob = top\n")
	b, err := ParseFile(filepath.Join(dir, "main.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "1", "common": "top", "glob": "top"}
	if got := b.Map(); !reflect.DeepEqual(got, want) {
		t.Errorf("Map() = %v, want %v", got, want)
	}
	if pl := perlOrNil(t); pl != nil {
		r, err := pl.dump(filepath.Join(dir, "main.conf"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Error != nil || perlJSON(r) != goJSON(b) {
			t.Errorf("Config::General: %v %s, want %s", r.Error, perlJSON(r), goJSON(b))
		}
	}
	// A relative path has no such fallback, in either.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, filepath.Join(dir, "main.conf"))
	if err != nil {
		t.Skip(err)
	}
	if _, err := ParseFile(rel); err == nil || !strings.Contains(err.Error(), `include "common.conf"`) {
		t.Errorf("relative path: %v", err)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// perlOrNil returns the dump.pl process if Perl is there, without skipping.
func perlOrNil(t *testing.T) *perl {
	var pl *perl
	t.Run("perl", func(t *testing.T) { pl = needPerl(t) })
	return pl
}

func TestCanonPath(t *testing.T) {
	for _, tc := range [][3]string{
		// dir, file, File::Spec->catfile(dir, file)
		{"a/", "b", "a/b"},
		{"./", "./a.conf", "./a.conf"},
		{"x/../", "y", "x/../y"},
		{"a//b/", "./c/", "a/b/c"},
		{"", "x", "/x"},
		{"/", "..", "/.."},
		{"a/./b/.", "c", "a/b/c"},
		{"/../../x/", "y", "/x/y"},
	} {
		if got := catFile(tc[0], tc[1]); got != tc[2] {
			t.Errorf("catFile(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
	for _, tc := range [][3]string{
		{"a/b.conf", "a/", "b.conf"},
		{"b.conf", "", "b.conf"},
		{"a/.", "a/.", ""},
		{"/x", "/", "x"},
	} {
		if d, f := splitPath(tc[0]); d != tc[1] || f != tc[2] {
			t.Errorf("splitPath(%q) = %q, %q", tc[0], d, f)
		}
	}
}

// globTree makes the directory the glob tests run in.
func globTree(t *testing.T) string {
	dir := t.TempDir()
	for _, f := range []string{"a.conf", "b.conf", "ab", "sub/c.conf", ".h.conf", ".hid/x", "x{y", "a[1].conf", "a1.conf", "B.conf", "-", "x,y"} {
		write(t, dir, f, "")
	}
	return dir
}

var globPatterns = []string{
	"a{b", "{a,b}.conf", "{b,a}.conf", "*", ".*", `*.c\onf`, `x\{y`, "x{y", "{}", `a\b`, "[!a]*", "[^a]*",
	"sub/*", "*/*", "{a,{b,sub/c}}.conf", "a[", "a[b", "[]a]*", "./*.conf", "sub//*.conf", `a\`, "a[1].conf",
	`a\[1\].conf`, "[a-b]*", "[A-Z]*", "[--]", "?", "??", "*.*", "**", "a**", "{x,y}{y,,}", `x\,y`, "{x\\,y,ab}",
	"[{]*", "{[},]}*", "*/../*.conf", "sub/../[ab].conf", "{a,b", "a}", "{*,.}h*", "",
}

// wantGlob is what Perl's bsd_glob gives in globTree.
var wantGlob = map[string][]string{
	"a{b": nil, "{a,b}.conf": {"a.conf", "b.conf"}, "{b,a}.conf": {"b.conf", "a.conf"},
	"*":  {"-", "B.conf", "a.conf", "a1.conf", "a[1].conf", "ab", "b.conf", "sub", "x,y", "x{y"},
	".*": {".", "..", ".h.conf", ".hid"}, `*.c\onf`: {"B.conf", "a.conf", "a1.conf", "a[1].conf", "b.conf"},
	`x\{y`: {"x{y"}, "x{y": nil, "{}": nil, `a\b`: {"ab"}, "[!a]*": {"-", "B.conf", "b.conf", "sub", "x,y", "x{y"},
	"[^a]*": {"a.conf", "a1.conf", "a[1].conf", "ab"}, "sub/*": {"sub/c.conf"}, "*/*": {"sub/c.conf"},
	"{a,{b,sub/c}}.conf": {"a.conf", "b.conf", "sub/c.conf"}, "a[": nil, "a[b": nil,
	"[]a]*": {"a.conf", "a1.conf", "a[1].conf", "ab"}, "./*.conf": {"./B.conf", "./a.conf", "./a1.conf", "./a[1].conf", "./b.conf"},
	"sub//*.conf": {"sub//c.conf"}, `a\`: nil, "a[1].conf": {"a1.conf"}, `a\[1\].conf`: {"a[1].conf"},
	"[a-b]*": {"a.conf", "a1.conf", "a[1].conf", "ab", "b.conf"}, "[A-Z]*": {"B.conf"}, "[--]": {"-"},
	"?": {"-"}, "??": {"ab"}, "*.*": {"B.conf", "a.conf", "a1.conf", "a[1].conf", "b.conf"},
	"**":  {"-", "B.conf", "a.conf", "a1.conf", "a[1].conf", "ab", "b.conf", "sub", "x,y", "x{y"},
	"a**": {"a.conf", "a1.conf", "a[1].conf", "ab"}, "{x,y}{y,,}": nil, `x\,y`: {"x,y"}, "{x\\,y,ab}": {"x,y", "ab"},
	"[{]*": nil, "{[},]}*": nil, "*/../*.conf": {"sub/../B.conf", "sub/../a.conf", "sub/../a1.conf", "sub/../a[1].conf", "sub/../b.conf"},
	"sub/../[ab].conf": {"sub/../a.conf", "sub/../b.conf"}, "{a,b": nil, "a}": nil, "{*,.}h*": {".h.conf", ".hid"}, "": nil,
}

func inDir(t *testing.T, dir string) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
}

func TestGlob(t *testing.T) {
	dir := globTree(t)
	inDir(t, dir)
	for _, p := range globPatterns {
		steps := maxGlobSteps
		got, err := bsdGlob(osGlobFS{}, p, &steps)
		if err != nil {
			t.Fatal(err)
		}
		if want := wantGlob[p]; !reflect.DeepEqual(got, want) {
			t.Errorf("bsdGlob(%q) = %q, want %q", p, got, want)
		}
	}
}

// TestGlobPerl compares bsdGlob with Perl's bsd_glob.
func TestGlobPerl(t *testing.T) {
	needPerl(t)
	dir := globTree(t)
	var script strings.Builder
	script.WriteString("use File::Glob qw(:bsd_glob);\n")
	for _, p := range globPatterns {
		fmt.Fprintf(&script, "print join(\"\\0\", bsd_glob(%s, GLOB_BRACE | GLOB_QUOTE)), \"\\n\";\n", perlString(p))
	}
	cmd := execPerl(script.String())
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(globPatterns) {
		t.Fatalf("perl printed %d lines for %d patterns", len(lines), len(globPatterns))
	}
	inDir(t, dir)
	for i, p := range globPatterns {
		var want []string
		if lines[i] != "" {
			want = strings.Split(lines[i], "\x00")
		}
		steps := maxGlobSteps
		got, _ := bsdGlob(osGlobFS{}, p, &steps)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("bsdGlob(%q) = %q, Perl's bsd_glob gives %q", p, got, want)
		}
	}
}

func perlString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, c := range []byte(s) {
		if c == '\'' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('\'')
	return b.String()
}

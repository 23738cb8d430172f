package testenv_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// root is the repository, from this package's directory (where go test
// runs its tests).
const root = "../.."

// goDirs returns every directory below root holding Go files, relative
// and slash-separated, leaving out hidden directories and testdata.
func goDirs(t *testing.T) map[string]bool {
	t.Helper()
	dirs := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".go") {
			rel, err := filepath.Rel(root, filepath.Dir(p))
			if err != nil {
				return err
			}
			dirs[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// whereThingsAre returns the folders README.md's "Where things are" table
// names in its first column, without the trailing slash.
func whereThingsAre(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Where things are\n")
	if !ok {
		t.Fatal(`README.md has no "## Where things are" section`)
	}
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)/` \\|")
	var folders []string
	for _, m := range row.FindAllStringSubmatch(sec, -1) {
		folders = append(folders, m[1])
	}
	if len(folders) == 0 {
		t.Fatal(`README.md's "Where things are" names no folder (rows look like "| ` + "`config/`" + ` | ... |")`)
	}
	return folders
}

// README.md's "Where things are" stays true to the tree: every folder it
// names exists, and every directory holding Go code lies in one it names.
func TestReadmeNamesEveryFolder(t *testing.T) {
	folders := whereThingsAre(t)
	for _, f := range folders {
		if st, err := os.Stat(filepath.Join(root, filepath.FromSlash(f))); err != nil || !st.IsDir() {
			t.Errorf("README.md's Where things are names %s/, which is not a folder of the repository", f)
		}
	}
	for d := range goDirs(t) {
		if d == "." {
			continue // main.go, named in the section's text
		}
		named := false
		for _, f := range folders {
			named = named || d == f || strings.HasPrefix(d, f+"/")
		}
		if !named {
			t.Errorf("%s/ holds Go files but README.md's Where things are does not name it (or a folder above it)", d)
		}
	}
}

// The fixtures stay out of the binary: only _test.go files import testenv.
func TestOnlyTestsImportTestenv(t *testing.T) {
	const self = "github.com/wanctl/wanctl/internal/testenv"
	fset := token.NewFileSet()
	for d := range goDirs(t) {
		files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(d), "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range files {
			if strings.HasSuffix(p, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				if path, _ := strconv.Unquote(imp.Path.Value); path == self {
					t.Errorf("%s imports %s, which is for tests only", p, self)
				}
			}
		}
	}
}

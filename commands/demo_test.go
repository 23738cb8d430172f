package commands

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `wanctl demo -svg FILE` writes the simulator's plot of the run: a
// well-formed SVG document.
func TestDemoWritesSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.svg")
	code, out, errOut := run(t, nil, "", "demo", "-speed", "15", "-svg", path)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	if !strings.Contains(out, "Plot written to "+path+".\n") {
		t.Errorf("output does not name the plot:\n%s", out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	var root string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" || !bytes.Contains(data, []byte("wanctl demo: cable")) {
		t.Errorf("root %q; want an svg plot of the demo's primary WAN", root)
	}
}

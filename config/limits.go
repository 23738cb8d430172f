package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	hcl "github.com/hashicorp/hcl/v2"
)

// MaxFileSize bounds every file the configuration reads: the configuration
// itself, file() and ca_file. Real ones are a few KiB; without a bound
// -config /dev/zero (or a symlink to it) eats the memory.
const MaxFileSize = 1 << 20

// MaxNesting bounds how deeply brackets, braces, parentheses, template
// interpolations and directives, unary operators and conditionals may nest.
// HCL's parser recurses once per level and a few thousand levels overflow
// the stack (a fatal error, not a panic: the daemon dies on SIGHUP). A real
// configuration nests four or five levels.
const MaxNesting = 64

// MaxStringLength bounds every string value (after env() and file()):
// names, URLs, user names and passwords are short, and a megabyte user
// name would only travel to the router in every request.
const MaxStringLength = 4096

// errNotRegular is the cause when a path names a FIFO, device, socket or
// directory.
var errNotRegular = errors.New("not a regular file")

// ReadFile reads a configuration-related file: a regular file (symbolic
// links are followed) of at most MaxFileSize bytes. It never blocks on a
// FIFO: the file is opened non-blocking and checked with fstat before any
// read. The returned mode is that of the file read (no race with a rename
// between stat and read).
func ReadFile(path string) ([]byte, fs.FileMode, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return nil, 0, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%s)", errNotRegular, fileKind(st.Mode()))}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, 0, err
	}
	if len(b) > MaxFileSize {
		return nil, 0, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d bytes", MaxFileSize)}
	}
	return b, st.Mode(), nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "mode " + m.String()
}

// readFileLimited backs file() and ca_file with the real file system.
func readFileLimited(path string) ([]byte, error) {
	b, _, err := ReadFile(path)
	return b, err
}

// checkSize reports a source larger than MaxFileSize.
func checkSize(filename string, src []byte) hcl.Diagnostics {
	if len(src) <= MaxFileSize {
		return nil
	}
	pos := hcl.InitialPos
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Configuration file too large",
		Detail: fmt.Sprintf("The file is larger than %d bytes (1 MiB); a configuration is a few KiB. "+
			"Check that -config names the right file.", MaxFileSize),
		Subject: &hcl.Range{Filename: filename, Start: pos, End: pos},
	}}
}

// CheckSource reports a source that Parse would refuse before parsing it
// (too large, or nested too deeply for HCL's parser), for commands that
// hand the source to HCL themselves (fmt). Nil when it may be parsed.
func CheckSource(filename string, src []byte) *Diagnostics {
	if diags := checkSize(filename, src); diags != nil {
		return &Diagnostics{Files: map[string]*hcl.File{}, Diags: diags}
	}
	if diags := checkNesting(filename, src); diags != nil {
		return &Diagnostics{Files: snippetFile(filename, src, diags[0].Subject), Diags: diags}
	}
	return nil
}

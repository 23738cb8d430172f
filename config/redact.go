package config

import (
	"bytes"
	"regexp"
	"strings"
)

// Diagnostics show source lines, and the configuration holds the router
// password. The decoder knows where a literal password is only when the
// file parses; a syntax error on the password line, a misspelt attribute
// name or credentials in a URL would be echoed as written. So every snippet
// is drawn from source that has been masked lexically first, whatever the
// parse state:
//
//   - on a line where an attribute whose name is secret-like (it contains,
//     or is within two edits of, password, passwd, secret or token: also
//     "pasword" or "Password") is assigned with = or :, everything after the
//     operator to the end of the line, and the body of a heredoc started
//     there, except quotes and white space; a value that is only env("X")
//     or file("X") is kept, since it names where the secret is, not the
//     secret;
//   - the user information of any scheme://user:password@host.
//
// Masking replaces bytes one for one and keeps newlines, so the ranges of
// the diagnostics still point at the same lines and columns.

// secretWords are what a secret-like attribute name contains or is close to.
var secretWords = []string{"password", "passwd", "secret", "token"}

var (
	referenceRE = regexp.MustCompile(`^\s*(env|file)\s*\(\s*"[^"\\$%]*"\s*\)\s*((#|//).*)?$`)
	userinfoRE  = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://([^\s"'/?#@\\]+)@`)
)

// assignments returns the offsets of the = or : after each secret-like
// name in line (a name, an optional closing quote, spaces, then = or :).
// Hand-written rather than a regular expression: this runs over every line
// of every file rendered, and the expression was a fifth of the fuzzer's
// time.
func assignments(line []byte) []int {
	var out []int
	for i, c := range line {
		if c != '=' && c != ':' {
			continue
		}
		j := i - 1
		for j >= 0 && (line[j] == ' ' || line[j] == '\t') {
			j--
		}
		if j >= 0 && (line[j] == '"' || line[j] == '\'') {
			j--
		}
		end := j + 1
		for j >= 0 && isNameByte(line[j]) {
			j--
		}
		if end > j+1 && isSecretName(string(line[j+1:end])) {
			out = append(out, i)
		}
	}
	return out
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isSecretName reports whether an attribute name looks like one holding a
// secret.
func isSecretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) || editDistance(n, w) <= 2 {
			return true
		}
	}
	return false
}

// editDistance is the Levenshtein distance, giving up (returning a large
// number) for lengths that cannot be close.
func editDistance(a, b string) int {
	if len(a) > len(b)+2 || len(b) > len(a)+2 {
		return 3
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// redactSource returns src with secrets masked as described above: a copy
// when something was masked, src itself otherwise.
func redactSource(src []byte) []byte {
	out, copied := src, false
	mask := func(from, to int) {
		if !copied {
			out, copied = append([]byte(nil), src...), true
		}
		for i := from; i < to; i++ {
			switch out[i] {
			case ' ', '\t', '\r', '\n', '"':
			default:
				out[i] = '*'
			}
		}
	}
	var heredoc []byte // the end marker of a secret heredoc being masked
	for start := 0; start < len(src); {
		end := bytes.IndexByte(src[start:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += start
		}
		line := src[start:end]
		if heredoc != nil {
			if bytes.Equal(bytes.TrimSpace(line), heredoc) {
				heredoc = nil
			} else {
				mask(start, end)
			}
			start = end + 1
			continue
		}
		for _, op := range assignments(line) {
			value := line[op+1:]
			if referenceRE.Match(value) {
				continue
			}
			if v := bytes.TrimLeft(value, " \t"); bytes.HasPrefix(v, []byte("<<")) {
				if marker, n := heredocStart(append(bytes.TrimRight(v, " \t\r"), '\n')); n > 0 {
					heredoc = marker
				}
			}
			mask(start+op+1, end)
			break
		}
		start = end + 1
	}
	if bytes.Contains(src, []byte("://")) && bytes.IndexByte(src, '@') >= 0 {
		for _, m := range userinfoRE.FindAllSubmatchIndex(src, -1) {
			mask(m[2], m[3])
		}
	}
	return out
}

// redactText masks URL credentials in a diagnostic's summary or detail,
// which may quote a value (an invalid URL, for one).
func redactText(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return userinfoRE.ReplaceAllStringFunc(s, func(m string) string {
		i := strings.Index(m, "://") + 3
		return m[:i] + strings.Repeat("*", len(m)-i-1) + "@"
	})
}

package config

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	hcl "github.com/hashicorp/hcl/v2"
)

// checkNesting finds the first place where the source nests more than
// MaxNesting levels, before HCL's recursive-descent parser sees it: that
// parser (and the evaluator after it) recurses once per level, and deep
// enough input overflows the goroutine stack, which kills the process.
//
// It is a lexical scan, linear in the input, that follows only what makes
// the parser recurse: ( [ { and their closers, quoted strings and heredocs
// (whose contents are text, except ${...} and %{...}, which open a level,
// and %{if}/%{for}, which stay open until %{endif}/%{endfor}), runs of the
// unary operators ! and -, and conditionals and splats (each ? and [*] or .*
// opens a level until the end of the item). Comments are skipped. It does not validate anything:
// whatever it tolerates, the parser still diagnoses.
func checkNesting(filename string, src []byte) hcl.Diagnostics {
	var stack []byte     // open levels: ( [ { $ (interpolation) " h (heredoc) d (directive) ? (to the item's end) S ([*])
	var markers [][]byte // heredoc end markers, one per 'h' on the stack
	unary := 0           // unary operators in a row
	opened := 0          // where the innermost level opened, for the diagnostic
	// mode is what the innermost open level makes of the next byte.
	mode := func() byte {
		for i := len(stack) - 1; i >= 0; i-- {
			switch stack[i] {
			case '"', 'h':
				return stack[i]
			case 'd', '?':
				continue
			}
			return 'e'
		}
		return 'e'
	}
	popWhile := func(kinds string) {
		for len(stack) > 0 && bytes.IndexByte([]byte(kinds), stack[len(stack)-1]) >= 0 {
			stack = stack[:len(stack)-1]
		}
	}
	pop := func() {
		if stack[len(stack)-1] == 'h' {
			markers = markers[:len(markers)-1]
		}
		stack = stack[:len(stack)-1]
	}
	// openTemplate handles ${ and %{ at i inside a string or heredoc and
	// returns how many bytes it consumed (0: not one).
	openTemplate := func(i int) int {
		c := src[i]
		if c != '$' && c != '%' || i+1 >= len(src) {
			return 0
		}
		if src[i+1] == c && i+2 < len(src) && src[i+2] == '{' {
			return 3 // $${ and %%{ are escapes: literal text
		}
		if src[i+1] != '{' {
			return 0
		}
		opened = i
		if c == '%' {
			switch directiveKeyword(src[i+2:]) {
			case "if", "for":
				stack = append(stack, 'd')
			case "endif", "endfor":
				if len(stack) > 0 && stack[len(stack)-1] == 'd' {
					stack = stack[:len(stack)-1]
				}
			}
		}
		stack = append(stack, '$')
		return 2
	}
	for i := 0; i < len(src); {
		if len(stack)+unary > MaxNesting {
			return nestingDiag(filename, src, opened)
		}
		c := src[i]
		switch mode() {
		case '"':
			switch c {
			case '\\':
				i += 2
				continue
			case '"':
				popWhile("d")
				pop()
			case '\n':
				// HCL ends an unterminated quoted string at the line's end.
				popWhile("d")
				pop()
			default:
				if n := openTemplate(i); n > 0 {
					i += n
					continue
				}
			}
			i++
			continue
		case 'h':
			if i == 0 || src[i-1] == '\n' {
				end := bytes.IndexByte(src[i:], '\n')
				if end < 0 {
					end = len(src) - i
				}
				line := bytes.TrimSpace(src[i : i+end])
				if bytes.Equal(line, markers[len(markers)-1]) {
					popWhile("d")
					pop()
					i += end
					continue
				}
			}
			if n := openTemplate(i); n > 0 {
				i += n
				continue
			}
			i++
			continue
		}
		// Expression mode.
		switch {
		case c == '#' || c == '/' && i+1 < len(src) && src[i+1] == '/':
			if end := bytes.IndexByte(src[i:], '\n'); end >= 0 {
				i += end
			} else {
				i = len(src)
			}
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			if end := bytes.Index(src[i+2:], []byte("*/")); end >= 0 {
				i += end + 4
			} else {
				i = len(src)
			}
			continue
		case c == ' ' || c == '\t' || c == '\r':
			i++
			continue
		case c == '!' && !(i+1 < len(src) && src[i+1] == '='), c == '-':
			unary++
			opened = i
			i++
			continue
		}
		unary = 0
		switch c {
		case '"':
			stack = append(stack, '"')
			opened = i
		case '<':
			if m, n := heredocStart(src[i:]); n > 0 {
				stack = append(stack, 'h')
				opened = i
				markers = append(markers, m)
				i += n
				continue
			}
		case '(', '[', '{', '?':
			stack = append(stack, c)
			opened = i
		case '*':
			// A splat, [*] or .*, makes the parser recurse for the rest of
			// the traversal: count it to the end of the item, like "?".
			if j := lastNonSpace(src[:i]); j >= 0 && (src[j] == '.' || src[j] == '[' && len(stack) > 0 && stack[len(stack)-1] == '[') {
				if src[j] == '[' {
					stack[len(stack)-1] = 'S'
				} else {
					stack = append(stack, '?')
				}
				opened = i
			}
		case ')', ']', '}':
			popWhile("?")
			if len(stack) > 0 && stack[len(stack)-1] != '"' && stack[len(stack)-1] != 'h' && stack[len(stack)-1] != 'd' {
				splat := stack[len(stack)-1] == 'S'
				pop()
				if splat {
					stack = append(stack, '?')
				}
			}
		case ',':
			popWhile("?")
		case '\n':
			// A newline ends an item at the top level and in braces; inside
			// ( [ and ${ } it is only space.
			j := len(stack) - 1
			for j >= 0 && stack[j] == '?' {
				j--
			}
			if j < 0 || stack[j] == '{' {
				popWhile("?")
			}
		}
		i++
	}
	if len(stack)+unary > MaxNesting {
		return nestingDiag(filename, src, opened)
	}
	return nil
}

func lastNonSpace(b []byte) int {
	i := len(b) - 1
	for i >= 0 && (b[i] == ' ' || b[i] == '\t') {
		i--
	}
	return i
}

// directiveKeyword returns the keyword after "%{" (b starts after the
// brace): if, for, endif, ...
func directiveKeyword(b []byte) string {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '~') {
		i++
	}
	j := i
	for j < len(b) && (b[j] >= 'a' && b[j] <= 'z') {
		j++
	}
	return string(b[i:j])
}

// heredocStart recognises "<<MARKER\n" or "<<-MARKER\n" and returns the
// marker and the bytes up to and including the newline.
func heredocStart(b []byte) ([]byte, int) {
	if !bytes.HasPrefix(b, []byte("<<")) {
		return nil, 0
	}
	i := 2
	if i < len(b) && b[i] == '-' {
		i++
	}
	j := i
	for j < len(b) && (b[j] == '_' || b[j] == '-' || b[j] >= 'a' && b[j] <= 'z' || b[j] >= 'A' && b[j] <= 'Z' || j > i && b[j] >= '0' && b[j] <= '9') {
		j++
	}
	if j == i {
		return nil, 0
	}
	k := j
	if k < len(b) && b[k] == '\r' {
		k++
	}
	if k >= len(b) || b[k] != '\n' {
		return nil, 0
	}
	return b[i:j], k + 1
}

func nestingDiag(filename string, src []byte, at int) hcl.Diagnostics {
	start := hcl.Pos{Line: 1 + bytes.Count(src[:at], []byte("\n")), Byte: at}
	lineStart := bytes.LastIndexByte(src[:at], '\n') + 1
	start.Column = 1 + utf8.RuneCount(src[lineStart:at])
	end := start
	if at < len(src) {
		_, n := utf8.DecodeRune(src[at:])
		end.Byte, end.Column = at+n, start.Column+1
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Nesting too deep",
		Detail: fmt.Sprintf("Brackets, braces, parentheses, templates, conditionals or unary operators are nested more "+
			"than %d levels deep here; a configuration needs five or six. Look for a runaway or generated value.", MaxNesting),
		Subject: &hcl.Range{Filename: filename, Start: start, End: end},
	}}
}

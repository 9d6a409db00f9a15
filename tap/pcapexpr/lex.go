package pcapexpr

import (
	"fmt"
	"strconv"
	"strings"
)

// The lexer splits an expression into words, parentheses, brackets and
// operators, as libpcap's scanner.l does. A word is a run of letters,
// digits and the characters . _ : / - and \: a keyword, a number, an
// address, a network, a port range or a named constant; the parser tells
// them apart.

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tLParen
	tRParen
	tLBrack
	tRBrack
	tBang  // ! (not)
	tAnd   // &&
	tOr    // ||
	tAmp   // &
	tPipe  // |
	tRelop // = == != < <= > >=
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return strconv.Quote(t.text)
}

func isWordByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("._:/-\\", c) >= 0
}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		two := ""
		if i+1 < len(s) {
			two = s[i : i+2]
		}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == '[':
			toks = append(toks, token{tLBrack, "[", i})
			i++
		case c == ']':
			toks = append(toks, token{tRBrack, "]", i})
			i++
		case two == "&&":
			toks = append(toks, token{tAnd, two, i})
			i += 2
		case two == "||":
			toks = append(toks, token{tOr, two, i})
			i += 2
		case two == "!=" || two == "==" || two == "<=" || two == ">=":
			toks = append(toks, token{tRelop, two, i})
			i += 2
		case c == '=' || c == '<' || c == '>':
			toks = append(toks, token{tRelop, s[i : i+1], i})
			i++
		case c == '!':
			toks = append(toks, token{tBang, "!", i})
			i++
		case c == '&':
			toks = append(toks, token{tAmp, "&", i})
			i++
		case c == '|':
			toks = append(toks, token{tPipe, "|", i})
			i++
		case strings.IndexByte("+*/%^", c) >= 0:
			return nil, fmt.Errorf("arithmetic operator %q at offset %d is not supported", c, i)
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token{tWord, s[i:j], i})
			i = j
		default:
			return nil, fmt.Errorf("unsupported character %q at offset %d", c, i)
		}
	}
	return append(toks, token{tEOF, "", len(s)}), nil
}

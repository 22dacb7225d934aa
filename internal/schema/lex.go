package schema

import (
	"errors"
	"fmt"
	"strings"
)

// The lexer knows just enough ClickHouse SQL to split a file into statements
// and to find keywords and {db}.name references without being fooled by
// string literals, quoted identifiers and comments (a COMMENT 'a; b' must not
// end a statement, a '-- x' inside a string is not a comment).

type tokKind uint8

const (
	tkSpace       tokKind = iota // whitespace
	tkComment                    // -- to end of line, or /* ... */
	tkWord                       // identifier, keyword or number: [A-Za-z0-9_$]+
	tkString                     // '...'
	tkQuoted                     // "..." or `...` identifier
	tkPlaceholder                // {name}: ours ({db}) or a typo
	tkPunct                      // any other single byte: ( ) , ; = . …
)

type token struct {
	kind tokKind
	text string
}

var errUnterminated = errors.New("unterminated")

// lex splits sql into tokens whose texts concatenate back to sql.
func lex(sql string) ([]token, error) {
	var toks []token
	for i := 0; i < len(sql); {
		c := sql[i]
		start := i
		kind := tkPunct
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			kind = tkSpace
			for i < len(sql) && strings.IndexByte(" \t\n\r\f\v", sql[i]) >= 0 {
				i++
			}
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			kind = tkComment
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j // the newline belongs to the following space
			} else {
				i = len(sql)
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			kind = tkComment
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("%w comment at offset %d", errUnterminated, i)
			}
			i += 2 + j + 2
		case c == '\'' || c == '"' || c == '`':
			kind = map[byte]tokKind{'\'': tkString, '"': tkQuoted, '`': tkQuoted}[c]
			j, ok := quoteEnd(sql, i)
			if !ok {
				return nil, fmt.Errorf("%w %c-quote at offset %d", errUnterminated, c, i)
			}
			i = j
		case isWordByte(c):
			kind = tkWord
			for i < len(sql) && isWordByte(sql[i]) {
				i++
			}
		case c == '{':
			// {name} is a placeholder; anything else ({k:Type} query
			// parameters, map literals) is plain punctuation.
			j := i + 1
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			if j > i+1 && j < len(sql) && sql[j] == '}' {
				kind = tkPlaceholder
				i = j + 1
			} else {
				i++
			}
		default:
			i++
		}
		toks = append(toks, token{kind: kind, text: sql[start:i]})
	}
	return toks, nil
}

// quoteEnd returns the offset just past the quoted literal starting at
// sql[i]. Both ClickHouse escapes are honoured: a backslash, and the quote
// doubled.
func quoteEnd(sql string, i int) (int, bool) {
	q := sql[i]
	for j := i + 1; j < len(sql); j++ {
		switch sql[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// splitStatements splits a file's tokens at top-level semicolons. Leading and
// trailing whitespace and comments are trimmed from each statement (they
// document the file, not the statement), and statements that are only
// comments are dropped.
func splitStatements(toks []token) [][]token {
	var stmts [][]token
	start := 0
	flush := func(end int) {
		s := trimTokens(toks[start:end])
		if len(s) > 0 {
			stmts = append(stmts, s)
		}
		start = end + 1
	}
	for i, t := range toks {
		if t.kind == tkPunct && t.text == ";" {
			flush(i)
		}
	}
	flush(len(toks))
	return stmts
}

func trimTokens(toks []token) []token {
	insignificant := func(t token) bool { return t.kind == tkSpace || t.kind == tkComment }
	for len(toks) > 0 && insignificant(toks[0]) {
		toks = toks[1:]
	}
	for len(toks) > 0 && insignificant(toks[len(toks)-1]) {
		toks = toks[:len(toks)-1]
	}
	return toks
}

// SplitStatements splits SQL text into statements at semicolons outside
// string literals, quoted identifiers and comments, trimming comments and
// space around each statement. It is what Render uses; it is exported for
// callers that run other multi-statement SQL one statement at a time (the
// ClickHouse HTTP interface takes one statement per request).
func SplitStatements(sql string) ([]string, error) {
	toks, err := lex(sql)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range splitStatements(toks) {
		out = append(out, joinTokens(s))
	}
	return out, nil
}

func joinTokens(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteString(t.text)
	}
	return b.String()
}

package chhttp

import "strings"

// insertData describes an INSERT whose data follows the statement, as in
// "INSERT INTO t (a, b) FORMAT Native\n<data>" or "INSERT INTO t VALUES (1)".
type insertData struct {
	stmt   string // the statement without FORMAT clause or data
	format string // input format name ("Values" for VALUES)
	data   string // inline data that followed the statement in the text
}

// splitInsert finds where an INSERT's data starts. ok is false for anything
// that is not an INSERT carrying data (SELECTs, DDL, INSERT ... SELECT).
// It tokenizes just enough (quotes, comments, parentheses) that a FORMAT or
// VALUES inside a string literal or a subquery does not fool it.
func splitInsert(sql string) (ins insertData, ok bool) {
	i := skipSpaceAndComments(sql, 0)
	w, next := word(sql, i)
	if !strings.EqualFold(w, "INSERT") {
		return ins, false
	}
	depth := 0
	for i = next; i < len(sql); {
		i = skipSpaceAndComments(sql, i)
		if i >= len(sql) {
			break
		}
		switch c := sql[i]; {
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			i++
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(sql, i)
		case isWordByte(c):
			w, next := word(sql, i)
			if depth == 0 {
				switch strings.ToUpper(w) {
				case "SELECT", "WITH":
					return ins, false
				case "VALUES":
					return insertData{stmt: strings.TrimSpace(sql[:i]), format: "Values", data: sql[next:]}, true
				case "FORMAT":
					j := skipSpaceAndComments(sql, next)
					name, end := word(sql, j)
					if name == "" {
						return ins, false
					}
					return insertData{stmt: strings.TrimSpace(sql[:i]), format: name, data: sql[dataStart(sql, end):]}, true
				}
			}
			i = next
		default:
			i++
		}
	}
	return ins, false
}

// dataStart mirrors ClickHouse: data begins after the blanks that follow the
// format name and at most one line break, so binary payloads keep their
// leading bytes.
func dataStart(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\f') {
		i++
	}
	if i < len(s) && s[i] == '\r' {
		i++
	}
	if i < len(s) && s[i] == '\n' {
		i++
	}
	return i
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func word(s string, i int) (string, int) {
	j := i
	for j < len(s) && isWordByte(s[j]) {
		j++
	}
	return s[i:j], j
}

func skipQuoted(s string, i int) int {
	q := s[i]
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			if i+1 < len(s) && s[i+1] == q { // doubled quote
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s)
}

func skipSpaceAndComments(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f':
			i++
		case strings.HasPrefix(s[i:], "--") || s[i] == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return len(s)
			}
			i += end + 4
		default:
			return i
		}
	}
	return i
}

// firstKeyword returns the statement's first word in upper case.
func firstKeyword(sql string) string {
	w, _ := word(sql, skipSpaceAndComments(sql, 0))
	return strings.ToUpper(w)
}

package chwriter

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Kind says what the ingester should do about a failed insert.
type Kind uint8

const (
	// KindTransient: retry the same insert (same token) until it succeeds.
	KindTransient Kind = iota
	// KindContent: the data is bad; bisect the batch to find the rows.
	KindContent
	// KindSchema: the table or database does not match, or the credentials
	// are refused; an operator must act, then the same insert goes in.
	KindSchema
)

func (k Kind) String() string {
	switch k {
	case KindContent:
		return "content"
	case KindSchema:
		return "schema"
	}
	return "transient"
}

// Error is a failed insert or query.
type Error struct {
	Table  string
	Status int // HTTP status, 0 if none
	Code   int // ClickHouse exception code, 0 if none
	Msg    string
	Kind   Kind
	cause  error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Table != "" {
		b.WriteString("insert " + e.Table + ": ")
	}
	if e.Code != 0 && !strings.HasPrefix(e.Msg, "Code:") {
		fmt.Fprintf(&b, "code %d: ", e.Code)
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.cause }

// KindOf returns the kind of err: an *Error's, or a server exception's
// from clickhouse-go (the ingester's ledger reads through it); other
// errors are transient.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return classify(int(ex.Code), 0, ex.Message)
	}
	return KindTransient
}

// Exception codes whose cause is the data of the insert: retrying the same
// rows fails the same way.
var contentCodes = map[int]bool{
	6:   true, // CANNOT_PARSE_TEXT
	25:  true, // CANNOT_PARSE_ESCAPE_SEQUENCE
	26:  true, // CANNOT_PARSE_QUOTED_STRING
	27:  true, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
	33:  true, // CANNOT_READ_ALL_DATA
	38:  true, // CANNOT_PARSE_DATE
	41:  true, // CANNOT_PARSE_DATETIME
	43:  true, // ILLEGAL_TYPE_OF_ARGUMENT
	53:  true, // TYPE_MISMATCH
	69:  true, // ARGUMENT_OUT_OF_BOUND
	70:  true, // CANNOT_CONVERT_TYPE
	72:  true, // CANNOT_PARSE_NUMBER
	117: true, // INCORRECT_DATA
	130: true, // CANNOT_READ_ARRAY_FROM_TEXT
	131: true, // TOO_LARGE_STRING_SIZE
	190: true, // SIZES_OF_ARRAYS_DONT_MATCH
	321: true, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
	469: true, // VIOLATED_CONSTRAINT
	691: true, // UNKNOWN_ELEMENT_OF_ENUM
}

// Exception codes that mean the schema or the permissions are wrong.
var schemaCodes = map[int]bool{
	10:  true, // NOT_FOUND_COLUMN_IN_BLOCK
	16:  true, // NO_SUCH_COLUMN_IN_TABLE
	47:  true, // UNKNOWN_IDENTIFIER
	60:  true, // UNKNOWN_TABLE
	62:  true, // SYNTAX_ERROR: our statement, so a version mismatch
	81:  true, // UNKNOWN_DATABASE
	115: true, // UNKNOWN_SETTING
	497: true, // ACCESS_DENIED
}

// Exception codes that mean the credentials are wrong.
var authCodes = map[int]bool{
	192: true, // UNKNOWN_USER
	193: true, // WRONG_PASSWORD
	516: true, // AUTHENTICATION_FAILED
}

// AuthFailure reports whether a ClickHouse exception code means the server
// rejected the user or its password.
func AuthFailure(code int) bool { return authCodes[code] }

// AuthError reports whether err is ClickHouse rejecting the user or its
// password (an HTTP 401 or 403 without an exception code included).
func AuthError(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return AuthFailure(e.Code) || e.Code == 0 && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
	}
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && AuthFailure(int(ex.Code))
}

func classify(code, status int, msg string) Kind {
	switch {
	case code == 117 && strings.Contains(msg, "Unknown field found"):
		// JSONEachRow with a key the table has no column for: our rows
		// carry every column, so the table is not the one they are for.
		return KindSchema
	case contentCodes[code]:
		return KindContent
	case code == 252 && strings.Contains(msg, "Too many partitions for single INSERT block"):
		// Rows spread over too many days: smaller pieces go in.
		return KindContent
	case schemaCodes[code] || authCodes[code]:
		return KindSchema
	case code == 0 && (status == http.StatusUnauthorized || status == http.StatusForbidden):
		return KindSchema
	}
	return KindTransient
}

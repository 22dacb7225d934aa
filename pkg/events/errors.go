package events

import (
	"errors"
	"strconv"
	"strings"
)

// Code classifies why a message was rejected. Codes are stable strings: the
// ingester writes them into the DLQ header "predlog-error-code" and uses them as
// the "reason" label of its rejection counter, so never rename one.
type Code string

// Rejection codes. Adding a code is fine; changing one breaks dashboards and
// DLQ consumers.
const (
	CodeEmpty        Code = "empty"         // zero bytes or only whitespace
	CodeOversized    Code = "oversized"     // longer than Options.MaxSize
	CodeInvalidJSON  Code = "invalid_json"  // not well-formed JSON (RFC 8259)
	CodeInvalidUTF8  Code = "invalid_utf8"  // a string holds bytes that are not UTF-8
	CodeMissingField Code = "missing_field" // a required field is absent, null or ""
	CodeWrongType    Code = "wrong_type"    // a field has the wrong JSON type
	CodeOutOfRange   Code = "out_of_range"  // NaN/Inf, negative latency, probability outside [0,1], ...
	CodeInvalidValue Code = "invalid_value" // not one of an enum's values, inconsistent lengths, ...
	CodeInvalidTime  Code = "invalid_time"  // not RFC 3339 / epoch ms, or outside [2000, 2100)
	CodeUnknownModel Code = "unknown_model" // Options.KnownModel said no
	CodeWrongTopic   Code = "wrong_topic"   // an event of another kind: a prediction sent to the outcomes topic
)

// Codes lists every code, for tests and for pre-creating metric children.
var Codes = []Code{
	CodeEmpty, CodeOversized, CodeInvalidJSON, CodeInvalidUTF8, CodeMissingField,
	CodeWrongType, CodeOutOfRange, CodeInvalidValue, CodeInvalidTime, CodeUnknownModel,
	CodeWrongTopic,
}

// ValidationError reports why a message was rejected. Field is a dotted path
// ("features.amount", "status_history[2].at"); it is empty for whole-message
// problems.
type ValidationError struct {
	Code  Code
	Field string
	Msg   string
}

func (e *ValidationError) Error() string {
	s := "events: " + string(e.Code)
	if e.Field != "" {
		s += " " + strconv.Quote(e.Field)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Is makes errors.Is(err, ErrOutOfRange) match any *ValidationError with the
// same code, whatever its field and message.
func (e *ValidationError) Is(target error) bool {
	t, ok := target.(*ValidationError)
	return ok && t.Code == e.Code && t.Field == "" && t.Msg == ""
}

// Sentinels for errors.Is; one per code.
var (
	ErrEmpty        = &ValidationError{Code: CodeEmpty}
	ErrOversized    = &ValidationError{Code: CodeOversized}
	ErrInvalidJSON  = &ValidationError{Code: CodeInvalidJSON}
	ErrInvalidUTF8  = &ValidationError{Code: CodeInvalidUTF8}
	ErrMissingField = &ValidationError{Code: CodeMissingField}
	ErrWrongType    = &ValidationError{Code: CodeWrongType}
	ErrOutOfRange   = &ValidationError{Code: CodeOutOfRange}
	ErrInvalidValue = &ValidationError{Code: CodeInvalidValue}
	ErrInvalidTime  = &ValidationError{Code: CodeInvalidTime}
	ErrUnknownModel = &ValidationError{Code: CodeUnknownModel}
	ErrWrongTopic   = &ValidationError{Code: CodeWrongTopic}
)

// CodeOf returns the code of a *ValidationError in err's chain, or "" if there
// is none (the ingester then treats the error as internal, not as a bad message).
func CodeOf(err error) Code {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Code
	}
	return ""
}

func newErr(code Code, field, msg string) *ValidationError {
	return &ValidationError{Code: code, Field: field, Msg: msg}
}

// missingFields returns a missing_field error for the first of names whose
// flag in absent is set, naming the others too ("also missing: ..."), so
// that a producer fixes them at once; nil when none is absent.
func missingFields(absent []bool, names ...string) error {
	var err error
	for i, a := range absent {
		if a {
			err = alsoMissing(err, names[i])
		}
	}
	return err
}

// alsoMissing adds field to err if it is a missing_field error, returns a
// new one for field if err is nil, and err itself otherwise (another
// problem came first).
func alsoMissing(err error, field string) error {
	if err == nil {
		return newErr(CodeMissingField, field, "")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Code != CodeMissingField {
		return err
	}
	if ve.Msg == "" {
		ve.Msg = "also missing: " + field
	} else if strings.HasPrefix(ve.Msg, "also missing: ") {
		ve.Msg += ", " + field
	} else {
		ve.Msg += "; also missing: " + field
	}
	return ve
}

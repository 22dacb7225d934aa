package events

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Identifier bounds, in characters (Unicode code points): what the query
// API accepts for a model id (in its path) and a version (a parameter). An
// id outside them would be stored and listed, yet no request could name it.
const (
	MaxIDChars      = 256 // model_id, experiment_id
	MaxVersionChars = 128 // model_version
)

// checkID reports an identifier that is not valid UTF-8, longer than max
// characters or holding a control character (a tab, a newline: escaped in
// JSON, they decode to one).
func checkID(field, v string, max int) error {
	ascii := len(v) <= max
	for i := 0; ascii && i < len(v); i++ {
		ascii = v[i] >= 0x20 && v[i] < 0x7f
	}
	switch {
	case ascii: // the common case, one pass over the bytes
		return nil
	case !utf8.ValidString(v):
		return newErr(CodeInvalidValue, field, "not valid UTF-8")
	case utf8.RuneCountInString(v) > max:
		return newErr(CodeInvalidValue, field, "longer than "+strconv.Itoa(max)+" characters")
	case strings.ContainsFunc(v, unicode.IsControl):
		return newErr(CodeInvalidValue, field, "contains a control character")
	}
	return nil
}

// checkModelIDs checks a model id and, when versioned, its version.
func checkModelIDs(modelID, version string, versioned bool) error {
	if err := checkID("model_id", modelID, MaxIDChars); err != nil {
		return err
	}
	if versioned {
		return checkID("model_version", version, MaxVersionChars)
	}
	return nil
}

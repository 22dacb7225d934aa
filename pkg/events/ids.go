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
	MaxIDChars      = 256 // model_id, experiment_id, variant
	MaxVersionChars = 128 // model_version
	// request_id: not named in requests, but joined on and shown; room
	// for composite ids (a trace id and a span id).
	MaxRequestIDChars = 1024
)

// IDProblem says what keeps v from being an identifier of at most
// maxChars characters: not valid UTF-8, too long, or holding a control
// character (a tab, a newline: escaped in JSON, they decode to one); ""
// when nothing does. The ingester and the query API apply the same rules,
// so that every id stored can be named in a request.
func IDProblem(v string, maxChars int) string {
	ascii := len(v) <= maxChars
	for i := 0; ascii && i < len(v); i++ {
		ascii = v[i] >= 0x20 && v[i] < 0x7f
	}
	switch {
	case ascii: // the common case, one pass over the bytes
		return ""
	case !utf8.ValidString(v):
		return "not valid UTF-8"
	case utf8.RuneCountInString(v) > maxChars:
		return "longer than " + strconv.Itoa(maxChars) + " characters"
	case strings.ContainsFunc(v, unicode.IsControl):
		return "contains a control character"
	}
	return ""
}

// checkID is IDProblem as a validation error of field.
func checkID(field, v string, maxChars int) error {
	if p := IDProblem(v, maxChars); p != "" {
		return newErr(CodeInvalidValue, field, p)
	}
	return nil
}

// AllVersions is the model_version of the metrics tables' rows over all of
// a model's versions, and what the query API's version=* asks for: no
// event may name a version so.
const AllVersions = "*"

// checkModelIDs checks a model id and, when versioned, its version.
func checkModelIDs(modelID, version string, versioned bool) error {
	if err := checkID("model_id", modelID, MaxIDChars); err != nil {
		return err
	}
	if !versioned {
		return nil
	}
	if version == AllVersions {
		return newErr(CodeInvalidValue, "model_version", `"*" is reserved: it names all of a model's versions in the metrics tables and the query API`)
	}
	return checkID("model_version", version, MaxVersionChars)
}

// checkName applies the identifier rules (IDProblem, MaxIDChars) to name,
// the member name just read in the map field: a feature or metadata key
// outside them would be stored, yet the query API (feature=, slices) could
// never name it. A plain name (printable ASCII, no escapes) of at most
// MaxIDChars bytes, the common case, needs no closer look (small enough
// to inline: it runs for every feature).
func (d *Decoder) checkName(field string, name []byte) error {
	if d.plain && len(name) <= MaxIDChars {
		return nil
	}
	return nameError(field, name)
}

// nameError is checkName's error for a name that is not plain.
func nameError(field string, name []byte) error {
	p := IDProblem(string(name), MaxIDChars)
	if p == "" {
		return nil
	}
	shown := string(name)
	if len(shown) > 64 {
		shown = strings.ToValidUTF8(shown[:64], "") + "…"
		// The character may be past what is shown: say where it is.
		if i := strings.IndexFunc(string(name), unicode.IsControl); i >= 0 && strings.HasSuffix(p, "control character") {
			p += " at character " + strconv.Itoa(utf8.RuneCount(name[:i])+1)
		}
	}
	return newErr(CodeInvalidValue, field, "name "+strconv.Quote(shown)+" "+p)
}

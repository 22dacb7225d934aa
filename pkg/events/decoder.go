package events

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// DefaultMaxSize is the message size limit when Options.MaxSize is 0.
const DefaultMaxSize = 1 << 20

// MaxLatencyMs bounds a prediction's latency_ms: a day.
const MaxLatencyMs = 86_400_000

// maxDepth bounds nesting in skipped values so a hostile message cannot blow
// the stack (skipValue recurses).
const maxDepth = 64

// Options configure a Decoder.
type Options struct {
	// MaxSize rejects longer messages with CodeOversized; 0 means DefaultMaxSize.
	MaxSize int
	// KnownModel, if set, rejects events whose model_id it returns false for
	// with CodeUnknownModel. It is called once per message on the decoding
	// goroutine, so it must be fast (a map lookup behind an atomic pointer).
	KnownModel func(modelID string) bool
}

// Decoder turns JSON event messages into the types of this package in a single
// pass over the bytes, without reflection and, once warmed up, without
// allocating. A Decoder is not safe for concurrent use; give each worker its
// own.
//
// Borrowed strings: DecodePrediction and DecodeOutcome copy every string they
// return (ids, feature names and values, metadata, ...) into an arena owned
// by the Decoder and reused by the next call. Those strings are therefore valid
// only until the next Decode* call on the same Decoder; copy what must outlive
// it (strings.Clone, PredictionLog.Clone). The low-volume decoders (models,
// training jobs, importances, baselines) allocate a fresh arena per message,
// so their strings stay valid.
type Decoder struct {
	opts  Options
	data  []byte
	pos   int
	arena []byte
	// scratch holds unescaped strings until they are compared or kept.
	scratch []byte
	// plain: the last string read was printable ASCII (no DEL) without
	// escapes, so it holds no control character (checkName need not look).
	plain   bool
	unknown int
	ixA     keyIndex
	ixB     keyIndex
}

// NewDecoder returns a Decoder with the given options.
func NewDecoder(opts Options) *Decoder {
	return &Decoder{opts: opts}
}

// UnknownFields returns how many members of the last decoded message were not
// part of the contract and were skipped (counted at every nesting level that
// has a fixed schema; free-form maps such as features have none). Unknown
// fields are not errors: producers may add fields before consumers know them.
func (d *Decoder) UnknownFields() int { return d.unknown }

// begin checks size and emptiness and positions the scanner after the
// opening '{'. fresh makes the arena a new buffer so that returned strings
// survive later calls.
func (d *Decoder) begin(data []byte, fresh bool) error {
	limit := d.opts.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	d.unknown = 0
	if len(data) > limit {
		return newErr(CodeOversized, "", strconv.Itoa(len(data))+" bytes, limit "+strconv.Itoa(limit))
	}
	d.data, d.pos = data, 0
	// Strings are never longer than their escaped source, so sizing the arena
	// to the message means it never grows mid-message.
	if fresh || cap(d.arena) < len(data) {
		d.arena = make([]byte, 0, len(data))
	} else {
		d.arena = d.arena[:0]
	}
	d.skipWS()
	if d.pos == len(data) {
		return newErr(CodeEmpty, "", "")
	}
	if first := data[d.pos]; first != '{' {
		if err := d.skipValue(0); err != nil {
			return err
		}
		if err := d.finish(); err != nil {
			return err
		}
		if first == '[' {
			return newErr(CodeWrongType, "", "message is a JSON array, not an object: send one event per message")
		}
		return newErr(CodeWrongType, "", "message is not a JSON object")
	}
	d.pos++
	return nil
}

// finish checks that only whitespace follows the top-level value.
func (d *Decoder) finish() error {
	d.skipWS()
	if d.pos != len(d.data) {
		return d.syntaxErr("data after top-level value")
	}
	return nil
}

func (d *Decoder) checkModel(modelID string) error {
	if d.opts.KnownModel != nil && !d.opts.KnownModel(modelID) {
		return newErr(CodeUnknownModel, "model_id", strconv.Quote(modelID))
	}
	return nil
}

func (d *Decoder) syntaxErr(msg string) error {
	if d.pos >= len(d.data) {
		return newErr(CodeInvalidJSON, "", "unexpected end of input")
	}
	return newErr(CodeInvalidJSON, "", msg+" at offset "+strconv.Itoa(d.pos))
}

// wrongType reports a value of the wrong JSON type, unless the value is not
// even valid JSON, which is the more useful thing to say.
func (d *Decoder) wrongType(field, want string) error {
	if d.nonFinite() {
		return nonFiniteErr(field)
	}
	if err := d.skipValue(0); err != nil {
		return inField(err, field)
	}
	return newErr(CodeWrongType, field, "want "+want)
}

// nonFinite reports whether the scanner is on NaN, Infinity or -Infinity
// followed by the end of the value: what Python's json.dumps writes for
// float('nan') and float('inf'), which is not JSON.
func (d *Decoder) nonFinite() bool {
	rest := d.data[d.pos:]
	for _, lit := range [...]string{"NaN", "Infinity", "-Infinity"} {
		if len(rest) >= len(lit) && string(rest[:len(lit)]) == lit {
			if len(rest) == len(lit) {
				return true
			}
			switch rest[len(lit)] {
			case ' ', '\t', '\r', '\n', ',', '}', ']':
				return true
			}
			return false
		}
	}
	return false
}

func nonFiniteErr(field string) error {
	return newErr(CodeOutOfRange, field, "NaN and Infinity are not JSON numbers; send a finite number, or null where the field may be empty")
}

// inField names field in an error found inside its value ("invalid_json
// "score": unexpected character at offset 100") that has no field yet.
func inField(err error, field string) error {
	if ve, ok := err.(*ValidationError); ok && ve.Field == "" {
		switch ve.Code {
		case CodeInvalidJSON, CodeInvalidUTF8, CodeOutOfRange, CodeWrongType:
			ve.Field = field
		}
	}
	return err
}

// keep copies b into the arena and returns it as a string aliasing the arena.
func (d *Decoder) keep(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return unsafe.String(&d.arena[start], len(b))
}

func (d *Decoder) skipWS() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\n', '\r', '\t':
			d.pos++
		default:
			return
		}
	}
}

// nextKey moves to the next member of the object being read; first is true
// right after '{'. It returns the member name (valid until the next string is
// read) with the scanner on the first byte of the value, or more=false after
// consuming '}'.
func (d *Decoder) nextKey(first bool) (key []byte, more bool, err error) {
	d.skipWS()
	if d.pos >= len(d.data) {
		return nil, false, d.syntaxErr("")
	}
	c := d.data[d.pos]
	if c == '}' {
		d.pos++
		return nil, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, d.syntaxErr("want ',' or '}'")
		}
		d.pos++
		d.skipWS()
		if d.pos >= len(d.data) {
			return nil, false, d.syntaxErr("")
		}
		c = d.data[d.pos]
	}
	if c != '"' {
		return nil, false, d.syntaxErr("want member name")
	}
	if key, err = d.rawString(); err != nil {
		return nil, false, err
	}
	d.skipWS()
	if d.pos >= len(d.data) || d.data[d.pos] != ':' {
		return nil, false, d.syntaxErr("want ':'")
	}
	d.pos++
	d.skipWS()
	if d.pos >= len(d.data) {
		return nil, false, d.syntaxErr("")
	}
	return key, true, nil
}

// strSafe marks bytes that may appear in a string as themselves and need no
// further look: printable ASCII other than '"' and '\\' (not DEL, a control
// character: see checkName).
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// rawString reads a string starting at '"' and returns its unescaped
// content, either a sub-slice of the input or d.scratch; both are valid only
// until the next call.
func (d *Decoder) rawString() ([]byte, error) {
	data := d.data
	start := d.pos + 1
	i := start
	// Eight bytes at a time (SWAR, special): flag bytes that are '"', '\\',
	// < 0x20 or >= 0x7f. The lowest flagged byte is exact, later ones may
	// be false positives from borrows and carries, so only the first is used.
	for i+8 <= len(data) {
		w := binary.LittleEndian.Uint64(data[i:]) // one load, not eight
		if t := special(w); t != 0 {
			i += bits.TrailingZeros64(t) >> 3
			break
		}
		i += 8
	}
	for i < len(data) && strSafe[data[i]] {
		i++
	}
	if i < len(data) && data[i] == '"' {
		d.pos = i + 1
		d.plain = true
		return data[start:i], nil
	}
	d.plain = false
	return d.rawStringSlow(start, i)
}

// special flags the bytes of w that are '"', '\\', < 0x20 or >= 0x7f
// (DEL is a control character: see checkName). w+lo sets the high bit of
// a byte 0x7f; its carry out of a byte 0xff, itself flagged, only reaches
// higher bytes.
func special(w uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, bs := w^(lo*'"'), w^(lo*'\\')
	return ((w-lo*0x20)&^w | (q-lo)&^q | (bs-lo)&^bs | w | (w + lo)) & hi
}

// rawStringSlow handles escapes, non-ASCII and errors; start is the first
// content byte and i the first byte the fast path did not accept.
func (d *Decoder) rawStringSlow(start, i int) ([]byte, error) {
	data := d.data
	buf := append(d.scratch[:0], data[start:i]...)
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.scratch = buf
			return buf, nil
		case c == '\\':
			if i+1 >= len(data) {
				d.pos = len(data)
				return nil, d.syntaxErr("")
			}
			i++
			switch data[i] {
			case '"', '\\', '/':
				buf = append(buf, data[i])
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(data, i+1)
				if !ok {
					d.pos = i
					return nil, d.syntaxErr("bad \\u escape")
				}
				i += 4
				if utf16IsSurrogate(r) {
					// Like encoding/json: a valid pair combines, anything
					// else becomes U+FFFD.
					r2, ok2 := rune(-1), false
					if i+2 < len(data) && data[i+1] == '\\' && data[i+2] == 'u' {
						r2, ok2 = hex4(data, i+3)
					}
					if ok2 && r < 0xDC00 && r2 >= 0xDC00 && r2 < 0xE000 {
						r = (r-0xD800)<<10 | (r2 - 0xDC00) + 0x10000
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				d.pos = i
				return nil, d.syntaxErr("bad escape")
			}
			i++
		case c < 0x20:
			d.pos = i
			return nil, d.syntaxErr("control character in string")
		case c >= 0x80:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return nil, newErr(CodeInvalidUTF8, "", "at offset "+strconv.Itoa(i))
			}
			buf = append(buf, data[i:i+size]...)
			i += size
		default:
			buf = append(buf, c)
			i++
		}
	}
	d.pos = len(data)
	d.scratch = buf
	return nil, d.syntaxErr("")
}

func utf16IsSurrogate(r rune) bool { return r >= 0xD800 && r < 0xE000 }

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// lit consumes the literal word (true, false, null).
func (d *Decoder) lit(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.syntaxErr("bad literal")
	}
	d.pos += len(word)
	return nil
}

// pow10 holds the powers of ten that are exact in a float64.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// readNumber validates a JSON number and converts it. Numbers with at most 19
// digits, a mantissa below 2^53 and a small exponent are converted with one
// exact multiplication or division, which is correctly rounded (Clinger's
// fast path, the same result strconv gives); the rest go to strconv.
// Overflow yields ±Inf without error: callers range-check values.
func (d *Decoder) readNumber() (float64, error) {
	data := d.data
	i := d.pos
	start := i
	neg := false
	if data[i] == '-' {
		neg = true
		i++
		if i < len(data) && data[i] == 'I' && d.nonFinite() {
			return 0, nonFiniteErr("")
		}
	}
	var mant uint64
	digits, exp10 := 0, 0
	slow := false
	if i >= len(data) {
		d.pos = i
		return 0, d.syntaxErr("")
	}
	switch c := data[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		for ; i < len(data) && data[i] >= '0' && data[i] <= '9'; i++ {
			if digits < 19 {
				mant = mant*10 + uint64(data[i]-'0')
				digits++
			} else {
				slow = true
			}
		}
	default:
		d.pos = i
		return 0, d.syntaxErr("bad number")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			d.pos = i
			return 0, d.syntaxErr("bad number")
		}
		for ; i < len(data) && data[i] >= '0' && data[i] <= '9'; i++ {
			if digits < 19 {
				mant = mant*10 + uint64(data[i]-'0')
				digits++
				exp10--
			} else {
				slow = true
			}
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		esign := 1
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			if data[i] == '-' {
				esign = -1
			}
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			d.pos = i
			return 0, d.syntaxErr("bad number")
		}
		e := 0
		for ; i < len(data) && data[i] >= '0' && data[i] <= '9'; i++ {
			if e < 100000 {
				e = e*10 + int(data[i]-'0')
			}
		}
		exp10 += esign * e
	}
	d.pos = i
	if !slow && mant <= 1<<53 && exp10 >= -22 && exp10 <= 22 {
		f := float64(mant)
		if exp10 < 0 {
			f /= pow10[-exp10]
		} else {
			f *= pow10[exp10]
		}
		if neg {
			f = -f
		}
		return f, nil
	}
	b := data[start:i]
	// The syntax is already checked, so the only possible error is ErrRange,
	// whose ±Inf or 0 result is what we want.
	f, _ := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	return f, nil
}

// skipValue validates and skips any JSON value.
func (d *Decoder) skipValue(depth int) error {
	d.skipWS()
	if d.pos >= len(d.data) {
		return d.syntaxErr("")
	}
	switch c := d.data[d.pos]; c {
	case '"':
		_, err := d.rawString()
		return err
	case '{':
		if depth >= maxDepth {
			return d.syntaxErr("nesting too deep")
		}
		d.pos++
		for first := true; ; first = false {
			_, more, err := d.nextKey(first)
			if err != nil || !more {
				return err
			}
			if err := d.skipValue(depth + 1); err != nil {
				return err
			}
		}
	case '[':
		if depth >= maxDepth {
			return d.syntaxErr("nesting too deep")
		}
		d.pos++
		d.skipWS()
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			return nil
		}
		for {
			if err := d.skipValue(depth + 1); err != nil {
				return err
			}
			d.skipWS()
			if d.pos >= len(d.data) {
				return d.syntaxErr("")
			}
			switch d.data[d.pos] {
			case ',':
				d.pos++
			case ']':
				d.pos++
				return nil
			default:
				return d.syntaxErr("want ',' or ']'")
			}
		}
	case 't':
		return d.lit("true")
	case 'f':
		return d.lit("false")
	case 'n':
		return d.lit("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			_, err := d.readNumber()
			return err
		}
		return d.syntaxErr("unexpected character")
	}
}

// members calls fn with the key of each member of the object whose '{' was
// just consumed; fn must consume the member's value. The low-volume decoders
// use it; the prediction and outcome decoders keep the loop inline, where a
// closure call per member would show.
func (d *Decoder) members(fn func(key []byte) error) error {
	for first := true; ; first = false {
		key, more, err := d.nextKey(first)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if err := fn(key); err != nil {
			return err
		}
	}
}

// skipUnknown counts and skips the value of a member not in the contract.
func (d *Decoder) skipUnknown() error {
	d.unknown++
	return d.skipValue(0)
}

// --- typed field readers; the scanner is on the first byte of the value ---

func isNumStart(c byte) bool { return c == '-' || (c >= '0' && c <= '9') }

// str reads a string or null ("").
func (d *Decoder) str(field string) (string, error) {
	switch d.data[d.pos] {
	case '"':
		b, err := d.rawString()
		return d.keep(b), inField(err, field)
	case 'n':
		return "", d.lit("null")
	}
	return "", d.wrongType(field, "string")
}

// label reads a class label: a string, or a number or boolean kept as its
// JSON text ("1", "true"), because producers send 0/1 and true/false as often
// as strings. null gives ok=false.
func (d *Decoder) label(field string) (s string, ok bool, err error) {
	c := d.data[d.pos]
	switch {
	case c == '"':
		b, err := d.rawString()
		return d.keep(b), err == nil, inField(err, field)
	case isNumStart(c):
		start := d.pos
		if _, err := d.readNumber(); err != nil {
			return "", false, inField(err, field)
		}
		return d.keep(d.data[start:d.pos]), true, nil
	case c == 't':
		return "true", true, d.lit("true")
	case c == 'f':
		return "false", true, d.lit("false")
	case c == 'n':
		return "", false, d.lit("null")
	}
	return "", false, d.wrongType(field, "string, number or boolean")
}

// num reads a number; null gives ok=false.
func (d *Decoder) num(field string) (f float64, ok bool, err error) {
	c := d.data[d.pos]
	if isNumStart(c) {
		f, err = d.readNumber()
		return f, err == nil, inField(err, field)
	}
	if c == 'n' {
		return 0, false, d.lit("null")
	}
	return 0, false, d.wrongType(field, "number")
}

// integer reads a number that must be a whole number in int64 range.
func (d *Decoder) integer(field string) (int64, error) {
	f, ok, err := d.num(field)
	if err != nil || !ok {
		return 0, err
	}
	if f < -(1<<62) || f > 1<<62 || f != float64(int64(f)) {
		return 0, newErr(CodeOutOfRange, field, "want an integer")
	}
	return int64(f), nil
}

// timestamp reads an RFC 3339 string or epoch milliseconds; null gives 0.
func (d *Decoder) timestamp(field string) (int64, error) {
	c := d.data[d.pos]
	switch {
	case c == '"':
		b, err := d.rawString()
		if err != nil {
			return 0, inField(err, field)
		}
		ms, ok := parseRFC3339(b)
		if !ok {
			if n, err := strconv.ParseFloat(string(b), 64); err == nil && len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
				// A quoted epoch: say so, and in which unit it reads (none
				// for milliseconds: epochUnitHint names other units only).
				return 0, newErr(CodeInvalidTime, field, "an epoch time in a string: send epoch milliseconds as a JSON number, or RFC 3339"+epochUnitHint(n))
			}
			return 0, newErr(CodeInvalidTime, field, "want RFC 3339 or epoch milliseconds"+rfc3339Hint(b))
		}
		if ms < MinTimeMs || ms >= MaxTimeMs {
			return 0, newErr(CodeInvalidTime, field, "outside [2000, 2100)")
		}
		return ms, nil
	case isNumStart(c):
		f, err := d.readNumber()
		if err != nil {
			return 0, inField(err, field)
		}
		// The range check also catches epoch seconds sent by mistake: they
		// read as January 1970 in milliseconds.
		if !(f >= float64(MinTimeMs) && f < float64(MaxTimeMs)) {
			return 0, newErr(CodeInvalidTime, field, "epoch milliseconds outside [2000, 2100)"+epochUnitHint(f))
		}
		return int64(f), nil
	case c == 'n':
		return 0, d.lit("null")
	}
	return 0, d.wrongType(field, "RFC 3339 string or epoch milliseconds")
}

// rfc3339Hint says so when a date-time string lacks only its time zone
// (a local time would be read as some zone's, silently); "" otherwise.
func rfc3339Hint(b []byte) string {
	if _, ok := parseRFC3339(append(slices.Clip(b), 'Z')); ok {
		return " (no time zone: add Z for UTC, or the offset, such as +01:00)"
	}
	return ""
}

// epochUnitHint names the unit an epoch time outside the milliseconds'
// range was most likely sent in (seconds, micro- or nanoseconds), so that
// the DLQ message says what to fix; "" when none fits.
func epochUnitHint(f float64) string {
	for _, u := range []struct {
		name  string
		scale float64 // milliseconds per unit
	}{{"seconds", 1e3}, {"microseconds", 1e-3}, {"nanoseconds", 1e-6}} {
		if ms := f * u.scale; ms >= float64(MinTimeMs) && ms < float64(MaxTimeMs) {
			return "; it reads as epoch " + u.name + ": send milliseconds"
		}
	}
	return ""
}

// rawObject returns the JSON text of an object (kept verbatim), "" for null.
func (d *Decoder) rawObject(field string) (string, error) {
	switch d.data[d.pos] {
	case '{':
		start := d.pos
		if err := d.skipValue(0); err != nil {
			return "", err
		}
		return d.keep(d.data[start:d.pos]), nil
	case 'n':
		return "", d.lit("null")
	}
	return "", d.wrongType(field, "object")
}

// openObject consumes '{'; null gives ok=false.
func (d *Decoder) openObject(field string) (ok bool, err error) {
	switch d.data[d.pos] {
	case '{':
		d.pos++
		return true, nil
	case 'n':
		return false, d.lit("null")
	}
	return false, d.wrongType(field, "object")
}

// openArray consumes '['; null gives ok=false.
func (d *Decoder) openArray(field string) (ok bool, err error) {
	switch d.data[d.pos] {
	case '[':
		d.pos++
		return true, nil
	case 'n':
		return false, d.lit("null")
	}
	return false, d.wrongType(field, "array")
}

// nextElem moves to the next array element; first is true right after '['.
// It returns more=false after consuming ']'.
func (d *Decoder) nextElem(first bool) (more bool, err error) {
	d.skipWS()
	if d.pos >= len(d.data) {
		return false, d.syntaxErr("")
	}
	c := d.data[d.pos]
	if c == ']' {
		d.pos++
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, d.syntaxErr("want ',' or ']'")
		}
		d.pos++
		d.skipWS()
		if d.pos >= len(d.data) {
			return false, d.syntaxErr("")
		}
	}
	return true, nil
}

// float64Map reads an object of numbers into m (reset first); null members
// are dropped, duplicate names keep the last value. names: the members
// are names (of features) and follow the identifier rules (checkName).
func (d *Decoder) float64Map(m *Float64Map, field string, names bool) error {
	m.Reset()
	if ok, err := d.openObject(field); !ok {
		return err
	}
	d.ixA.reset()
	for first := true; ; first = false {
		kb, more, err := d.nextKey(first)
		if err != nil || !more {
			return err
		}
		if names {
			if err := d.checkName(field, kb); err != nil {
				return err
			}
		}
		k := d.keep(kb)
		c := d.data[d.pos]
		switch {
		case isNumStart(c):
			f, err := d.readNumber()
			if err != nil {
				return inField(err, field+"."+k)
			}
			s := keySig(k)
			if i := d.ixA.find(m.Keys, k, s); i >= 0 {
				m.Values[i] = f
				continue
			}
			m.add(k, f)
			d.ixA.added(m.Keys, s)
		case c == 'n':
			if err := d.lit("null"); err != nil {
				return err
			}
			if i := d.ixA.find(m.Keys, k, keySig(k)); i >= 0 {
				m.removeAt(i)
				d.ixA.removed(m.Keys, i)
			}
		default:
			return d.wrongType(field+"."+k, "number")
		}
	}
}

// stringMap reads an object of strings into m (reset first). Numbers and
// booleans are kept as their JSON text, null members are dropped, duplicate
// names keep the last value. names as for float64Map.
func (d *Decoder) stringMap(m *StringMap, field string, names bool) error {
	m.Reset()
	if ok, err := d.openObject(field); !ok {
		return err
	}
	d.ixA.reset()
	for first := true; ; first = false {
		kb, more, err := d.nextKey(first)
		if err != nil || !more {
			return err
		}
		if names {
			if err := d.checkName(field, kb); err != nil {
				return err
			}
		}
		k := d.keep(kb)
		v, ok, err := d.label("")
		if err != nil {
			// Name the member only on error: building the path eagerly
			// would allocate for every entry.
			return inField(err, field+"."+k)
		}
		s := keySig(k)
		i := d.ixA.find(m.Keys, k, s)
		switch {
		case ok && i >= 0:
			m.Values[i] = v
		case ok:
			m.add(k, v)
			d.ixA.added(m.Keys, s)
		case i >= 0:
			m.removeAt(i)
			d.ixA.removed(m.Keys, i)
		}
	}
}

// stringArray appends the strings of a JSON array (or nothing for null).
func (d *Decoder) stringArray(dst []string, field string) ([]string, error) {
	if ok, err := d.openArray(field); !ok {
		return dst, err
	}
	for first := true; ; first = false {
		more, err := d.nextElem(first)
		if err != nil || !more {
			return dst, err
		}
		if d.data[d.pos] != '"' {
			return dst, d.wrongType(field+"[]", "string")
		}
		b, err := d.rawString()
		if err != nil {
			return dst, inField(err, field+"[]")
		}
		dst = append(dst, d.keep(b))
	}
}

// floatArray appends the numbers of a JSON array (or nothing for null).
func (d *Decoder) floatArray(dst []float64, field string) ([]float64, error) {
	if ok, err := d.openArray(field); !ok {
		return dst, err
	}
	for first := true; ; first = false {
		more, err := d.nextElem(first)
		if err != nil || !more {
			return dst, err
		}
		if !isNumStart(d.data[d.pos]) {
			return dst, d.wrongType(field+"[]", "number")
		}
		f, err := d.readNumber()
		if err != nil {
			return dst, inField(err, field+"[]")
		}
		dst = append(dst, f)
	}
}

// keyIndex finds duplicate member names in maps (features, metadata, ...).
// Duplicates are rare but each key must be checked, so the check must be
// cheap: small maps scan a slice of 32-bit key signatures (one integer compare
// rejects almost every candidate), and maps beyond linearMax entries switch to
// a reusable Go map so that 200-feature messages do not go quadratic.
type keyIndex struct {
	sigs []uint32
	m    map[string]int32
	big  bool
}

const linearMax = 32

// keySig mixes the length and the first and last eight bytes of k: feature
// names tend to share prefixes ("txn_count_1h", "txn_count_24h") or suffixes.
func keySig(k string) uint32 {
	n := len(k)
	var h uint64
	if n >= 8 {
		h = le64(k[:8]) ^ le64(k[n-8:])*0x9E3779B97F4A7C15
	} else {
		for i := 0; i < n; i++ {
			h = h<<8 | uint64(k[i])
		}
	}
	h = (h ^ uint64(n)) * 0x9E3779B97F4A7C15
	return uint32(h >> 32)
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func (ix *keyIndex) reset() {
	ix.sigs = ix.sigs[:0]
	if ix.big {
		clear(ix.m)
		ix.big = false
	}
}

// find returns the index of k in keys, or -1; s is keySig(k).
func (ix *keyIndex) find(keys []string, k string, s uint32) int {
	if ix.big {
		if i, ok := ix.m[k]; ok {
			return int(i)
		}
		return -1
	}
	for i, v := range ix.sigs {
		if v == s && keys[i] == k {
			return i
		}
	}
	return -1
}

// added records that keys gained its last element, whose signature is s.
func (ix *keyIndex) added(keys []string, s uint32) {
	ix.sigs = append(ix.sigs, s)
	n := len(keys)
	switch {
	case ix.big:
		ix.m[keys[n-1]] = int32(n - 1)
	case n > linearMax:
		if ix.m == nil {
			ix.m = make(map[string]int32, 4*linearMax)
		}
		for i, k := range keys {
			ix.m[k] = int32(i)
		}
		ix.big = true
	}
}

// removed records that element i was removed from keys (now without it).
func (ix *keyIndex) removed(keys []string, i int) {
	ix.sigs = append(ix.sigs[:i], ix.sigs[i+1:]...)
	if ix.big {
		clear(ix.m)
		for j, k := range keys {
			ix.m[k] = int32(j)
		}
	}
}

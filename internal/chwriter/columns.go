package chwriter

import (
	"strings"

	"github.com/ClickHouse/ch-go/proto"
)

// The column types below write ClickHouse's Native format through ch-go's
// proto.Buffer. They exist, rather than ch-go's generic columns, for two
// reasons measured on the ingester's hot path:
//   - the decoder's strings are borrowed (valid until its next call), so a
//     LowCardinality column must own its values; interning them at append
//     time both copies each distinct value once per batch and assigns its
//     dictionary index, where ch-go's column keeps string headers and builds
//     the dictionary again at encode time;
//   - a Map is appended from the decoder's parallel key/value slices without
//     building a Go map per row.

// Compile-time checks.
var (
	_ proto.ColInput     = (*lcString)(nil)
	_ proto.StateEncoder = (*lcString)(nil)
	_ proto.ColInput     = (*mapCol[float64])(nil)
	_ proto.StateEncoder = (*mapCol[string])(nil)
	_ proto.ColInput     = (*typed)(nil)
)

// LowCardinality serialization constants (ClickHouse's
// SerializationLowCardinality): key version 1 is "shared dictionaries with
// additional keys"; every block carries its whole dictionary.
const (
	lcKeysVersion = 1
	lcUpdateAll   = 1<<9 | 1<<10 // has additional keys | need update dictionary
)

// lcString is a LowCardinality(String) column that owns its values.
type lcString struct {
	index map[string]uint32
	dict  proto.ColStr // dictionary values, by index
	owned []string     // the same values as Go strings, by index
	keys  []uint32     // one per row
	// recent remembers the value last appended at each position hint: a
	// model id repeats row after row, feature names come in the same order,
	// and comparing with the last value is several times cheaper than
	// hashing it (the profile's top entry before this cache).
	recent []lcRecent
}

const noIndex = ^uint32(0) // an empty lcRecent slot

// AppendLC adds a value of a plain LowCardinality column.
func (c *lcString) AppendLC(s string) { c.Append(s, 0) }

type lcRecent struct {
	s   string // interned: owned by the column
	idx uint32
}

// Append adds s. hint is a small position (0 for a plain column, the entry's
// index for a map's keys) under which s is likely to repeat.
func (c *lcString) Append(s string, hint int) {
	if hint < len(c.recent) {
		if r := &c.recent[hint]; r.idx != noIndex && r.s == s {
			c.keys = append(c.keys, r.idx)
			return
		}
	}
	i, ok := c.index[s]
	if !ok {
		if c.index == nil {
			c.index = make(map[string]uint32)
		}
		i = uint32(c.dict.Rows())
		s = strings.Clone(s)
		c.index[s] = i
		c.dict.Append(s)
		c.owned = append(c.owned, s)
	} else if hint < 64 {
		s = c.owned[i] // never keep the caller's (borrowed) string
	}
	if hint < 64 {
		for len(c.recent) <= hint {
			c.recent = append(c.recent, lcRecent{idx: noIndex})
		}
		c.recent[hint] = lcRecent{s: s, idx: i}
	}
	c.keys = append(c.keys, i)
}

func (c *lcString) Rows() int { return len(c.keys) }

func (c *lcString) Reset() {
	clear(c.index)
	c.dict.Reset()
	clear(c.owned) // let the GC have the strings
	c.owned = c.owned[:0]
	c.keys = c.keys[:0]
	c.recent = c.recent[:0] // indexes refer to the old dictionary
}

func (c *lcString) Type() proto.ColumnType { return "LowCardinality(String)" }

func (c *lcString) EncodeState(b *proto.Buffer) { b.PutInt64(lcKeysVersion) }

func (c *lcString) EncodeColumn(b *proto.Buffer) {
	if len(c.keys) == 0 {
		return
	}
	n := c.dict.Rows()
	var keyType int64
	switch {
	case n <= 1<<8:
		keyType = 0
	case n <= 1<<16:
		keyType = 1
	default:
		keyType = 2
	}
	b.PutInt64(lcUpdateAll | keyType)
	b.PutInt64(int64(n))
	c.dict.EncodeColumn(b)
	b.PutInt64(int64(len(c.keys)))
	switch keyType {
	case 0:
		for _, k := range c.keys {
			b.PutUInt8(uint8(k))
		}
	case 1:
		for _, k := range c.keys {
			b.PutUInt16(uint16(k))
		}
	default:
		for _, k := range c.keys {
			b.PutUInt32(k)
		}
	}
}

func (c *lcString) WriteColumn(w *proto.Writer) { w.ChainBuffer(c.EncodeColumn) }

// mapValues is the value column of a Map: Float64 or String.
type mapValues[V any] interface {
	proto.ColInput
	Append(V)
	AppendArr([]V)
	Reset()
}

// mapCol is a Map(LowCardinality(String), V) column.
type mapCol[V any] struct {
	offsets proto.ColUInt64
	keys    lcString
	values  mapValues[V]
}

func newFloatMap() *mapCol[float64] { return &mapCol[float64]{values: new(proto.ColFloat64)} }
func newStringMap() *mapCol[string] { return &mapCol[string]{values: new(proto.ColStr)} }

// Append adds one row from parallel key and value slices.
func (c *mapCol[V]) Append(keys []string, values []V) {
	for j, k := range keys {
		c.keys.Append(k, j)
	}
	c.values.AppendArr(values)
	c.offsets.Append(uint64(c.keys.Rows()))
}

func (c *mapCol[V]) Rows() int { return c.offsets.Rows() }

func (c *mapCol[V]) Reset() {
	c.offsets.Reset()
	c.keys.Reset()
	c.values.Reset()
}

func (c *mapCol[V]) Type() proto.ColumnType {
	return proto.ColumnType("Map(LowCardinality(String), " + string(c.values.Type()) + ")")
}

func (c *mapCol[V]) EncodeState(b *proto.Buffer) { c.keys.EncodeState(b) }

func (c *mapCol[V]) EncodeColumn(b *proto.Buffer) {
	if c.Rows() == 0 {
		return
	}
	c.offsets.EncodeColumn(b)
	c.keys.EncodeColumn(b)
	c.values.EncodeColumn(b)
}

func (c *mapCol[V]) WriteColumn(w *proto.Writer) { w.ChainBuffer(c.EncodeColumn) }

// nullFloat is a Nullable(Float64) column.
type nullFloat struct {
	nulls  proto.ColUInt8
	values proto.ColFloat64
}

func (c *nullFloat) Append(v float64, ok bool) {
	if ok {
		c.nulls.Append(0)
	} else {
		c.nulls.Append(1)
		v = 0
	}
	c.values.Append(v)
}

func (c *nullFloat) Rows() int                     { return c.values.Rows() }
func (c *nullFloat) Reset()                        { c.nulls.Reset(); c.values.Reset() }
func (c *nullFloat) Type() proto.ColumnType        { return "Nullable(Float64)" }
func (c *nullFloat) EncodeColumn(b *proto.Buffer)  { c.nulls.EncodeColumn(b); c.values.EncodeColumn(b) }
func (c *nullFloat) WriteColumn(w *proto.Writer)   { w.ChainBuffer(c.EncodeColumn) }
func (c *nullString) Rows() int                    { return c.values.Rows() }
func (c *nullString) Reset()                       { c.nulls.Reset(); c.values.Reset() }
func (c *nullString) Type() proto.ColumnType       { return "Nullable(String)" }
func (c *nullString) EncodeColumn(b *proto.Buffer) { c.nulls.EncodeColumn(b); c.values.EncodeColumn(b) }
func (c *nullString) WriteColumn(w *proto.Writer)  { w.ChainBuffer(c.EncodeColumn) }

// nullString is a Nullable(String) column.
type nullString struct {
	nulls  proto.ColUInt8
	values proto.ColStr
}

func (c *nullString) Append(v string, ok bool) {
	if ok {
		c.nulls.Append(0)
	} else {
		c.nulls.Append(1)
		v = ""
	}
	c.values.Append(v)
}

// typed gives a column the exact ClickHouse type of the table, for types
// whose wire format is another's (Enum8 is Int8, DateTime64 carries its
// time zone in the name).
type typed struct {
	proto.ColInput
	typ proto.ColumnType
}

func (t typed) Type() proto.ColumnType { return t.typ }

// ms returns a DateTime64(3, 'UTC') column.
func ms() *proto.ColDateTime64 {
	c := new(proto.ColDateTime64).WithPrecision(proto.PrecisionMilli)
	c.Location = nil // the type name below carries the zone
	return c
}

const dateTime64UTC proto.ColumnType = "DateTime64(3, 'UTC')"

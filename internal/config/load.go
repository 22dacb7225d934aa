package config

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/predlog/predlog/internal/clip"
)

// LookupEnv reads an environment variable; os.LookupEnv in production, a map in tests.
type LookupEnv func(key string) (string, bool)

// ConfigEnv names the config file when --config is not given.
const ConfigEnv = EnvPrefix + "CONFIG"

// LoadIngester builds the ingester config: defaults, then the YAML file named by
// --config (or $PREDLOG_CONFIG), then PREDLOG_* environment variables, then
// flags; then it reads password files and validates. args excludes the program
// name. Usage and flag errors go to out. -h returns an error wrapping flag.ErrHelp.
func LoadIngester(args []string, lookupEnv LookupEnv, out io.Writer) (*IngesterConfig, error) {
	c := DefaultIngester()
	b := newBinder()
	c.bind(b)
	if err := load("ingester", b, &c, args, lookupEnv, out); err != nil {
		return nil, err
	}
	if err := c.finish(b); err != nil {
		return nil, err
	}
	return &c, nil
}

// LoadAggregator is LoadIngester for the aggregator.
func LoadAggregator(args []string, lookupEnv LookupEnv, out io.Writer) (*AggregatorConfig, error) {
	c := DefaultAggregator()
	b := newBinder()
	c.bind(b)
	if err := load("aggregator", b, &c, args, lookupEnv, out); err != nil {
		return nil, err
	}
	if err := c.finish(b); err != nil {
		return nil, err
	}
	return &c, nil
}

// flagRecorder stands in for a field on the command line: flags are parsed
// first (to find --config) but applied last, so it only records what it got.
type flagRecorder struct {
	f       *field
	pending *[]pendingFlag
}

type pendingFlag struct {
	f   *field
	raw string
}

func (r *flagRecorder) String() string {
	if r == nil || r.f == nil {
		return ""
	}
	return r.f.val.String()
}

func (r *flagRecorder) Set(s string) error {
	*r.pending = append(*r.pending, pendingFlag{r.f, s})
	return nil
}

func (r *flagRecorder) IsBoolFlag() bool {
	if r == nil || r.f == nil {
		return false
	}
	bf, ok := r.f.val.(interface{ IsBoolFlag() bool })
	return ok && bf.IsBoolFlag()
}

// newFlagSet builds the daemon's flags: --config plus one per config key,
// with the defaults in their help text.
func newFlagSet(name string, b *binder, out io.Writer) (*flag.FlagSet, *string, *[]pendingFlag) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	pending := &[]pendingFlag{}
	configPath := fs.String("config", "", "YAML config file (env "+ConfigEnv+")")
	for _, f := range b.fields {
		usage := f.usage + " (env " + EnvName(f.key) + ")"
		fs.Var(&flagRecorder{f: f, pending: pending}, FlagName(f.key), usage)
		if v := reflect.ValueOf(f.val); v.Kind() == reflect.Pointer && v.Elem().IsZero() {
			// -h leaves zero defaults out (false, 0, 0s), as the flag package
			// does for its own types: it compares with a zero flagRecorder,
			// whose String is "". A zero that means more says so in usage.
			fs.Lookup(FlagName(f.key)).DefValue = ""
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: %s [flags]\n", name)
		for _, c := range commands[name] {
			fmt.Fprintf(out, "       %s %s\n", name, c)
		}
		fmt.Fprintf(out, "Precedence: flags > %s* environment variables > --config YAML > defaults.\n", EnvPrefix)
		fs.PrintDefaults()
	}
	return fs, configPath, pending
}

// undefinedFlagRE matches the flag package's error for an unknown flag.
var undefinedFlagRE = regexp.MustCompile(`^flag provided but not defined: -+(.+)$`)

// flagError names an unknown flag as it was meant, with the closest known
// one when a letter or two is off.
func flagError(err error, fs *flag.FlagSet) error {
	g := undefinedFlagRE.FindStringSubmatch(err.Error())
	if g == nil {
		return err
	}
	name := g[1]
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if best := closest(name, names, max(2, len(name)/6)); best != "" {
		return fmt.Errorf("unknown flag --%s (did you mean --%s?); -h lists the flags", name, best)
	}
	return fmt.Errorf("unknown flag --%s; -h lists the flags", name)
}

// commands are each daemon's subcommands, for its usage text.
var commands = map[string][]string{
	"ingester": {
		"migrate [status|check|render] [flags]   apply (or list, check, print) the ClickHouse schema migrations",
		"dlq replay [--code c1,c2] [--source-topic t1,t2] [--dry-run] [--group predlog-dlq-replay] [flags]   produce dead-lettered messages back to their source topics (-h for more)",
		"version   print the version, the commit it was built from and the Go version (also --version)",
	},
	"aggregator": {
		"migrate [status|check|render] [flags]   as the ingester's",
		"backfill --from RFC3339 --to RFC3339 [flags]   recompute the windows of a time range",
		"baseline --model ID --version V --from RFC3339 --to RFC3339 [flags]   freeze a window of a version's serving as its drift baseline",
		"version   as the ingester's",
	},
}

func load(name string, b *binder, cfg any, args []string, lookupEnv LookupEnv, out io.Writer) error {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	if out == nil {
		out = io.Discard
	}
	fs, configPath, pending := newFlagSet(name, b, out)
	// The flag package prints its error and the whole usage on any
	// mistake: only -h gets the usage, a mistake one line that says what
	// to fix.
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage()
		return fmt.Errorf("parse flags: %w", err)
	case err != nil:
		return fmt.Errorf("parse flags: %w", flagError(err, fs))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("parse flags: unexpected argument %q (flags start with -; -h lists them and the subcommands)", fs.Arg(0))
	}

	path := *configPath
	if path == "" {
		path, _ = lookupEnv(ConfigEnv)
	}
	if path != "" {
		if err := loadYAML(path, b, cfg); err != nil {
			return err
		}
	}

	for _, f := range b.fields {
		env := EnvName(f.key)
		raw, ok := lookupEnv(env)
		if !ok || raw == "" { // set-but-empty counts as unset (compose passes FOO= for optionals)
			continue
		}
		f.src = source{kind: srcEnv, at: env, raw: raw}
		if err := f.val.Set(raw); err != nil {
			return &FieldError{Key: f.key, Source: f.describe(), Reason: err.Error()}
		}
	}

	for _, p := range *pending {
		p.f.src = source{kind: srcFlag, at: "--" + FlagName(p.f.key), raw: p.raw}
		if err := p.f.val.Set(p.raw); err != nil {
			return &FieldError{Key: p.f.key, Source: p.f.describe(), Reason: err.Error()}
		}
	}
	return nil
}

func loadYAML(path string, b *binder, cfg any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	// The duration values, for daysToHours, and which keys the file set
	// and on which line, for error messages.
	var durations []durationScalar
	var fractions []string
	if len(root.Content) > 0 {
		boundFields(b, root.Content[0], "", func(f *field, key string, k, val *yaml.Node) {
			f.src = source{kind: srcYAML, at: fmt.Sprintf("%s:%d", path, k.Line)}
			durations = appendDurations(durations, f, key, val)
			// yaml.v3 decodes 1.5 into an int as 1.
			if _, isInt := f.val.(*intValue); isInt && val.Kind == yaml.ScalarNode && val.ShortTag() == "!!float" {
				fractions = append(fractions, fmt.Sprintf("line %d: %s: want a whole number, got %s", val.Line, key, val.Value))
			}
		})
	}
	if len(fractions) > 0 {
		return fmt.Errorf("config %s: %s", path, strings.Join(fractions, "; "))
	}
	body, err := daysToHours(data, durations)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, yamlErrors(err, b, &root))
	}
	return nil
}

// boundFields calls fn for every key in n that b binds (its dotted path,
// key node and value), looking into the mappings of the keys it does not.
func boundFields(b *binder, n *yaml.Node, prefix string, fn func(f *field, key string, k, val *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := prefix + k.Value
		if f, ok := b.byKey[key]; ok {
			fn(f, key, k, val)
			continue
		}
		boundFields(b, val, key+".", fn)
	}
}

// unknownFieldRE matches yaml.v3's message for a key the config does not
// have: "line 7: field bogus not found in type config.Kafka".
var unknownFieldRE = regexp.MustCompile(`^line (\d+): field (.+) not found in type \S+$`)

// typeErrorRE matches yaml.v3's message for a value of the wrong kind:
// "line 2: cannot unmarshal !!str `127.0.0...` into []string".
var typeErrorRE = regexp.MustCompile("(?s)^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")

// yamlErrors rewrites yaml.v3's messages to name the whole key and say what
// it takes, instead of Go types: "line 7: unknown key kafka.bogus",
// "line 2: kafka.brokers: want a list ([a, b]), got the string "127.0.0.1:9092"".
func yamlErrors(err error, b *binder, root *yaml.Node) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		if g := unknownFieldRE.FindStringSubmatch(m); g != nil {
			line, _ := strconv.Atoi(g[1])
			if key := keyAt(root, line, g[2], ""); key != "" {
				hint := "misspelt? configs/ lists every key"
				if s := b.suggest(key); s != "" {
					hint = "did you mean " + s + "?"
				}
				msgs[i] = fmt.Sprintf("line %d: unknown key %s (%s)", line, key, hint)
			}
		} else if g := typeErrorRE.FindStringSubmatch(m); g != nil {
			line, _ := strconv.Atoi(g[1])
			if key, val := typeErrorKey(b, root, line, g[2], g[3], g[4]); key != "" {
				msgs[i] = fmt.Sprintf("line %d: %s: want %s, got %s", line, key, wantKind(g[4]), gotKind(g[2], val.Value, b.holdsSecret(key)))
			}
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// typeErrorKey returns the key yaml.v3's type error on line is about, and
// its value: the one key whose value starts there with that tag (str, int,
// seq, map, ...), looks like the snippet (a scalar's shortened value) and
// has Go type goType; "" when that is not one key.
func typeErrorKey(b *binder, root *yaml.Node, line int, tag, snippet, goType string) (string, *yaml.Node) {
	var found []keyedValue
	for _, kv := range valuesAt(root, line, "!!"+tag, snippet, "", nil) {
		f, bound := b.byKey[kv.key]
		switch {
		case bound && (!kv.item && fieldGoType(f) == goType || kv.item && fieldGoType(f) == "[]"+goType),
			!bound && strings.HasPrefix(goType, "config.") && b.isSection(kv.key),   // e.g. kafka.topics
			!bound && !strings.HasPrefix(goType, "config.") && !b.isSection(kv.key): // e.g. ab.experiments.x.split
			found = append(found, kv)
		}
	}
	if len(found) != 1 {
		return "", nil
	}
	return found[0].key, found[0].val
}

// keyedValue is a value in the YAML tree and the dotted path of its key;
// item: the value is an item of the key's list.
type keyedValue struct {
	key  string
	val  *yaml.Node
	item bool
}

// valuesAt appends the keys (and values) whose value starts on line with
// tag and, for a scalar, begins with snippet (yaml.v3 shortens values to 7
// bytes and "...").
func valuesAt(n *yaml.Node, line int, tag, snippet, prefix string, out []keyedValue) []keyedValue {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			out = valuesAt(c, line, tag, snippet, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Line == line && v.ShortTag() == tag && strings.HasPrefix(v.Value, strings.TrimSuffix(snippet, "...")) {
				out = append(out, keyedValue{prefix + k.Value, v, false})
			}
			// yaml.v3 reports an alias's error on its anchor's line: a key
			// using the anchor is a candidate too (and makes it ambiguous).
			if v.Kind == yaml.AliasNode && v.Alias != nil && v.Alias.Line == line {
				out = append(out, keyedValue{prefix + k.Value, v.Alias, false})
			}
			out = valuesAt(v, line, tag, snippet, prefix+k.Value+".", out)
		}
	case yaml.SequenceNode:
		// An item of a list: yaml.v3 names the item's type, not the list's.
		for _, v := range n.Content {
			if v.Line == line && v.ShortTag() == tag && strings.HasPrefix(v.Value, strings.TrimSuffix(snippet, "...")) {
				out = append(out, keyedValue{strings.TrimSuffix(prefix, "."), v, true})
			}
		}
	}
	return out
}

// fieldGoType is the Go type yaml.v3 names in its errors for f's value.
func fieldGoType(f *field) string {
	switch f.val.(type) {
	case *stringValue:
		return "string"
	case *stringsValue:
		return "[]string"
	case *intValue:
		return "int"
	case *floatValue:
		return "float64"
	case *boolValue:
		return "bool"
	case *durationValue:
		return "time.Duration"
	case *durationsValue:
		return "[]time.Duration"
	case *byteSizeValue:
		return "config.ByteSize"
	case *secretValue:
		return "config.Secret"
	case *dsnValue:
		return "config.DSN"
	}
	return ""
}

// wantKind says in words what a Go type takes in YAML.
func wantKind(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration with a unit (500ms, 30s, 1h, 1d)"
	case goType == "[]time.Duration":
		return "a list of durations ([1m, 1h, 1d])"
	case strings.HasPrefix(goType, "[]"):
		return "a list ([a, b])"
	case strings.HasPrefix(goType, "map["):
		return "a mapping (key: value)"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case goType == "config.ByteSize":
		return "a size (16MiB, 500KB, 1024)"
	case goType == "config.Secret", goType == "config.DSN":
		return "a string"
	case strings.HasPrefix(goType, "config."):
		return "a mapping of its keys"
	}
	return "a value of type " + goType
}

// gotKind describes a YAML value by its tag and its value: whole, not
// yaml.v3's snippet of 7 bytes ("127.0.0..."), which cuts off what is
// wrong with it; not at all where the key holds a secret.
func gotKind(tag, value string, secret bool) string {
	switch {
	case tag == "seq":
		return "a list"
	case tag == "map":
		return "a mapping"
	case secret:
		return "a value not shown (the key holds a secret)"
	case tag == "str":
		return "the string " + strconv.Quote(shown(value))
	}
	return shown(value)
}

// maxShown bounds a value quoted in an error: whole, since the user needs
// to see what is wrong with it, unless it is a pasted blob.
const maxShown = 200

// shown cuts v for an error message after maxShown bytes.
func shown(v string) string { return clip.String(v, maxShown) }

// keyAt returns the dotted path of the mapping key name on line in n, ""
// if there is none.
func keyAt(n *yaml.Node, line int, name, prefix string) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := keyAt(c, line, name, prefix); p != "" {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Line == line && k.Value == name {
				return prefix + name
			}
			if p := keyAt(n.Content[i+1], line, name, prefix+k.Value+"."); p != "" {
				return p
			}
		}
	}
	return ""
}

// durationScalar is a duration value in the YAML tree and its key.
type durationScalar struct {
	key  string
	node *yaml.Node
}

// appendDurations appends val's duration scalars to out if f is a
// duration (or a list of them).
func appendDurations(out []durationScalar, f *field, key string, val *yaml.Node) []durationScalar {
	switch f.val.(type) {
	case *durationValue:
		if val.Kind == yaml.ScalarNode {
			out = append(out, durationScalar{key, val})
		}
	case *durationsValue:
		if val.Kind == yaml.SequenceNode {
			for _, s := range val.Content {
				if s.Kind == yaml.ScalarNode {
					out = append(out, durationScalar{key, s})
				}
			}
		}
	}
	return out
}

// daysToHours returns data with the values of scalars written in days
// ("7d"), which the YAML decoder rejects, written in hours, in place:
// each on its own line, so that every line number in a decoder message is
// still the file's. (Flags and environment variables take days through
// parseDuration.) A malformed day value is an error naming its key.
func daysToHours(data []byte, scalars []durationScalar) ([]byte, error) {
	lines := strings.Split(string(data), "\n")
	changed := false
	// Right to left within a line, so that earlier columns stay valid.
	slices.SortFunc(scalars, func(a, b durationScalar) int {
		return cmp.Or(a.node.Line-b.node.Line, b.node.Column-a.node.Column)
	})
	for _, sc := range scalars {
		s := sc.node
		v := strings.TrimSpace(s.Value)
		if !strings.HasSuffix(v, "d") || s.Line < 1 || s.Line > len(lines) {
			continue
		}
		d, err := parseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", s.Line, sc.key, err)
		}
		line := lines[s.Line-1]
		from := min(max(s.Column-1, 0), len(line))
		at := strings.Index(line[from:], s.Value)
		if at < 0 {
			continue
		}
		at += from
		lines[s.Line-1] = line[:at] + d.String() + line[at+len(s.Value):]
		changed = true
	}
	if !changed {
		return data, nil
	}
	return []byte(strings.Join(lines, "\n")), nil
}

// describe names where the field's value came from and how to override it.
// Secret values are never included.
func (f *field) describe() string {
	shown := f.val.String() // secrets print redacted
	if (f.src.kind == srcEnv || f.src.kind == srcFlag) && !f.secret {
		shown = f.src.raw // exactly what the user typed
	}
	switch f.src.kind {
	case srcFlag, srcEnv:
		return fmt.Sprintf("%s=%s", f.src.at, shown)
	case srcYAML:
		return fmt.Sprintf("%q at %s; flag --%s, env %s", shown, f.src.at, FlagName(f.key), EnvName(f.key))
	default:
		return fmt.Sprintf("%q by default; flag --%s, env %s", shown, FlagName(f.key), EnvName(f.key))
	}
}

// FieldError is a config value that failed to parse or validate. Its message
// names the key and where the value came from:
//
//	invalid batch.max_bytes (--batch.max-bytes=0): must be > 0
//	invalid batch.max_bytes (PREDLOG_BATCH_MAX_BYTES=0): must be > 0
//	invalid batch.max_bytes ("0" at ingester.yaml:12; flag --batch.max-bytes, env PREDLOG_BATCH_MAX_BYTES): must be > 0
type FieldError struct {
	Key    string // config key, e.g. "batch.max_bytes"
	Source string // where the value came from
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid %s (%s): %s", e.Key, e.Source, e.Reason)
}

// Keys lists every config key of a daemon ("ingester" or "aggregator"),
// sorted; for docs and tests.
func Keys(daemon string) []string {
	b := newBinder()
	switch daemon {
	case "ingester":
		c := DefaultIngester()
		c.bind(b)
	case "aggregator":
		c := DefaultAggregator()
		c.bind(b)
	}
	keys := make([]string, 0, len(b.fields))
	for _, f := range b.fields {
		keys = append(keys, f.key)
	}
	sort.Strings(keys)
	return keys
}

// logPairs returns key=value for every field, secrets redacted.
func logPairs(b *binder) [][2]string {
	out := make([][2]string, 0, len(b.fields))
	for _, f := range b.fields {
		out = append(out, [2]string{f.key, f.val.String()})
	}
	return out
}

package messages

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// badKey finds the first key (in sorted order) of the map in data whose
// value does not decode into its field of v (a pointer to a struct), and
// says what the key wants. It returns "" when it cannot tell. data has
// passed checkMap.
func badKey(data []byte, v any) (key string, why error) {
	fields, raw, ok := fieldsOf(data, v)
	if !ok {
		return "", nil
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		f, known := fields[k]
		if !known {
			continue
		}
		if err := msgpack.Unmarshal(raw[k], reflect.New(f.Type).Interface()); err != nil {
			return k, fmt.Errorf("want %s, got %s", describe(f.Type), wireKind(raw[k]))
		}
	}
	return "", nil
}

// outOfRange finds a key of a signed integer field whose value is an
// unsigned integer above math.MaxInt64, which the MessagePack library
// would silently wrap to a negative number.
func outOfRange(data []byte, v any) (key string, why error) {
	fields, raw, ok := fieldsOf(data, v)
	if !ok {
		return "", nil
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		f, known := fields[k]
		b := raw[k]
		if !known || f.Type.Kind() < reflect.Int || f.Type.Kind() > reflect.Int64 || len(b) != 9 || b[0] != 0xcf {
			continue
		}
		if n := binary.BigEndian.Uint64(b[1:]); n > math.MaxInt64 {
			return k, fmt.Errorf("%d is out of range (at most %d)", n, int64(math.MaxInt64))
		}
	}
	return "", nil
}

// fieldsOf maps the msgpack keys of the struct v points to onto their
// fields, and decodes data into its raw values by key.
func fieldsOf(data []byte, v any) (map[string]reflect.StructField, map[string]msgpack.RawMessage, bool) {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, nil, false
	}
	var raw map[string]msgpack.RawMessage
	if msgpack.Unmarshal(data, &raw) != nil {
		return nil, nil, false
	}
	fields := make(map[string]reflect.StructField)
	for _, f := range reflect.VisibleFields(t.Elem()) {
		name, _, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
		if name != "" && name != "-" {
			fields[name] = f
		}
	}
	return fields, raw, true
}

var timeType = reflect.TypeFor[time.Time]()

// describe names a field type in the protocol's words (docs/protocol.md),
// e.g. "an array of strings".
func describe(t reflect.Type) string {
	n := noun(t)
	if strings.ContainsRune("aeiou", rune(n[0])) {
		return "an " + n
	}
	return "a " + n
}

// noun is describe without the article.
func noun(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "timestamp"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return "binary data"
	case t.Kind() == reflect.Slice:
		return "array of " + plural(noun(t.Elem()))
	case t.Kind() == reflect.Map:
		return "map of " + plural(noun(t.Elem()))
	case t.Kind() == reflect.Struct:
		return "map"
	}
	return t.String()
}

// plural is the plural of a noun from noun.
func plural(n string) string {
	if first, rest, ok := strings.Cut(n, " of "); ok {
		return first + "s of " + rest
	}
	if n == "binary data" {
		return n
	}
	return n + "s"
}

// wireKind names the MessagePack type of the value raw starts with.
func wireKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch c := raw[0]; {
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		return "an integer"
	case c <= 0x8f || c == 0xde || c == 0xdf:
		return "a map"
	case c <= 0x9f || c == 0xdc || c == 0xdd:
		return "an array"
	case c <= 0xbf || (c >= 0xd9 && c <= 0xdb):
		return "a string"
	case c == 0xc0:
		return "nil"
	case c == 0xc2 || c == 0xc3:
		return "a boolean"
	case c >= 0xc4 && c <= 0xc6:
		return "binary data"
	case c == 0xca || c == 0xcb:
		return "a float"
	}
	return "an extension value"
}

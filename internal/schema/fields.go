package schema

import (
	"encoding/binary"
	"errors"
	"sort"
)

// The fields of an item are stored as one blob, the same in both stores so
// that a migration copies it as it is: the number of fields, then each name
// and value, every string prefixed by its length (uvarint), names sorted. Decoding slices a single string, which is several times faster
// than JSON and keeps reading 1,000 changed items within milliseconds.

// EncodeFields renders fields; empty values are left out ("" = missing).
func EncodeFields(fields map[string]string) []byte {
	names := make([]string, 0, len(fields))
	size := binary.MaxVarintLen64
	for k, v := range fields {
		if v == "" {
			continue
		}
		names = append(names, k)
		size += len(k) + len(v) + 2*binary.MaxVarintLen64
	}
	sort.Strings(names)
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		v := fields[k]
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

var errCorruptFields = errors.New("corrupt fields blob")

// DecodeFields parses what EncodeFields wrote.
func DecodeFields(blob []byte) (map[string]string, error) {
	s := string(blob) // one copy; names and values are slices of it
	n, p := binary.Uvarint(blob)
	if p <= 0 || n > uint64(len(blob)) {
		return nil, errCorruptFields
	}
	fields := make(map[string]string, n)
	next := func() (string, bool) {
		l, w := binary.Uvarint(blob[p:])
		if w <= 0 || l > uint64(len(blob)-p-w) {
			return "", false
		}
		start := p + w
		p = start + int(l)
		return s[start:p], true
	}
	for range n {
		k, ok := next()
		if !ok {
			return nil, errCorruptFields
		}
		v, ok := next()
		if !ok {
			return nil, errCorruptFields
		}
		fields[k] = v
	}
	if p != len(blob) {
		return nil, errCorruptFields
	}
	return fields, nil
}

package vcard

import (
	"strings"

	crm "github.com/crmsync/crmsync"
)

// splitUnescaped splits an escaped value at every sep not preceded by a
// backslash escape. go-vcard splits N and ADR at every ';', even "\;".
func splitUnescaped(v string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++ // skip the escaped character
		case sep:
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}

// unescapeText reads an escaped TEXT value leniently (RFC 6350 §3.4 and
// what real producers write): \n \N newline, \\ \, \; \: the character; a
// backslash before anything else is kept. Characters that are illegal in
// XML (and so would break a CardDAV response) are dropped.
func unescapeText(v string) string {
	if !strings.ContainsAny(v, "\\\r\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f") {
		return v
	}
	var sb strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			switch n := v[i+1]; n {
			case 'n', 'N':
				sb.WriteByte('\n')
				i++
				continue
			case '\\', ',', ';', ':':
				sb.WriteByte(n)
				i++
				continue
			}
		}
		if c < 0x20 && c != '\n' && c != '\t' {
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// escapeText escapes a TEXT value or component for writing. go-vcard
// doubles the backslash of "\;" instead; this escapes each of \ , ; and
// line breaks exactly once.
func escapeText(s string) string {
	var sb strings.Builder
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			sb.WriteString(`\\`)
		case ',':
			sb.WriteString(`\,`)
		case ';':
			sb.WriteString(`\;`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// components splits a structured value (N, ADR, ORG) into its unescaped
// components, padded to n.
func components(v string, n int) []string {
	raw := splitUnescaped(v, ';')
	out := make([]string, max(n, len(raw)))
	for i, r := range raw {
		out[i] = unescapeText(r)
	}
	return out
}

// nameComponent reads one N component. 3.0 makes it a comma list
// ("Richter,James" = two middle names) while 2.1 cards use the comma as
// text ("podpora CZ.NIC, z. s. p. o."); unescaped commas are kept as
// written, so both read naturally and survive the round trip.
func nameComponent(raw string) string {
	return strings.TrimSpace(unescapeText(raw))
}

// Normalize returns value as it comes back after a trip through a vCard:
// line breaks as LF, no XML-illegal control characters, surrounding space
// trimmed. Use it as the CardDAV replica's Normalize; it is idempotent.
func Normalize(field, value string) string {
	value = strings.ToValidUTF8(value, "\uFFFD")
	value = strings.ReplaceAll(value, "\r\n", "\n")
	value = strings.ReplaceAll(value, "\r", "\n")
	value = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0xFFFE || r == 0xFFFF {
			return -1
		}
		return r
	}, value)
	if field == crm.FieldNote {
		return strings.TrimRight(value, " \t\n")
	}
	return strings.TrimSpace(value)
}

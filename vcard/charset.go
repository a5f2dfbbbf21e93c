package vcard

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// cp1250 maps the bytes 0x80-0xFF of Windows-1250 (Central European: the
// charset Czech and Polish Outlook writes vCard 2.1 in) to Unicode. A small
// table instead of golang.org/x/text, which the module does not depend on.
var cp1250 = [128]rune{
	0x20AC, 0xFFFD, 0x201A, 0xFFFD, 0x201E, 0x2026, 0x2020, 0x2021,
	0xFFFD, 0x2030, 0x0160, 0x2039, 0x015A, 0x0164, 0x017D, 0x0179,
	0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0xFFFD, 0x2122, 0x0161, 0x203A, 0x015B, 0x0165, 0x017E, 0x017A,
	0x00A0, 0x02C7, 0x02D8, 0x0141, 0x00A4, 0x0104, 0x00A6, 0x00A7,
	0x00A8, 0x00A9, 0x015E, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x017B,
	0x00B0, 0x00B1, 0x02DB, 0x0142, 0x00B4, 0x00B5, 0x00B6, 0x00B7,
	0x00B8, 0x0105, 0x015F, 0x00BB, 0x013D, 0x02DD, 0x013E, 0x017C,
	0x0154, 0x00C1, 0x00C2, 0x0102, 0x00C4, 0x0139, 0x0106, 0x00C7,
	0x010C, 0x00C9, 0x0118, 0x00CB, 0x011A, 0x00CD, 0x00CE, 0x010E,
	0x0110, 0x0143, 0x0147, 0x00D3, 0x00D4, 0x0150, 0x00D6, 0x00D7,
	0x0158, 0x016E, 0x00DA, 0x0170, 0x00DC, 0x00DD, 0x0162, 0x00DF,
	0x0155, 0x00E1, 0x00E2, 0x0103, 0x00E4, 0x013A, 0x0107, 0x00E7,
	0x010D, 0x00E9, 0x0119, 0x00EB, 0x011B, 0x00ED, 0x00EE, 0x010F,
	0x0111, 0x0144, 0x0148, 0x00F3, 0x00F4, 0x0151, 0x00F6, 0x00F7,
	0x0159, 0x016F, 0x00FA, 0x0171, 0x00FC, 0x00FD, 0x0163, 0x02D9,
}

// decodeCharset converts b from the named charset to UTF-8. An empty name
// means "not declared": UTF-8 when b is valid UTF-8, else Windows-1250,
// which is what 2.1 cards without CHARSET from Czech and Polish Outlook
// hold. ok is false for a charset it does not know.
func decodeCharset(b []byte, name string) (s string, ok bool) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "":
		if utf8.Valid(b) {
			return string(b), true
		}
		return decodeTable(b, &cp1250), true
	case "UTF-8", "UTF8", "US-ASCII", "ASCII":
		if utf8.Valid(b) {
			return string(b), true
		}
		// Declared UTF-8 but is not: the producer lied; 1250 is the
		// likeliest truth for the cards this project meets.
		return decodeTable(b, &cp1250), true
	case "WINDOWS-1250", "CP1250", "CP-1250", "X-CP1250":
		return decodeTable(b, &cp1250), true
	case "ISO-8859-1", "LATIN1", "ISO8859-1", "WINDOWS-1252", "CP1252":
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String(), true
	}
	if utf8.Valid(b) && isASCII(b) {
		return string(b), true // any charset is fine for pure ASCII
	}
	return "", false
}

func decodeTable(b []byte, table *[128]rune) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(table[c-0x80])
		}
	}
	return sb.String()
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// toUTF8 converts a whole vCard file to UTF-8: it strips a UTF-8 BOM and
// decodes UTF-16 in either byte order, with or without a BOM (Apple
// Address Book 4 wrote UTF-16BE without one). Other bytes are returned as
// they are; per-property charsets are handled later.
func toUTF8(data []byte) []byte {
	switch {
	case len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF:
		return data[3:]
	case len(data) >= 2 && data[0] == 0xFE && data[1] == 0xFF:
		return utf16Decode(data[2:], true)
	case len(data) >= 2 && data[0] == 0xFF && data[1] == 0xFE:
		return utf16Decode(data[2:], false)
	case len(data) >= 4 && data[0] == 0 && data[1] != 0 && data[2] == 0 && data[3] != 0:
		return utf16Decode(data, true)
	case len(data) >= 4 && data[0] != 0 && data[1] == 0 && data[2] != 0 && data[3] == 0:
		return utf16Decode(data, false)
	}
	return data
}

func utf16Decode(b []byte, bigEndian bool) []byte {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		if bigEndian {
			u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
		} else {
			u = append(u, uint16(b[i+1])<<8|uint16(b[i]))
		}
	}
	return []byte(string(utf16.Decode(u)))
}

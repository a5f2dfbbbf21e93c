package engine

import (
	"fmt"
	"strings"
	"time"
)

// The journal block (SPEC S4) follows the CRM note in a remote's note,
// between two marker lines. Everything from the opening marker on is the
// block; it is stripped when the note comes back, so it never leaks into
// the CRM note, and edits made inside it are ignored.
const (
	journalsBegin = "----- CRM journal (read-only, rebuilt by crmsync) -----"
	journalsEnd   = "----- end of CRM journal -----"
	// maxJournalBlock caps the block; older entries are left out.
	maxJournalBlock = 16 << 10
)

// JournalEntry is one non-system journal of a contact as the block shows it.
type JournalEntry struct {
	When    time.Time // EventStart, else the time it was created
	Type    string
	Subject string
	Note    string
}

// RenderJournals renders the block for entries, newest first. It returns ""
// when there are none. A block longer than the cap says how many older
// entries were left out.
func RenderJournals(entries []JournalEntry) string {
	if len(entries) == 0 {
		return ""
	}
	sorted := append([]JournalEntry(nil), entries...)
	sortNewestFirst(sorted)
	var b strings.Builder
	b.WriteString(journalsBegin + "\n")
	for i, e := range sorted {
		line := e.When.UTC().Format("2006-01-02 15:04")
		if e.Type != "" {
			line += " [" + e.Type + "]"
		}
		if e.Subject != "" {
			line += " " + oneLine(e.Subject)
		}
		line += "\n"
		if e.Note != "" {
			line += "  " + strings.ReplaceAll(strings.TrimSpace(e.Note), "\n", "\n  ") + "\n"
		}
		if b.Len()+len(line)+len(journalsEnd) > maxJournalBlock {
			fmt.Fprintf(&b, "(%d older entries left out)\n", len(sorted)-i)
			break
		}
		b.WriteString(line)
	}
	b.WriteString(journalsEnd)
	return b.String()
}

func sortNewestFirst(e []JournalEntry) {
	// Insertion sort keeps equal times in input order; blocks are small.
	for i := 1; i < len(e); i++ {
		for j := i; j > 0 && e[j].When.After(e[j-1].When); j-- {
			e[j], e[j-1] = e[j-1], e[j]
		}
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// JoinNote is the note a remote gets: the CRM note, then the block.
func JoinNote(note, block string) string {
	switch {
	case block == "":
		return note
	case note == "":
		return block
	}
	return note + "\n\n" + block
}

// SplitNote separates a remote's note into the user's note and the block.
// Text a user typed after the block is kept in the note, and CRLF line ends
// (as Outlook stores its body) are read as LF.
func SplitNote(s string) (note, block string) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	i := strings.Index(s, journalsBegin)
	if i < 0 {
		return s, ""
	}
	note = strings.TrimRight(s[:i], "\n")
	block = s[i:]
	if j := strings.Index(block, journalsEnd); j >= 0 {
		after := strings.TrimLeft(block[j+len(journalsEnd):], "\n")
		block = block[:j+len(journalsEnd)]
		if after != "" {
			note = JoinNote(note, after)
		}
	}
	return note, block
}

package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestJournalBlockRoundTrip(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 9, 30, 0, 0, time.UTC) }
	block := RenderJournals([]JournalEntry{
		{When: day(1), Type: "Phone call", Subject: "Old call", Note: "said\nno"},
		{When: day(20), Type: "Meeting", Subject: "New meeting"},
	})
	if i, j := strings.Index(block, "New meeting"), strings.Index(block, "Old call"); i < 0 || j < 0 || i > j {
		t.Fatalf("block not newest first:\n%s", block)
	}
	tests := []struct {
		name, remote, wantNote, wantBlock string
	}{
		{"note and block", JoinNote("Call after 5pm", block), "Call after 5pm", block},
		{"block only", JoinNote("", block), "", block},
		{"no block", "just a note", "just a note", ""},
		{"CRLF from Outlook", strings.ReplaceAll(JoinNote("a\nb", block), "\n", "\r\n"), "a\nb", block},
		{"block edited in Outlook", JoinNote("n", strings.Replace(block, "Old call", "Edited", 1)), "n", strings.Replace(block, "Old call", "Edited", 1)},
		{"text typed after the block is kept", JoinNote("n", block) + "\n\nP.S. new", "n\n\nP.S. new", block},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			note, got := SplitNote(tt.remote)
			if note != tt.wantNote || got != tt.wantBlock {
				t.Errorf("SplitNote = %q, %q; want %q, %q", note, got, tt.wantNote, tt.wantBlock)
			}
		})
	}
}

func TestJournalBlockCapped(t *testing.T) {
	var entries []JournalEntry
	for i := range 2000 {
		entries = append(entries, JournalEntry{When: time.Unix(int64(i)*3600, 0), Subject: fmt.Sprintf("entry %d", i), Note: strings.Repeat("x", 40)})
	}
	block := RenderJournals(entries)
	if len(block) > maxJournalBlock {
		t.Errorf("block is %d bytes, cap is %d", len(block), maxJournalBlock)
	}
	if !strings.Contains(block, "entry 1999") || strings.Contains(block, "entry 0\n") {
		t.Errorf("cap kept the wrong entries")
	}
	if !strings.Contains(block, "older entries left out") {
		t.Errorf("capped block does not say entries were left out")
	}
	if _, b := SplitNote(JoinNote("n", block)); b != block {
		t.Errorf("capped block does not split back")
	}
}

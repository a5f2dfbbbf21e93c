package main

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/testenv"
)

// ackedWrite is a SaveContact the server answered rcSuccess.
type ackedWrite struct {
	GUID    string
	Version int
	Value   string
}

// feedEntry is one GetItemChangeIdentifiers entry as a client sees it.
type feedEntry struct {
	GUID    string
	Version int
	Removed bool
}

// feedWindow is what a reader polling the feed got for (Base, Target].
type feedWindow struct {
	Base, Target int64
	Entries      map[int64]feedEntry // by ChangeId
	Changed      []string            // GUIDs GetChangedItems listed for the window
}

// TestConcurrentWritersOnTwoNodes runs two real `crmsync serve` processes
// on one PostgreSQL. Several eWay API clients per node overwrite the same
// few contacts with ItemVersion checks (half with dieOnItemConflict, half
// merging over a stale version) while a reader
// on each node polls the change feed. Every acknowledged write must be in
// the feed exactly once and in order per contact, the last acknowledged
// value must be what both nodes return, and each poll must have seen every
// change of its window (a change committed late under an id the reader
// already passed is a gap the reader never goes back for).
func TestConcurrentWritersOnTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two server processes")
	}
	pg := testenv.Postgres(t)
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildCrmsync(t, dir)
	_, svc := openClusterCRM(t, ctx, pg)
	sys := crmsync.System(ctx)
	users := []string{"alice", "bob"}
	for _, name := range users {
		if _, err := svc.AddUser(sys, name, "pw", false); err != nil {
			t.Fatal(err)
		}
		if err := svc.AddToGroup(sys, name, "all"); err != nil {
			t.Fatal(err)
		}
	}
	var bases []string
	for _, name := range []string{"a", "b"} {
		_, addr := startNode(t, bin, pg, dir, name)
		bases = append(bases, <-addr)
	}

	const contacts, writersPerNode, attempts = 6, 4, 30
	var (
		mu        sync.Mutex
		acked     []ackedWrite
		conflicts int
	)
	ack := func(w ackedWrite) { mu.Lock(); acked = append(acked, w); mu.Unlock() }
	first := login(t, bases[0], "alice", "pw")
	var guids []string
	for i := range contacts {
		value := fmt.Sprintf("created-%d", i)
		e := api(t, bases[0], "SaveContact", map[string]any{"sessionId": first, "transmitObject": map[string]any{"LastName": value}})
		if e.ReturnCode != "rcSuccess" || e.ItemVersion != 1 {
			t.Fatalf("creating contact %d: %+v", i, e)
		}
		guids = append(guids, e.Guid)
		ack(ackedWrite{e.Guid, 1, value})
	}

	// Readers poll each node's feed while the writers run, and once more
	// after they stop.
	stop := make(chan struct{})
	windows := make([][]feedWindow, len(bases))
	var readers sync.WaitGroup
	for n, base := range bases {
		session := login(t, base, "alice", "pw")
		readers.Add(1)
		go func() {
			defer readers.Done()
			var from int64
			for done := false; !done; {
				select {
				case <-stop:
					done = true
				default:
				}
				w, err := pollFeed(base, session, from)
				if err != nil {
					t.Errorf("node %s: %v", base, err)
					return
				}
				if w.Target == from {
					time.Sleep(2 * time.Millisecond) // nothing new yet
					continue
				}
				windows[n] = append(windows[n], w)
				from = w.Target
			}
		}()
	}

	var writers sync.WaitGroup
	for n, base := range bases {
		for k := range writersPerNode {
			session := login(t, base, users[k%len(users)], "pw")
			writers.Add(1)
			go func() {
				defer writers.Done()
				rnd := rand.New(rand.NewPCG(uint64(n), uint64(k)))
				// Odd writers merge (no dieOnItemConflict): a stale version
				// is written over, and must still get a version of its own.
				merge := k%2 == 1
				known := map[string]int{}
				for _, g := range guids {
					known[g] = 1
				}
				for i := range attempts {
					g := guids[rnd.IntN(len(guids))]
					value := fmt.Sprintf("node%d-writer%d-%d", n, k, i)
					e, err := callAPI(base, "SaveContact", map[string]any{"sessionId": session, "dieOnItemConflict": !merge,
						"transmitObject": map[string]any{"ItemGUID": g, "ItemVersion": known[g] + 1, "LastName": value}})
					switch {
					case err != nil:
						t.Error(err)
						return
					case e.ReturnCode == "rcSuccess":
						if merge && e.ItemVersion <= known[g] || !merge && e.ItemVersion != known[g]+1 {
							t.Errorf("saving %s over version %d acknowledged version %d", g, known[g], e.ItemVersion)
						}
						known[g] = e.ItemVersion
						ack(ackedWrite{g, e.ItemVersion, value})
						continue
					case e.ReturnCode != "rcItemConflict":
						t.Errorf("SaveContact: %s %s", e.ReturnCode, e.Description)
						return
					}
					mu.Lock()
					conflicts++
					mu.Unlock()
					e, err = callAPI(base, "GetContactsByItemGuids", map[string]any{"sessionId": session, "itemGuids": []string{g}})
					if err != nil || e.ReturnCode != "rcSuccess" || len(e.Data) != 1 {
						t.Errorf("re-reading %s after a conflict: %v %+v", g, err, e)
						return
					}
					known[g] = int(e.Data[0]["ItemVersion"].(float64))
				}
			}()
		}
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Every change id read alone, from each node: the whole feed as the
	// user may see it, change by change.
	feeds := make([]map[int64]feedEntry, len(bases))
	var last int64
	for n, base := range bases {
		session := login(t, base, "alice", "pw")
		e := api(t, base, "GetLastItemChangeId", map[string]any{"sessionId": session})
		if n == 0 {
			last = int64(e.Datum.(float64))
		} else if got := int64(e.Datum.(float64)); got != last {
			t.Fatalf("node %d says the last change id is %d, node 0 %d", n, got, last)
		}
		feeds[n] = map[int64]feedEntry{}
		for id := int64(1); id <= last; id++ {
			w, err := readFeed(base, session, id-1, id)
			if err != nil {
				t.Fatal(err)
			}
			maps.Copy(feeds[n], w.Entries)
		}
	}
	if !reflect.DeepEqual(feeds[0], feeds[1]) {
		t.Fatalf("the nodes list different feeds:\n%v\n%v", feeds[0], feeds[1])
	}
	feed := feeds[0]

	// The feed is exactly the acknowledged writes, each once, in version
	// order per contact.
	byWrite := map[ackedWrite]int64{}
	for id, f := range feed {
		w := ackedWrite{GUID: f.GUID, Version: f.Version}
		if f.Removed {
			t.Errorf("change %d removes %s, which nobody deleted", id, f.GUID)
		}
		if prev, ok := byWrite[w]; ok {
			t.Errorf("changes %d and %d both list %s version %d", prev, id, f.GUID, f.Version)
		}
		byWrite[w] = id
	}
	perContact := map[string][]ackedWrite{}
	for _, w := range acked {
		perContact[w.GUID] = append(perContact[w.GUID], w)
		if _, ok := byWrite[ackedWrite{GUID: w.GUID, Version: w.Version}]; !ok {
			t.Errorf("acknowledged write %+v is not in the feed", w)
		}
	}
	if len(feed) != len(acked) {
		t.Errorf("the feed lists %d changes of contacts, %d writes were acknowledged", len(feed), len(acked))
	}
	for _, g := range guids {
		ws := perContact[g]
		slices.SortFunc(ws, func(a, b ackedWrite) int { return a.Version - b.Version })
		for i, w := range ws {
			if w.Version != i+1 {
				t.Fatalf("contact %s: acknowledged versions %v are not 1, 2, 3, …", g, ws)
			}
			if i > 0 && byWrite[ackedWrite{GUID: g, Version: w.Version}] < byWrite[ackedWrite{GUID: g, Version: w.Version - 1}] {
				t.Errorf("contact %s: version %d has an earlier change id than version %d", g, w.Version, w.Version-1)
			}
		}
		final := ws[len(ws)-1]
		for n, base := range bases {
			e := api(t, base, "GetContactsByItemGuids", map[string]any{"sessionId": login(t, base, "bob", "pw"), "itemGuids": []string{g}})
			if len(e.Data) != 1 || e.Data[0]["LastName"] != final.Value || int(e.Data[0]["ItemVersion"].(float64)) != final.Version {
				t.Errorf("node %d holds %s as %v, the last acknowledged write is %+v", n, g, e.Data, final)
			}
		}
	}

	// Each node's polls covered the feed without overlap, and each poll
	// saw all its window holds now: nothing committed behind its back.
	for n := range bases {
		var from int64
		polled := 0
		for _, w := range windows[n] {
			if w.Base != from {
				t.Fatalf("node %d: a poll read from %d, the previous one ended at %d", n, w.Base, from)
			}
			from = w.Target
			want := collapse(feed, w.Base, w.Target)
			if !reflect.DeepEqual(w.Entries, want) {
				t.Errorf("node %d: the poll of (%d, %d] saw %v, the window holds %v", n, w.Base, w.Target, w.Entries, want)
			}
			if got, want := slices.Sorted(slices.Values(w.Changed)), guidsOf(want); !slices.Equal(got, want) {
				t.Errorf("node %d: GetChangedItems for (%d, %d] listed %v, want %v", n, w.Base, w.Target, got, want)
			}
			polled += len(w.Entries)
		}
		if from != last {
			t.Errorf("node %d: the polls ended at change %d, the last is %d", n, from, last)
		}
		t.Logf("node %d: %d polls listed %d entries", n, len(windows[n]), polled)
	}
	t.Logf("%d writes acknowledged, %d conflicts refused, %d changes in the feed (last change id %d)", len(acked), conflicts, len(feed), last)
}

// pollFeed reads the feed from base to the last change id, as a client
// keeping a cursor does.
func pollFeed(base, session string, from int64) (feedWindow, error) {
	e, err := callAPI(base, "GetLastItemChangeId", map[string]any{"sessionId": session})
	if err != nil {
		return feedWindow{}, err
	}
	if e.ReturnCode != "rcSuccess" {
		return feedWindow{}, fmt.Errorf("GetLastItemChangeId: %s %s", e.ReturnCode, e.Description)
	}
	to := int64(e.Datum.(float64))
	if to == from {
		return feedWindow{Base: from, Target: to}, nil
	}
	return readFeed(base, session, from, to)
}

// readFeed reads the Contacts feed of (from, to] with both
// GetItemChangeIdentifiers and GetChangedItems.
func readFeed(base, session string, from, to int64) (feedWindow, error) {
	w := feedWindow{Base: from, Target: to, Entries: map[int64]feedEntry{}}
	window := map[string]any{"sessionId": session, "baseChangeId": from, "targetChangeId": to}
	e, err := callAPI(base, "GetItemChangeIdentifiers", with(window, "folderName", "Contacts"))
	if err != nil {
		return w, err
	}
	if e.ReturnCode != "rcSuccess" {
		return w, fmt.Errorf("GetItemChangeIdentifiers (%d, %d]: %s %s", from, to, e.ReturnCode, e.Description)
	}
	for _, c := range e.Data {
		id := int64(c["ChangeId"].(float64))
		if _, dup := w.Entries[id]; dup {
			return w, fmt.Errorf("GetItemChangeIdentifiers (%d, %d] lists change %d twice", from, to, id)
		}
		if id <= from || id > to {
			return w, fmt.Errorf("GetItemChangeIdentifiers (%d, %d] lists change %d", from, to, id)
		}
		w.Entries[id] = feedEntry{GUID: c["ItemGUID"].(string), Version: int(c["ItemVersion"].(float64)), Removed: c["IsRemoved"] == true}
	}
	e, err = callAPI(base, "GetChangedItems", with(window, "folderNames", []string{"Contacts"}))
	if err != nil {
		return w, err
	}
	if e.ReturnCode != "rcSuccess" || len(e.Data) != 1 {
		return w, fmt.Errorf("GetChangedItems (%d, %d]: %s %s %v", from, to, e.ReturnCode, e.Description, e.Data)
	}
	items, _ := e.Data[0]["ChangedItems"].([]any)
	for _, it := range items {
		w.Changed = append(w.Changed, it.(map[string]any)["ItemGUID"].(string))
	}
	return w, nil
}

func with(m map[string]any, k string, v any) map[string]any {
	out := maps.Clone(m)
	out[k] = v
	return out
}

// collapse is what GetItemChangeIdentifiers owes for (from, to] given the
// whole feed: each item's last change in the window.
func collapse(feed map[int64]feedEntry, from, to int64) map[int64]feedEntry {
	lastOf := map[string]int64{}
	for id, f := range feed {
		if id > from && id <= to && id > lastOf[f.GUID] {
			lastOf[f.GUID] = id
		}
	}
	out := map[int64]feedEntry{}
	for _, id := range lastOf {
		out[id] = feed[id]
	}
	return out
}

func guidsOf(entries map[int64]feedEntry) []string {
	var out []string
	for _, f := range entries {
		out = append(out, f.GUID)
	}
	slices.Sort(out)
	return out
}

package storetest

import (
	"strconv"
	"sync"
	"testing"

	"github.com/crmsync/crmsync"
)

// testNoLostUpdate: writers increment one counter field by read, then
// compare-and-set on the version (ECONFLICT: read again). A store that let
// two writers read the same version and both commit would lose increments.
func testNoLostUpdate(t *testing.T, open Open) {
	e := NewEnv(t, open)
	g := e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Counter", "Note", "0")}).GUID
	const writers, each = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				items, err := e.Svc.Items(e.Sys, crmsync.Contacts, []string{g})
				if err != nil {
					errs <- err
					return
				}
				n, _ := strconv.Atoi(items[0].Get("Note"))
				res, err := e.Svc.Save(e.Sys, crmsync.Contacts, []crmsync.Patch{{GUID: g, Version: items[0].Version + 1, Set: set("Note", strconv.Itoa(n+1))}},
					crmsync.SaveOptions{DieOnItemConflict: true})
				if err == nil && res[0].Err == nil {
					done++
					continue
				}
				if err == nil && crmsync.ErrorCode(res[0].Err) == crmsync.ECONFLICT {
					continue // another writer got there first: read again
				}
				if err == nil {
					err = res[0].Err
				}
				errs <- err
				return
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	it := e.Get(e.Sys, crmsync.Contacts, g)
	if got := it.Get("Note"); got != strconv.Itoa(writers*each) {
		t.Errorf("counter %s after %d acknowledged increments: updates were lost", got, writers*each)
	}
	if it.Version != 1+writers*each {
		t.Errorf("version %d, want %d", it.Version, 1+writers*each)
	}
}

// testFeedUnderConcurrentCommits: while writers create contacts (one
// change each), a reader follows the feed the way sync does, from the last
// id it saw up to LastChangeID. It must see every change exactly once with
// ids one after another: an id committed after a higher one was read
// would be skipped for good, and one read twice would be a duplicate.
func testFeedUnderConcurrentCommits(t *testing.T, open Open) {
	e := NewEnv(t, open)
	const writers, each = 4, 25
	base := e.Last()
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				patches := []crmsync.Patch{{Set: set("LastName", "W"+strconv.Itoa(w)+"-"+strconv.Itoa(i))}}
				if i%5 == 0 { // some batches commit several changes at once
					patches = append(patches, crmsync.Patch{Set: set("LastName", "W"+strconv.Itoa(w)+"-"+strconv.Itoa(i)+"b")})
				}
				res, err := e.Svc.Save(e.Sys, crmsync.Contacts, patches, crmsync.SaveOptions{})
				for _, r := range res {
					if err == nil {
						err = r.Err
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	seen := map[string]int64{}
	cursor := base
	var readErr error
	follow := func() {
		target, err := e.Svc.LastChangeID(e.Sys)
		if err != nil {
			readErr = err
			return
		}
		if target < cursor {
			t.Errorf("LastChangeID went back from %d to %d", cursor, target)
			return
		}
		changes, err := e.Svc.ChangeIdentifiers(e.Sys, crmsync.Contacts, cursor, target)
		if err != nil {
			readErr = err
			return
		}
		for _, c := range changes {
			if c.ID != cursor+1 {
				t.Errorf("feed read %d right after %d: a change was skipped or went back", c.ID, cursor)
			}
			if prev, dup := seen[c.GUID]; dup {
				t.Errorf("contact %s read twice, at %d and %d", c.GUID, prev, c.ID)
			}
			seen[c.GUID] = c.ID
			cursor = c.ID
		}
		if cursor != target {
			t.Errorf("feed up to %d ended at %d", target, cursor)
			cursor = target
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				follow() // one last read after every writer finished
				return
			default:
				follow()
			}
			if readErr != nil || t.Failed() {
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	want := writers * (each + each/5)
	if len(seen) != want {
		t.Errorf("reader saw %d contacts, %d were created", len(seen), want)
	}
}

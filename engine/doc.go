// Package engine keeps a CRM user's contacts and a remote address book (an
// Outlook contacts folder, a CardDAV book) in step, both ways (SPEC §2, §3).
//
// The engine sees two Replicas behind one small interface and a StateStore;
// it knows nothing of HTTP, SQL or vCard. A cycle:
//
//  1. Settles writes whose outcome a crash or a lost response hid (SPEC
//     S6): a create is looked up by the CRM GUID it carried, an own delete
//     is not taken for a user's, the values of an own update are not taken
//     for a user's edit.
//  2. Lists what changed on each side since its cursor (the CRM change
//     feed, Graph delta, CardDAV sync-collection). Only a complete listing
//     may imply deletes.
//  3. Joins the listings with the pairs (SPEC S1) and classifies each item:
//     new on one side, changed on one or both, deleted, left the set.
//  4. Merges every field three ways against the base (mergePair, SPEC S2):
//     a field changed on one side is copied; changed on both to the same
//     value is no conflict; otherwise the policy picks the winner and the
//     loser goes to an "Item conflict" journal. A remote value only counts
//     as changed if it differs from what the remote would store for the base
//     (Replica.Normalize), so a value cut to 256 characters (S3) never
//     comes back as an edit. The journal block (S4) is a pseudo-field the
//     CRM renders and the engine joins into, and splits off, the remote
//     note; edits to it are put back.
//  5. Plans deletes (an edit beats a delete; a contact leaving the set is
//     removed remotely only), duplicates (M13) and creates, and stops before
//     deleting more than 20% of a side (S5).
//  6. Applies the plan in batches with conditional writes. Creates and
//     remote deletes and updates are recorded as pending first; each
//     batch's outcome is committed in one transaction, in order, while
//     the next batch's remote writes are already under way (a remote that
//     bounds its own requests never waits on a commit). A failed item is
//     skipped (S8); a transient failure keeps the cursors where they were,
//     so the next cycle lists the same changes again.
//  7. Commits the cursors taken from the listings, and runs again at once
//     while it wrote something, so its own writes come back as echoes
//     (dropped by version) rather than later, mixed with users' edits —
//     and so that the remote's cursor moves past the contacts it created:
//     a delta cursor from before a create may never report that
//     contact's deletion (the in-memory mailbox does not). That next
//     listing starts after the first batch of writes and is extended,
//     from where it ended, after later ones, so the echoes of a large
//     first sync are mostly listed while it still writes.
//
// A Runner repeats cycles on CRM changes and on a poll interval (M12); a
// CRMReplica is the CRM side, over the CRM service with the user's rights.
package engine

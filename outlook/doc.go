// Package outlook is the Outlook side of crmsync: the Graph v1.0 contact
// resource (Contact), the exact SPEC M9 mapping between a contact and the
// CRM's field names (ToRecordFields, ApplyFields), the 256-character rule
// (Normalize, SPEC S3), and Mailbox, an in-memory (optionally
// SQLite-backed) model of one Outlook mailbox's contact folders that
// enforces Graph's documented limits and delta semantics.
//
// There is one Outlook model, not two: the engine's tests use it in-process
// through NewReplica, and the Graph sandbox (graph/sandbox) serves the very
// same Mailbox over HTTP.
package outlook

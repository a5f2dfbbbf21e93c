// Package crmsync holds the domain of the crmsync CRM: items (contacts,
// companies, journals), users and their rights, the change feed and settings.
// It has no dependencies on storage or protocols; the adapters in the
// sub-packages (sqlite, ewayapi, engine, graph, vcard, carddav) implement or
// use the types and interfaces declared here.
package crmsync

package crmsync

// AdditionalField defines one of eWay's additional fields af_N of a
// folder, as GetAdditionalFields lists them. Any af_N value is kept
// whether or not it is defined (see LookupField); a definition names it
// for clients.
type AdditionalField struct {
	Folder  Folder
	FieldID int    // N of af_N, 1 to 999999
	Name    string // the label clients show
	Type    int    // eWay's field type number, kept as the client gave it
	Rank    int
	Comment string
}

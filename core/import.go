package core

// ImportItem is one lead read from an import file: the lead, or why its
// line could not be read (Err), and where it was (Line, for the report).
type ImportItem struct {
	Line int
	Lead NewLead
	Err  error
}

// ImportRefusal is a lead an import left out, and why.
type ImportRefusal struct {
	Line int
	Err  error
}

// ImportReport is what an import did.
type ImportReport struct {
	Imported int
	Refused  int
	// Refusals lists the first MaxImportRefusals refused leads.
	Refusals []ImportRefusal
	// Rebuilt is true when the import dropped indexes and built them again.
	Rebuilt bool
}

// MaxImportRefusals bounds the refusals an import report lists one by one.
const MaxImportRefusals = 100
